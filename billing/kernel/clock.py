"""The one injectable clock all billing code takes its time from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

TimeSource = Callable[[], datetime]


class Clock:
    """Aware UTC instants from ``source`` and dates in the MSP's time zone.

    Billing code never reads the system time itself: the app factory hands the running clock
    its source (``app.system_clock``); tests and month-end rehearsals use ``FixedClock``."""

    def __init__(self, timezone: str = "Europe/Berlin", source: TimeSource | None = None) -> None:
        self.tz = ZoneInfo(timezone)
        self.source = source

    def now(self) -> datetime:
        if self.source is None:
            raise RuntimeError("This clock has no time source; the app factory gives it one.")
        return self.source().astimezone(UTC)

    def today(self) -> date:
        """Today's date in the MSP's time zone (the booking-month calendar)."""
        return self.now().astimezone(self.tz).date()


@dataclass
class FixedClock(Clock):
    """A clock frozen at ``instant``; used by tests and month-end rehearsals."""

    instant: datetime
    timezone: str = "Europe/Berlin"

    def __post_init__(self) -> None:
        if self.instant.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.tz = ZoneInfo(self.timezone)

    def now(self) -> datetime:
        return self.instant.astimezone(UTC)


def clock_as_of(clock: Clock, moment: datetime | None) -> Clock:
    """``clock`` frozen at ``moment`` (in ``clock``'s time zone), or ``clock`` itself when no
    moment is given. Work done as of a given moment (a month-end run started with ``--now``, and
    the e-mail jobs it queues) reads that moment in whichever process does it."""
    return clock if moment is None else FixedClock(moment, str(clock.tz))


# Leases and claims between workers (a month-end run, an erasure, an invoice e-mail, a card
# charge) are measured on this clock, not on the business clock a run is given: a rehearsal's
# clock stands still, and a lease measured on it would never run out. The app factory sets it
# (``use_worker_clock``) to the system time; tests may replace it.
WORKER_CLOCK: Clock = Clock()


def use_worker_clock(clock: Clock) -> None:
    """Measure leases and claims between workers on ``clock`` from now on."""
    global WORKER_CLOCK
    WORKER_CLOCK = clock


def lease_now() -> datetime:
    """Now, for leases and claims between workers (see ``WORKER_CLOCK``)."""
    return WORKER_CLOCK.now()


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def shift_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's last day (31 Jan + 1 → 28/29 Feb)."""
    import calendar

    first = add_months(day, months)
    last_day = calendar.monthrange(first.year, first.month)[1]
    return first.replace(day=min(day.day, last_day))
