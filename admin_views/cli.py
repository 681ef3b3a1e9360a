"""``flask staff …`` commands."""

from __future__ import annotations

import secrets

import click
from flask import Flask, current_app

from billing.errors import DomainError
from billing.staff import create_staff
from models import StaffRole


def register_cli(app: Flask) -> None:
    register_customer_cli(app)

    @app.cli.group("staff")
    def staff_group():
        """Staff accounts."""

    @staff_group.command("create")
    @click.argument("email")
    @click.option("--role", type=click.Choice(StaffRole.codes()), required=True)
    @click.option("--name", default="")
    @click.option(
        "--password",
        envvar="STAFF_PASSWORD",
        default=None,
        help="Defaults to a generated password that is printed once.",
    )
    def create(email: str, role: str, name: str, password: str | None):
        """Create a staff account with ROLE (admin, billing, support)."""
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        try:
            staff = create_staff(email, role, password, current_app.config["CLOCK"], name=name)
        except DomainError as error:
            raise click.ClickException(error.message) from None
        click.echo(f"Created {staff.email} with role {staff.role}.")
        if generated:
            click.echo(f"Password: {password}")


def register_customer_cli(app: Flask) -> None:
    @app.cli.group("customers")
    def customers_group():
        """Customer maintenance."""

    @customers_group.command("erase-pending")
    def erase_pending():
        """Queue the erasure of every customer marked for deletion but not yet erased."""
        from billing.deletion import deletion_notice, request_erasure
        from jobs.customers import queue_erasure
        from models import Customer, db

        clock = current_app.config["CLOCK"]
        pending = db.session.scalars(
            db.select(Customer.id).where(
                Customer.marked_for_deletion_at.is_not(None), Customer.erased_at.is_(None)
            )
        ).all()
        for customer_id in pending:
            request_erasure(customer_id, deletion_notice(customer_id, ""), clock)
            queue_erasure(customer_id)
        click.echo(f"Queued {len(pending)} erasure(s).")
