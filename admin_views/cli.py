"""``flask staff …``, ``flask customers …``, ``flask secrets …`` and ``flask backup …``."""

from __future__ import annotations

import secrets
from pathlib import Path

import click
from flask import Flask, current_app

from billing.access.staff import create_staff, set_staff_active, set_staff_password
from billing.kernel.errors import DomainError
from models import StaffRole

from .access import permissions_markdown

password_option = click.option(
    "--password",
    envvar="STAFF_PASSWORD",
    default=None,
    help="Defaults to a generated password that is printed once.",
)


def register_cli(app: Flask) -> None:
    register_customer_cli(app)
    register_secrets_cli(app)
    register_backup_cli(app)

    @app.cli.group("staff")
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
            lambda chosen: create_staff(
                email, role, chosen, current_app.config["CLOCK"], name=name
            ),
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


def register_customer_cli(app: Flask) -> None:
    @app.cli.group("customers")
    def customers_group():
        """Customer maintenance."""

    @customers_group.command("erase-pending")
    def erase_pending():
        """Queue the erasure of every customer marked for deletion but not yet erased."""
        from billing.customers.deletion import deletion_notice, request_erasure
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


def register_secrets_cli(app: Flask) -> None:
    @app.cli.group("secrets")
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


def register_backup_cli(app: Flask) -> None:
    @app.cli.group("backup")
    def backup_group():
        """Back up and restore the database."""

    @backup_group.command("create")
    @click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The file to write (default: instance/backups/msp-<timestamp>.dump or .sqlite).",
    )
    def create_backup(output: Path | None):
        """Write a backup: pg_dump custom format (PostgreSQL) or an online copy (SQLite)."""
        from billing.infra.backup import create_backup as create

        try:
            backup = create(output, current_app.config["CLOCK"])
        except DomainError as error:
            raise click.ClickException(error.message) from None
        click.echo(f"Wrote the {backup.backend} backup {backup.path} ({backup.size} bytes).")

    @backup_group.command("restore")
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--yes", is_flag=True, help="Do not ask before overwriting the database.")
    def restore_backup(path: Path, yes: bool):
        """Replace the configured database with the backup at PATH (stop web and workers first)."""
        from billing.infra.backup import check_backup, target_label
        from billing.infra.backup import restore_backup as restore

        try:
            check_backup(path)
            if not yes:
                click.confirm(f"Overwrite every table of {target_label()} with {path}?", abort=True)
            backup = restore(path, current_app.config["CLOCK"])
        except DomainError as error:
            raise click.ClickException(error.message) from None
        click.echo(f"Restored {target_label()} from {backup.path}.")
