"""How many e-mails with a link the product sends to one address and for one account
(SPEC §13): invitations (a customer's invite from staff, team invites, their resends),
registration e-mails and password-reset links.

Every function that composes such an e-mail calls ``spend`` first, before it changes anything,
so a refused request changes nothing and tells the user how long to wait. The budget of an
address is counted whatever the address is (known or not, whichever customer invites it), so a
refusal tells nothing about accounts. The counts live where the sign-in throttle counts: in the
storage of the app's Flask-Limiter, through the app's ``rate_windows`` (``extensions.RateWindows``:
the windows run on the storage's time, so the infrastructure reads it and hands over whole
seconds).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import current_app
from limits import parse_many

from billing.kernel.audit import Actor
from billing.kernel.errors import DomainError
from billing.kernel.i18n import ngettext
from models import ActorType


@dataclass(frozen=True)
class Budget:
    """One kind of e-mail: how many may go to one address and be asked for by one account
    (``per_account`` empty: anonymous requests, limited per client IP by the portal)."""

    name: str
    per_address: str
    per_account: str = ""


INVITATION = Budget("invitation", "3 per hour;10 per day", "30 per hour;100 per day")
REGISTRATION = Budget("registration", "3 per hour;10 per day")
PASSWORD_RESET = Budget("password_reset", "3 per hour;10 per day")


class TooManyMails(DomainError):
    """A budget is used up; ``minutes`` until it has room again."""

    def __init__(self, message: str, minutes: int, field: str | None = None) -> None:
        super().__init__(message, field)
        self.minutes = minutes


def account_of(actor: Actor, customer_id: int | None = None) -> str | None:
    """The account whose budget an actor spends: a customer user spends the customer's (one
    for the whole team), staff their own; the system (jobs, CLI, seed) is not limited."""
    if actor.type == ActorType.USER:
        return f"customer:{customer_id}"
    if actor.type == ActorType.STAFF:
        return f"staff:{actor.id}"
    return None


def _seconds_until_room(item, identifiers: tuple[str, ...]) -> int | None:
    """None when one more e-mail fits into ``item`` (and count it), else the seconds left."""
    return current_app.extensions["rate_windows"].seconds_until_room(item, identifiers)


def _refusal(budget: Budget, scope: str, minutes: int) -> str:
    if scope == "account":
        return ngettext(
            "Too many invitations from this account. Please try again in %(num)d minute.",
            "Too many invitations from this account. Please try again in %(num)d minutes.",
            minutes,
        )
    if budget is INVITATION:
        return ngettext(
            "Too many invitations to this address. Please try again in %(num)d minute.",
            "Too many invitations to this address. Please try again in %(num)d minutes.",
            minutes,
        )
    return ngettext(
        "Too many e-mails to this address. Please try again in %(num)d minute.",
        "Too many e-mails to this address. Please try again in %(num)d minutes.",
        minutes,
    )


def spend(
    budget: Budget, address: str, account: str | None = None, field: str | None = None
) -> None:
    """Count one e-mail of ``budget`` to ``address`` (any spelling), asked for by ``account``
    (see ``account_of``). Raises TooManyMails (on ``field`` when the address's budget is used
    up) with the minutes to wait; a refused e-mail counts too."""
    # the counters live in the app's rate-limit storage (Flask-Limiter's, see ``_limiter``),
    # under the app's key prefix
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "")
    digest = hashlib.sha256((address or "").strip().lower().encode()).hexdigest()
    checks = [("address", budget.per_address, digest)]
    if account and budget.per_account:
        checks.append(("account", budget.per_account, account))
    for scope, limits, key in checks:
        for item in parse_many(limits):
            seconds = _seconds_until_room(item, (prefix, "mail", budget.name, scope, key))
            if seconds is not None:
                minutes = max(1, -(-seconds // 60))
                raise TooManyMails(
                    _refusal(budget, scope, minutes),
                    minutes,
                    field if scope == "address" else None,
                )
