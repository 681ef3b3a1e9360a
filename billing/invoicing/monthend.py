"""The month-end run (SPEC §8): apply changes, expire runtimes, renew or end additional
subscriptions whose term is over, draft, review, finalize, charge, e-mail — restartable at every
step. This module starts, resumes and approves runs and says what a run is doing; the worker
side is ``monthend_work``, the run's invoices and report ``monthend_report``.

One ``BillingRun`` row per booking month is the guard against two runs (its period is unique).
Work happens in batches whose results are committed together with the run's checkpoint, so a
worker killed at any moment leaves either a whole batch or none of it; a new worker takes the
run over once the dead one's lease has run out and continues after the last committed batch.
Leases are measured on the real clock; every business date comes from the injected clock.

A run works on its own invoices only (``monthend_report.run_invoices``): the drafts it made, and
drafts of its month that no run owned when it drafted. Finalizing numbers, charges and e-mails
those; the confirmation, the counts and the report are taken from the same query. An invoice of
the month that was finalized outside the run is counted as skipped and never touched.

A run can be started as of a given moment (``as_of``: a rehearsal, or catching up on a month
whose run was missed): then every step it takes — applying the changes, drafting, finalizing,
charging, the e-mails and their due dates — happens at that moment, in the command that started
it or in any worker that takes it over (``run_clock``). The run's own record (when it was
started, approved and finished, its audit events) stays on the running clock.

A run waiting for a worker is *queued* (no lease owner yet); one whose worker stopped renewing
its lease is *stalled* (``activity``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.exc import IntegrityError

from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock, add_months, clock_as_of, lease_now
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _, moment_text
from billing.kernel.settings import get_setting, set_setting
from models import BillingRun, RunState, db

# how long a queued run may wait for a worker before its job counts as lost and is queued again
QUEUE_TIMEOUT = timedelta(minutes=15)


AUTO_FINALIZE_KEY = "billing.auto_finalize"


PERIOD_FORMAT = re.compile(r"^(\d{4})-(\d{2})$")


ACTIVE_STATES = (RunState.DRAFTING.value, RunState.FINALIZING.value)


def parse_period(text: str | None) -> date:
    """``YYYY-MM`` as the first day of that month; DomainError for anything else."""
    match = PERIOD_FORMAT.match((text or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise DomainError(
            _("Please give the month as YYYY-MM, for example 2026-10."), field="period"
        )
    return date(int(match.group(1)), int(match.group(2)), 1)


def last_closed_period(clock: Clock) -> date:
    return add_months(clock.today(), -1)


def auto_finalize_enabled() -> bool:
    return get_setting(AUTO_FINALIZE_KEY, "0") == "1"


def set_auto_finalize(enabled: bool, actor: Actor, clock: Clock) -> None:
    """The setting: finalize right after drafting instead of waiting for a review."""
    before = auto_finalize_enabled()
    audit.record(
        actor,
        "billing.auto_finalize",
        clock,
        before={"enabled": before},
        after={"enabled": enabled},
    )
    set_setting(AUTO_FINALIZE_KEY, "1" if enabled else "0", clock)


def get_run(run_id: int) -> BillingRun:
    run = db.session.get(BillingRun, run_id)
    if run is None:
        raise NotFound(_("This billing run does not exist."))
    return run


def run_clock(run: BillingRun, clock: Clock) -> Clock:
    """The clock ``run``'s steps take their business time from: frozen at the moment the run
    was started as of, else the running ``clock``."""
    return clock_as_of(clock, run.as_of)


def shown_moment(run: BillingRun) -> datetime | None:
    """The moment ``run`` is run as of, when that is not the minute it was started (a
    rehearsal or a catch-up); None for a run on the running clock."""
    if run.as_of is None:
        return None
    minute = {"second": 0, "microsecond": 0}
    if run.as_of.astimezone(UTC).replace(**minute) == run.started_at.astimezone(UTC).replace(
        **minute
    ):
        return None
    return run.as_of


def _moment(run: BillingRun) -> dict:
    """The run's moment for its audit events."""
    return {"as_of": run.as_of.astimezone(UTC).isoformat()} if run.as_of else {}


QUEUED, WORKING, STALLED = "queued", "working", "stalled"


def _lease_over(run: BillingRun) -> bool:
    lease = run.lease_until
    return lease is None or lease.astimezone(UTC) < lease_now()


def activity(run: BillingRun) -> str | None:
    """What an active run is doing: ``queued`` (no worker has taken it since it was started,
    approved or continued), ``working`` (a worker holds its lease) or ``stalled`` (the worker
    that took it stopped renewing its lease: it died, was killed or lost its database or
    queue). None for a run that waits for approval, is done or failed."""
    if run.state not in ACTIVE_STATES:
        return None
    if not run.lease_owner:
        return QUEUED
    return STALLED if _lease_over(run) else WORKING


def is_stalled(run: BillingRun) -> bool:
    """A worker took the run and stopped renewing its lease."""
    return activity(run) == STALLED


def _queue(run: BillingRun) -> None:
    """The run waits for a worker; its job counts as lost after ``QUEUE_TIMEOUT``."""
    run.lease_owner = ""
    run.lease_until = lease_now() + QUEUE_TIMEOUT


