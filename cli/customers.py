"""``flask customers …``: customer maintenance."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup


@click.group("customers", cls=AppGroup)
def customers_group():
    """Customer maintenance."""


@customers_group.command("erase-pending")
def erase_pending():
    """Queue the erasure of every customer marked for deletion but not yet erased."""
    from billing.customers.deletion import deletion_notice, pending_erasures, request_erasure
    from jobs.customers import queue_erasure

    clock = current_app.config["CLOCK"]
    pending = pending_erasures()
    for customer_id in pending:
        request_erasure(customer_id, deletion_notice(customer_id, ""), clock)
        queue_erasure(customer_id)
    click.echo(f"Queued {len(pending)} erasure(s).")
