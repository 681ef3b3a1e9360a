"""The month-end run (SPEC §8): apply changes, expire runtimes, renew or end additional
subscriptions whose term is over, draft, review, finalize, charge, e-mail — restartable at every
step.

One ``BillingRun`` row per booking month is the guard against two runs (its period is unique).
Work happens in batches whose results are committed together with the run's checkpoint, so a
worker killed at any moment leaves either a whole batch or none of it; a new worker takes the
run over once the dead one's lease has run out and continues after the last committed batch.
Leases are measured on the real clock; every business date comes from the injected clock.

A run works on its own invoices only (``run_invoices``): the drafts it made, and drafts of its
month that no run owned when it drafted. Finalizing numbers, charges and e-mails those; the
confirmation, the counts and the report are taken from the same query. An invoice of the month
that was finalized outside the run is counted as skipped and never touched.

A run waiting for a worker is *queued* (no lease owner yet); one whose worker stopped renewing
its lease is *stalled* (``activity``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from decimal import Decimal

from sqlalchemy.exc import IntegrityError, OperationalError

from billing.catalog.pricing import load_tiers
from billing.invoicing.drafting import draft_batch, ip_purchase_price_setting
from billing.invoicing.finalizing import finalize_batch
from billing.kernel import audit
from billing.kernel.audit import SYSTEM, Actor
from billing.kernel.clock import Clock, add_months, lease_now
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from billing.kernel.settings import get_setting, set_setting
from billing.payments import receivables
from billing.subscriptions.changes import apply_due_changes
from billing.subscriptions.service_subscriptions import renew_due
from models import (
    BillingRun,
    Customer,
    Invoice,
    InvoiceKind,
    InvoiceState,
    PaymentMethodCode,
    RunState,
    db,
)

BATCH = 500
LEASE = timedelta(minutes=2)
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
    period: date, actor: Actor, clock: Clock, *, auto_finalize: bool | None = None
) -> Started:
    """Create the run for ``period`` (a closed booking month), or resume a failed or stalled
    one, or queue a queued one again (its job may have been lost); the caller queues it.

    Raises RunDone when the month's run is done, DomainError when the month has not ended or
    its run is awaiting approval or held by a live worker; the caller then queues nothing.
    """
    period = period.replace(day=1)
    if period > last_closed_period(clock):
        raise DomainError(
            _("The month %(month)s has not ended yet.", month=f"{period:%m/%Y}"), field="period"
        )
    run = db.session.scalar(db.select(BillingRun).where(BillingRun.period == period))
    if run is not None:
        return _resume(run, actor, clock)
    run = BillingRun(
        period=period,
        state=RunState.DRAFTING.value,
        auto_finalize=auto_finalize_enabled() if auto_finalize is None else auto_finalize,
        started_by=actor.label,
        started_at=clock.now(),
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
        actor, "billing_run.start", clock, after={"period": period.isoformat(), "run": run.id}
    )
    db.session.commit()
    return Started(run.id, resumed=False)


def _resume(run: BillingRun, actor: Actor, clock: Clock) -> Started:
    month = f"{run.period:%m/%Y}"
    if run.state == RunState.DONE.value:
        raise RunDone(run)
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
        after={"state": run.state, "run": run.id},
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


# --- the worker side ------------------------------------------------------------------------


def _claim(run_id: int, owner: str) -> bool:
    """Take a queued run, or take over a stalled one, or renew the lease; False when another
    live worker holds it."""
    now = lease_now()
    claimed = db.session.execute(
        db.update(BillingRun)
        .where(
            BillingRun.id == run_id,
            BillingRun.state.in_(ACTIVE_STATES),
            (BillingRun.lease_owner == "")
            | (BillingRun.lease_until.is_(None))
            | (BillingRun.lease_until < now)
            | (BillingRun.lease_owner == owner),
        )
        .values(lease_until=now + LEASE, lease_owner=owner)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return claimed.rowcount == 1


@dataclass
class Hooks:
    """What the run hands to the job layer: queue an invoice e-mail, send a payment-failed
    notice, charge a card invoice (the Stripe gateway), report progress."""

    queue_invoice_email: Callable[[int], object] = lambda invoice_id: None
    payment_failed: Callable[[int], object] = lambda invoice_id: None
    charge: Callable[[int, Clock], object] | None = None
    progress: Callable[[BillingRun], object] = lambda run: None
    # errors of a service that comes back by itself (the job queue): they stop the worker but
    # leave the run to be continued, like the database going away does
    transient: tuple[type[Exception], ...] = ()


def new_owner() -> str:
    return uuid.uuid4().hex


def work(run_id: int, clock: Clock, hooks: Hooks | None = None, *, owner: str = "") -> str:
    """Do whatever the run needs next, up to approval or to the end; returns the run's state.

    Safe to call again at any time: a live run held by another worker is left alone, a
    stalled one is continued after its last committed batch.
    """
    hooks = hooks or Hooks()
    owner = owner or new_owner()
    if not _claim(run_id, owner):
        return get_run(run_id).state
    try:
        run = get_run(run_id)
        if run.state == RunState.DRAFTING.value:
            _draft_all(run, clock, hooks, owner)
        run = get_run(run_id)
        if run.state == RunState.FINALIZING.value:
            _finalize_all(run, clock, hooks, owner)
    except LeaseLost:
        db.session.rollback()
        return get_run(run_id).state
    except (OperationalError, *hooks.transient):
        _release(run_id, owner)
        raise
    except Exception as error:
        db.session.rollback()
        run = get_run(run_id)
        run.state = RunState.FAILED.value
        run.error = f"{type(error).__name__}: {error}"[:2000]
        run.lease_until = None
        audit.record(SYSTEM, "billing_run.fail", clock, after={"run": run.id}, outcome="error")
        db.session.commit()
        raise
    return get_run(run_id).state


def _release(run_id: int, owner: str) -> None:
    """The database or the queue went away: give the lease up (when the database is there to
    hear it) so the periodic check continues the run at once instead of after the lease. The
    batch being written is rolled back; the run stays active, never ``failed``."""
    try:
        db.session.rollback()
        db.session.execute(
            db.update(BillingRun)
            .where(BillingRun.id == run_id, BillingRun.lease_owner == owner)
            .values(lease_until=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    except OperationalError:
        db.session.rollback()


class LeaseLost(Exception):
    """Another worker took the run over (ours was too slow to renew): stop quietly."""


def _checkpoint(run: BillingRun, owner: str) -> None:
    """Renew the lease in the transaction that stores a batch (the run row is locked).

    Another worker took the run over only if it changed the owner: then this batch is void.
    A lease that ran out while nobody took over is simply renewed: the batch is still ours.
    """
    if run.lease_owner != owner:
        raise LeaseLost()
    run.lease_until = lease_now() + LEASE


def _draft_all(run: BillingRun, clock: Clock, hooks: Hooks, owner: str) -> None:
    if run.processed == 0:
        report = apply_due_changes(clock)
        renewals = renew_due(clock)
        run = get_run(run.id)
        run.changes_applied += report.applied
        run.subscriptions_expired += report.expired + renewals.ended
        run.total = db.session.scalar(db.select(db.func.count()).select_from(Customer))
        _checkpoint(run, owner)
        db.session.commit()
    tiers = load_tiers()
    ip_price = ip_purchase_price_setting()
    home = _home_country()
    memo: dict = {}
    batches = 0
    last_id, period = run.last_customer_id, run.period
    while True:
        ids = list(
            db.session.scalars(
                db.select(Customer.id)
                .where(Customer.id > last_id)
                .order_by(Customer.id)
                .limit(BATCH)
            )
        )
        if not ids:
            break
        result = draft_batch(
            ids,
            period,
            clock,
            home_country=home,
            tiers=tiers,
            ip_purchase_price=ip_price,
            memo=memo,
            run_id=run.id,
        )
        db.session.refresh(run, with_for_update=True)
        _checkpoint(run, owner)
        run.last_customer_id = last_id = ids[-1]
        run.processed += len(ids)
        run.billed += result.billed + result.existing
        reasons = json.loads(run.skip_reasons or "{}")
        for reason, count in result.skipped.items():
            reasons[reason] = reasons.get(reason, 0) + count
        run.skip_reasons = json.dumps(reasons, sort_keys=True)
        run.skipped = sum(reasons.values())
        db.session.commit()
        batches += 1
        if batches in STATISTICS_AFTER or batches % STATISTICS_EVERY == 0:
            _refresh_statistics()
        hooks.progress(run)
    run.total = max(run.total, run.processed)
    if not _count(run.id, Invoice.state == InvoiceState.DRAFT.value):
        _finish(run, clock, drafted_nothing=True)
    elif run.auto_finalize:
        run.state = RunState.FINALIZING.value
        run.approved_by = "automatic"
        run.approved_at = clock.now()
        audit.record(SYSTEM, "billing_run.drafted", clock, after={"run": run.id, "auto": True})
    else:
        run.state = RunState.AWAITING_APPROVAL.value
        run.lease_until = None
        audit.record(SYSTEM, "billing_run.drafted", clock, after={"run": run.id})
    db.session.commit()


STATISTICS_AFTER = (2, 8)
STATISTICS_EVERY = 40


def _refresh_statistics() -> None:
    """A new month starts with no invoice rows, so PostgreSQL's planner believes the month is
    tiny and looks existing invoices up through the (period, state) index, reading every row
    drafted so far on each batch. Fresh statistics while the month fills keep it on the
    (customer, period) index."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(db.text("ANALYZE invoice (customer_id, period, kind)"))
        db.session.commit()