class RunDone(DomainError):
    """The month's run is done: there is nothing left to do (not a failure)."""

    def __init__(self, run: BillingRun) -> None:
        super().__init__(
            _(
                "The billing run for %(month)s is done already: nothing is left to do. "
                "A finalized invoice is corrected with a credit note (Billing → Invoices).",
                month=f"{run.period:%m/%Y}",
            )
        )
        self.run_id = run.id


@dataclass(frozen=True)
class Started:
    run_id: int
    resumed: bool


def start_run(
    period: date,
    actor: Actor,
    clock: Clock,
    *,
    auto_finalize: bool | None = None,
    as_of: datetime | None = None,
) -> Started:
    """Create the run for ``period`` (a closed booking month), or resume a failed or stalled
    one, or queue a queued one again (its job may have been lost); the caller queues it.
    ``as_of`` (an aware moment) runs a new run as of that moment instead of ``clock``'s time
    (``run_clock``); a run that exists continues at the moment it was started as of.

    Raises RunDone when the month's run is done, DomainError when the month has not ended (at
    ``as_of``), its run is awaiting approval or held by a live worker, or ``as_of`` is not the
    moment the existing run is run as of; the caller then queues nothing.
    """
    period = period.replace(day=1)
    run = db.session.scalar(db.select(BillingRun).where(BillingRun.period == period))
    if run is not None:
        return _resume(run, actor, clock, as_of)
    if period > last_closed_period(clock_as_of(clock, as_of)):
        raise DomainError(
            _("The month %(month)s has not ended yet.", month=f"{period:%m/%Y}"), field="period"
        )
    run = BillingRun(
        period=period,
        state=RunState.DRAFTING.value,
        auto_finalize=auto_finalize_enabled() if auto_finalize is None else auto_finalize,
        started_by=actor.label,
        started_at=clock.now(),
        as_of=as_of.astimezone(UTC) if as_of else None,
    )
    _queue(run)
    db.session.add(run)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise DomainError(
            _("The billing run for %(month)s has just been started.", month=f"{period:%m/%Y}")
        ) from None
    audit.record(
        actor,
        "billing_run.start",
        clock,
        after={"period": period.isoformat(), "run": run.id, **_moment(run)},
    )
    db.session.commit()
    return Started(run.id, resumed=False)


def _resume(run: BillingRun, actor: Actor, clock: Clock, as_of: datetime | None) -> Started:
    month = f"{run.period:%m/%Y}"
    if run.state == RunState.DONE.value:
        raise RunDone(run)
    if as_of is not None and run.as_of != as_of:
        # one run, one moment: its invoices so far were made at the moment it was started as of
        raise DomainError(
            _(
                "The billing run for %(month)s was started as of %(moment)s; it continues as "
                "of that moment only.",
                month=month,
                moment=moment_text(run.as_of),
            )
            if run.as_of
            else _(
                "The billing run for %(month)s was started on the running clock; it cannot "
                "continue as of another moment.",
                month=month,
            )
        )
    if run.state == RunState.AWAITING_APPROVAL.value:
        raise DomainError(_("The billing run for %(month)s is waiting for approval.", month=month))
    if activity(run) == WORKING:
        raise DomainError(_("The billing run for %(month)s is running.", month=month))
    before = run.state
    if run.state == RunState.FAILED.value:
        run.state = (
            RunState.FINALIZING.value if run.approved_at is not None else RunState.DRAFTING.value
        )
    run.error = ""
    _queue(run)
    audit.record(
        actor,
        "billing_run.resume",
        clock,
        before={"state": before},
        after={"state": run.state, "run": run.id, **_moment(run)},
    )
    db.session.commit()
    return Started(run.id, resumed=True)


def approve_run(run_id: int, actor: Actor, clock: Clock) -> BillingRun:
    """Staff reviewed the drafts: finalize them. DomainError unless the run awaits approval."""
    run = get_run(run_id)
    if run.state != RunState.AWAITING_APPROVAL.value:
        raise DomainError(_("Only a run that is waiting for approval can be approved."))
    run.state = RunState.FINALIZING.value
    run.approved_by = actor.label
    run.approved_at = clock.now()
    _queue(run)
    audit.record(actor, "billing_run.approve", clock, after={"run": run.id})
    db.session.commit()
    return run


def available_actions(run: BillingRun) -> list[str]:
    """The actions on ``run`` whose precondition holds: its invoices and report always,
    approval while it awaits approval (``approve_run``), continuing when its worker stopped or
    it failed (``start_run`` resumes it)."""
    actions = ["invoices", "report"]
    if run.state == RunState.AWAITING_APPROVAL.value:
        actions.append("approve")
    if run.state == RunState.FAILED.value or is_stalled(run):
        actions.append("resume")
    return actions


def refusal(run: BillingRun, key: str) -> str | None:
    """Why action ``key`` does not apply to ``run``, in the words of the function that would
    refuse it; None when there is nothing more specific to say."""
    if key == "approve":
        return _("Only a run that is waiting for approval can be approved.")
    if key == "resume":
        return _("Only a failed or stalled run can be continued.")
    return None


def stalled_runs() -> list[int]:
    """Runs whose worker died, and queued runs no worker took within ``QUEUE_TIMEOUT`` (their
    job was lost): the periodic check queues them again."""
    runs = db.session.scalars(db.select(BillingRun).where(BillingRun.state.in_(ACTIVE_STATES)))
    return [run.id for run in runs if activity(run) != WORKING and _lease_over(run)]
