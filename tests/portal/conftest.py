"""Portal test fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture
def outbox(monkeypatch):
    """The e-mails the portal hands to the mail job, instead of queueing them; the job of a
    forgotten-password request runs at once, as a worker would run it."""
    from jobs.accounts import password_reset

    sent = []

    def capture(message):
        sent.append(message)
        return True

    def run_now(email, ip, public_url):
        password_reset(email, ip, public_url)
        return True

    for module in ("portal.team", "jobs.accounts"):
        monkeypatch.setattr(f"{module}.send", capture)
    monkeypatch.setattr("portal.account.queue_password_reset", run_now)
    return sent