def run_invoices(run_id: int, *columns):
    """The invoices of a run (``columns``, default their ids): what it finalizes, charges and
    e-mails, what its confirmation counts and what its report lists."""
    return db.select(*(columns or (Invoice.id,))).where(
        Invoice.billing_run_id == run_id, Invoice.kind == InvoiceKind.INVOICE.value
    )


def drafts_of(run_id: int) -> int:
    """How many drafts "Approve and finalize" would finalize."""
    return _count(run_id, Invoice.state == InvoiceState.DRAFT.value)


def net_total(run_id: int) -> Decimal:
    """The net amount of the run's invoices."""
    total = db.session.scalar(run_invoices(run_id, db.func.coalesce(db.func.sum(Invoice.net), 0)))
    return Decimal(total or 0).quantize(Decimal("0.01"))


def _finalize_all(run: BillingRun, clock: Clock, hooks: Hooks, owner: str) -> None:
    # 1. numbers, in batches (each batch takes its numbers in its own transaction)
    while True:
        ids = list(
            db.session.scalars(
                run_invoices(run.id)
                .where(Invoice.state == InvoiceState.DRAFT.value)
                .order_by(Invoice.id)
                .limit(BATCH)
            )
        )
        if not ids:
            break
        run = get_run(run.id)
        _checkpoint(run, owner)
        db.session.flush()
        finalize_batch(ids, clock)
        run = get_run(run.id)
        run.finalized = _count(run.id, Invoice.state != InvoiceState.DRAFT.value)
        db.session.commit()
        hooks.progress(run)
    # 2. card payments: each invoice at most once (the gateway's attempt rows guard it), none
    # that a credit note settled meanwhile (SPEC §14)
    if hooks.charge is not None:
        due = list(
            db.session.scalars(
                run_invoices(run.id)
                .where(
                    Invoice.state == InvoiceState.FINALIZED.value,
                    Invoice.payment_method == PaymentMethodCode.CARD.value,
                    receivables.is_payable(),
                )
                .order_by(Invoice.id)
            )
        )
        for invoice_id in due:
            run = get_run(run.id)
            _checkpoint(run, owner)
            db.session.commit()
            try:
                hooks.charge(invoice_id, clock)
            except DomainError as error:
                _mark_payment_failed(invoice_id, str(error), clock)
            invoice = db.session.get(Invoice, invoice_id)
            if invoice.state == InvoiceState.PAYMENT_FAILED.value:
                hooks.payment_failed(invoice_id)
    # 3. e-mails with the PDF (the mail job skips an invoice that was sent already)
    unsent = list(
        db.session.scalars(
            run_invoices(run.id)
            .where(Invoice.state != InvoiceState.DRAFT.value, Invoice.emailed_at.is_(None))
            .order_by(Invoice.id)
        )
    )
    for start in range(0, len(unsent), BATCH):
        run = get_run(run.id)
        _checkpoint(run, owner)
        db.session.commit()
        for invoice_id in unsent[start : start + BATCH]:
            hooks.queue_invoice_email(invoice_id)
    run = get_run(run.id)
    _checkpoint(run, owner)
    _finish(run, clock)


