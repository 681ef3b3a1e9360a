"""``flask backup …``: back up and restore the database."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from billing.kernel.errors import DomainError


@click.group("backup", cls=AppGroup)
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
