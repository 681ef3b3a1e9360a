"""An additional subscription's terms and billable days (SPEC §11): its input checked, where its
terms end, its monthly price on the customer's price basis, and the days of a month it is
billed for."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from billing.catalog.pricing import load_tiers, monthly_price
from billing.kernel.clock import shift_months
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _

TERMS = (1, 12, 24, 36)


NAME_LENGTH = 100


MAX_IPS = 1_000_000


@dataclass(frozen=True)
class ServiceInput:
    """A new additional subscription as entered (already parsed)."""

    name: str
    internal_ips: int
    external_ips: int
    term_months: int
    auto_renew: bool = True


def parse_input(name, internal, external, term, auto_renew) -> ServiceInput:
    """Validate form input: a name (required, at most 100 characters), whole IP counts ≥ 0
    with a total ≥ 1, a term of 1, 12, 24 or 36 months. DomainError names the field."""
    name = " ".join(str(name or "").split())
    if not name:
        raise DomainError(_("Please give the subscription a name."), field="name")
    if len(name) > NAME_LENGTH:
        raise DomainError(
            _("The name can have at most %(n)d characters.", n=NAME_LENGTH), field="name"
        )
    try:
        internal_n, external_n = (int(str(v).strip()) for v in (internal, external))
    except (TypeError, ValueError):
        raise DomainError(_("IP counts must be whole numbers."), field="internal_ips") from None
    if internal_n < 0 or external_n < 0:
        raise DomainError(_("IP counts cannot be negative."), field="internal_ips")
    if internal_n + external_n < 1:
        raise DomainError(_("The total number of IPs must be at least 1."), field="internal_ips")
    if internal_n + external_n > MAX_IPS:
        raise DomainError(_("At most 1,000,000 IPs per customer."), field="internal_ips")
    try:
        term_n = int(str(term).strip())
    except (TypeError, ValueError):
        term_n = 0
    if term_n not in TERMS:
        raise DomainError(_("Please choose a term of 1, 12, 24 or 36 months."), field="term_months")
    return ServiceInput(name, internal_n, external_n, term_n, bool(auto_renew))


def first_term_end(started_on: date, term_months: int) -> date:
    """The last day of the first term: one term after the start, less a day."""
    return shift_months(started_on, term_months) - timedelta(days=1)


def next_term_end(started_on: date, term_end: date, term_months: int) -> date:
    """The last day of the term after the one ending ``term_end`` (counted from the start, so
    short months do not make the terms drift)."""
    following = term_end + timedelta(days=1)
    elapsed = (following.year - started_on.year) * 12 + following.month - started_on.month
    return shift_months(started_on, elapsed + term_months) - timedelta(days=1)


def service_price(total_ips: int, unit_price: Decimal | None, tiers=None) -> Decimal:
    """Net monthly price of an additional subscription on the customer's price basis."""
    if unit_price is not None:
        return monthly_price(total_ips, (), unit_price)
    return monthly_price(total_ips, tiers if tiers is not None else load_tiers())


def billed_days(
    started_on: date,
    last_day: date | None,
    suspensions: Iterable[tuple[date, date | None]],
    period: date,
) -> tuple[int, int]:
    """Days of the month starting ``period`` on which a subscription is billed, and the days
    of that month: from its start (or the 1st) to its last day (or the month's end), less
    the days it was suspended (each suspension from/until inclusive, open ones to the end)."""
    month_days = calendar.monthrange(period.year, period.month)[1]
    month_last = period.replace(day=month_days)
    start = max(started_on, period)
    end = min(last_day or month_last, month_last)
    if end < start:
        return 0, month_days
    days = (end - start).days + 1
    for suspended_from, suspended_until in suspensions:
        low = max(suspended_from, start)
        high = min(suspended_until or end, end)
        if high >= low:
            days -= (high - low).days + 1
    return max(days, 0), month_days


def last_billed_day(sub) -> date | None:
    """The last day of service: the end date, or the term's end when it will not renew."""
    if sub.ended_on is not None:
        return sub.ended_on
    return None if sub.auto_renew else sub.term_end
