"""Billing jobs: scheduled changes, runtime ends and project-key expiry notices."""

from __future__ import annotations

from flask import current_app

from billing.changes import apply_due_changes
from billing.project_keys import expiry_notices
from billing.staff import staff_recipients

from . import job
from .mail import send


@job
def apply_changes() -> dict:
    report = apply_due_changes(current_app.config["CLOCK"])
    return {"applied": report.applied, "expired": report.expired}


@job
def notify_expiring_keys() -> int:
    """E-mail admin and billing staff about key subscriptions ending within 30 days (once)."""
    messages = expiry_notices(staff_recipients(), current_app.config["CLOCK"])
    for message in messages:
        send(message)
    return len(messages)
