"""``flask secrets …``: the stored secrets, re-encrypted with a new key."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from billing.kernel.errors import DomainError


@click.group("secrets", cls=AppGroup)
def secrets_group():
    """Stored secrets (SMTP password, Stripe secret key and webhook secret)."""


@secrets_group.command("rotate")
def rotate():
    """Re-encrypt every stored secret with the first key of ENCRYPTION_KEYS."""
    from billing.kernel.secrets import rotate_all

    try:
        report = rotate_all(current_app.config["CLOCK"])
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(
        f"Re-encrypted {report.rotated} secret(s) with the first key; "
        f"{report.current} already used it; {len(report.absent)} not stored."
    )
