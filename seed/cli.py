"""``flask seed …`` commands."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import AppGroup

from .bulk import bulk_customers
from .demo import count_customers, seed_demo
from .reference import seed_reference

seed_group = AppGroup("seed", help="Demo and reference data.")


@seed_group.command("demo")
@click.option(
    "--customers",
    type=click.IntRange(min=0, max=10_000_000),
    default=0,
    help="Also add this many generated customers (bulk path, for scale tests).",
)
def demo_command(customers: int) -> None:
    """Create the demo data set (idempotent) and print the demo logins."""
    clock = current_app.config["CLOCK"]
    result = seed_demo(clock)
    click.echo(f"Demo customers created: {result['created']} (total {count_customers():,}).")
    if customers:
        started = time.perf_counter()
        added = bulk_customers(customers, clock)
        click.echo(f"Bulk customers added: {added:,} in {time.perf_counter() - started:.1f} s.")
    click.echo("Demo logins (staff, at /admin):")
    for email, role, password in result["staff"]:
        click.echo(f"  {role:<8} {email:<24} {password}")
    click.echo(f"Customer portal users share the password {result['customer_password']}")


@seed_group.command("reference")
def reference_command() -> None:
    """Price tiers and payment methods only (for a production start)."""
    seed_reference(current_app.config["CLOCK"])
    click.echo("Reference data is in place.")
