"""Housekeeping jobs."""

from __future__ import annotations

from flask import current_app

from billing.kernel.settings import set_setting

from . import job


@job
def heartbeat(token: str) -> str:
    """Record that a worker ran a job; proves the queue path end to end."""
    set_setting("worker.heartbeat", token, current_app.config["CLOCK"])
    return token
