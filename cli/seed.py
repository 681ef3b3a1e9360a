"""``flask seed …``: demo and reference data."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import AppGroup
from redis.exceptions import RedisError

from billing.kernel.errors import DomainError
from billing.kernel.site import Site
from jobs import redis_connection
from jobs.billing import month_end_hooks
from seed.bulk import bulk_customers
from seed.demo import count_customers, seed_demo
from seed.demo_cards import DemoStripe
from seed.reference import seed_reference

seed_group = AppGroup("seed", help="Demo and reference data.")


@seed_group.command("demo")
@click.option(
    "--customers",
    type=click.IntRange(min=0, max=10_000_000),
    default=0,
    help="Also add this many generated customers (bulk path, for scale tests).",
)
@click.option("--stripe-secret-key", help="Card payment: the secret key of a Stripe test account.")
@click.option("--stripe-publishable-key", help="Card payment: its publishable key.")
@click.option("--stripe-webhook-secret", help="Card payment: its webhook signing secret.")
@click.option(
    "--send-mail",
    is_flag=True,
    help="E-mail the month that just ended (its invoices and a failed card payment's notice) "
    "through the job queue, as a month-end run does; the worker delivers them.",
)
def demo_command(
    customers: int,
    stripe_secret_key: str | None,
    stripe_publishable_key: str | None,
    stripe_webhook_secret: str | None,
    send_mail: bool,
) -> None:
    """Create the demo data set (idempotent) and print the demo logins. With the three Stripe
    options (`make run` gives those of its local Stripe), card payment is set up too: keys,
    saved cards, and the open card invoices charged."""
    keys = (stripe_secret_key, stripe_publishable_key, stripe_webhook_secret)
    if any(keys) and not all(keys):
        raise click.UsageError("Give all three Stripe options, or none.")
    clock = current_app.config["CLOCK"]
    mail = None
    if send_mail:
        _job_queue_answers()
        mail = month_end_hooks()
    try:
        stripe = DemoStripe(*keys) if all(keys) else None
        result = seed_demo(clock, stripe, Site.of(current_app.config), mail)
    except DomainError as error:
        raise click.ClickException(f"Card payment could not be set up: {error.message}") from None
    click.echo(f"Demo customers created: {result['created']} (total {count_customers():,}).")
    cards = result["cards"]
    if cards is not None:
        server = current_app.config["STRIPE_API_BASE"] or "Stripe"
        click.echo(
            f"Card payment is active ({server}): {cards.cards_saved} cards saved, "
            f"{cards.invoices_paid} invoices paid by card."
        )
        if cards.declined_logins:
            click.echo(
                "  A declined card payment, to update the card and retry in the portal: "
                + ", ".join(cards.declined_logins)
            )
        if cards.trial_logins:
            click.echo(
                "  Free trials, to move to a paid plan with a card in the portal: "
                + ", ".join(cards.trial_logins)
            )
    if customers:
        started = time.perf_counter()
        added = bulk_customers(customers, clock)
        click.echo(f"Bulk customers added: {added:,} in {time.perf_counter() - started:.1f} s.")
    click.echo("Demo logins (staff, at /admin):")
    for email, role, password in result["staff"]:
        click.echo(f"  {role:<8} {email:<24} {password}")
    click.echo(f"Customer portal users share the password {result['customer_password']}")


def _job_queue_answers() -> None:
    """The e-mails go through the job queue: refuse before seeding when it does not answer."""
    try:
        redis_connection(current_app.config["REDIS_URL"]).ping()
    except RedisError:
        raise click.ClickException(
            "--send-mail needs the job queue (Redis at REDIS_URL), which does not answer."
        ) from None


@seed_group.command("reference")
def reference_command() -> None:
    """Price tiers and payment methods only (for a production start)."""
    seed_reference(current_app.config["CLOCK"])
    click.echo("Reference data is in place.")