def _finish(run: BillingRun, clock: Clock, *, drafted_nothing: bool = False) -> None:
    """The run is done: its counts from its invoices. A run that drafted nothing (every
    customer skipped, or invoiced before) has nothing to review and is done at once."""
    run.payment_failed = _count(run.id, Invoice.state == InvoiceState.PAYMENT_FAILED.value)
    run.finalized = _count(run.id, Invoice.state != InvoiceState.DRAFT.value)
    run.state = RunState.DONE.value
    run.finished_at = clock.now()
    run.lease_until = None
    after = {"run": run.id, "finalized": run.finalized, "payment_failed": run.payment_failed}
    if drafted_nothing:
        after["drafted"] = 0
    audit.record(SYSTEM, "billing_run.done", clock, after=after)
    db.session.commit()


def _count(run_id: int, condition) -> int:
    return db.session.scalar(run_invoices(run_id, db.func.count()).where(condition))


def _mark_payment_failed(invoice_id: int, message: str, clock: Clock) -> None:
    """Stripe could not be reached: the attempt stays pending (a retry reuses its idempotency
    key, so Stripe never charges twice) and the invoice shows that payment failed."""
    invoice = db.session.get(Invoice, invoice_id)
    if (
        invoice is None
        or invoice.state != InvoiceState.FINALIZED.value
        or not receivables.payable(invoice)
    ):
        return
    invoice.state = InvoiceState.PAYMENT_FAILED.value
    audit.record(
        SYSTEM,
        "invoice.payment_failed",
        clock,
        customer_id=invoice.customer_id,
        after={"invoice": invoice.number, "error": message[:200]},
    )
    db.session.commit()


