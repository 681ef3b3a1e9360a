"""Portal test fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture
def outbox(monkeypatch):
    """The e-mails the portal hands to the mail job, instead of queueing them."""
    sent = []

    def capture(message):
        sent.append(message)
        return True

    for module in ("portal.account", "portal.team"):
        monkeypatch.setattr(f"{module}.send", capture)
    return sent
