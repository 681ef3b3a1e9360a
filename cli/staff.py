"""``flask staff …``: staff accounts, and the permission table with the routes it opens."""

from __future__ import annotations

import secrets

import click
from flask import current_app
from flask.cli import AppGroup

from admin_views.access import permissions_markdown
from billing.access.staff import create_staff, set_staff_active, set_staff_password
from billing.kernel.errors import DomainError
from models import StaffRole

password_option = click.option(
    "--password",
    envvar="STAFF_PASSWORD",
    default=None,
    help="Defaults to a generated password that is printed once.",
)


@click.group("staff", cls=AppGroup)
def staff_group():
    """Staff accounts."""


@staff_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(StaffRole.codes()), required=True)
@click.option("--name", default="")
@password_option
def create(email: str, role: str, name: str, password: str | None):
    """Create a staff account with ROLE (admin, billing, support)."""
    _with_password(
        password,
        lambda chosen: create_staff(email, role, chosen, current_app.config["CLOCK"], name=name),
        lambda staff: f"Created {staff.email} with role {staff.role}.",
    )


@staff_group.command("set-password")
@click.argument("email")
@password_option
def set_password(email: str, password: str | None):
    """Give a staff member a new password; their sessions end."""
    _with_password(
        password,
        lambda chosen: set_staff_password(email, chosen, current_app.config["CLOCK"]),
        lambda staff: f"New password set for {staff.email}; their sessions have ended.",
    )


@staff_group.command("permissions")
def permissions():
    """Print the permission table and the routes each permission opens (Markdown, as in
    docs/permissions.md)."""
    click.echo(permissions_markdown(current_app), nl=False)


@staff_group.command("disable")
@click.argument("email")
def disable(email: str):
    """Disable a staff account; its sessions end at once."""
    _set_active(email, False)


@staff_group.command("enable")
@click.argument("email")
def enable(email: str):
    """Enable a disabled staff account again."""
    _set_active(email, True)


def _with_password(password: str | None, apply, done) -> None:
    """Run ``apply(password)`` with the given or a generated password (printed once)."""
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        staff = apply(password)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(done(staff))
    if generated:
        click.echo(f"Password: {password}")


def _set_active(email: str, active: bool) -> None:
    try:
        staff = set_staff_active(email, active, current_app.config["CLOCK"])
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"{staff.email} is {'enabled' if active else 'disabled'}.")