def _home_country() -> str:
    from flask import current_app

    return current_app.config.get("HOME_COUNTRY", "DE")


# --- reporting ------------------------------------------------------------------------------


def skip_reasons(run: BillingRun) -> dict[str, int]:
    try:
        return json.loads(run.skip_reasons or "{}")
    except ValueError:
        return {}


REPORT_FIELDS = (
    "invoice_id",
    "number",
    "customer_id",
    "company_name",
    "state",
    "payment_method",
    "category",
    "net",
    "vat_rate",
    "vat",
    "gross",
    "currency",
    "emailed",
)


def record_report_export(run_id: int, actor: Actor, clock: Clock) -> BillingRun:
    """Audit a download of the run report and commit; NotFound for an unknown run."""
    run = get_run(run_id)
    audit.record(
        actor,
        "billing_run.report_export",
        clock,
        after={"run": run.id, "period": f"{run.period:%Y-%m}"},
    )
    db.session.commit()
    return run


def report_rows(run_id: int):
    """One row per invoice of the run, in id order (streamed from the database)."""
    run = get_run(run_id)
    statement = (
        run_invoices(
            run.id,
            Invoice.id,
            Invoice.number,
            Invoice.customer_id,
            Invoice.billing_name,
            Invoice.state,
            Invoice.payment_method,
            Invoice.category,
            Invoice.net,
            Invoice.vat_rate,
            Invoice.vat,
            Invoice.gross,
            Invoice.currency,
            Invoice.emailed_at.is_not(None),
        )
        .order_by(Invoice.id)
        .execution_options(yield_per=1000)
    )
    yield from db.session.execute(statement)
