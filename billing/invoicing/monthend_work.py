"""The worker side of the month-end run (SPEC §8): claim the run's lease, apply the due changes,
draft in batches, then finalize, charge and e-mail, each batch committed with the run's
checkpoint so a killed worker's successor continues after the last one. A run started as of a
moment takes every step at that moment (``monthend.run_clock``), whatever the worker's clock."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import OperationalError

from billing.catalog.pricing import load_tiers
from billing.invoicing.drafting import draft_batch, ip_purchase_price_setting
from billing.invoicing.finalizing import finalize_batch
from billing.invoicing.monthend import ACTIVE_STATES, get_run, run_clock
from billing.invoicing.monthend_report import count_invoices, run_invoices
from billing.kernel import audit
from billing.kernel.audit import SYSTEM
from billing.kernel.clock import Clock, lease_now
from billing.kernel.errors import DomainError
from billing.kernel.site import Site
from billing.payments import receivables
from billing.subscriptions.changes import apply_due_changes
from billing.subscriptions.service_subscriptions import renew_due
from models import BillingRun, Customer, Invoice, InvoiceState, PaymentMethodCode, RunState, db

BATCH = 500


LEASE = timedelta(minutes=2)


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
    notice, charge a card invoice (the Stripe gateway), report progress. The e-mails get the
    moment the run is run as of (None: the running clock), to be dated by it."""

    queue_invoice_email: Callable[[int, datetime | None], object] = lambda invoice_id, as_of: None
    payment_failed: Callable[[int, datetime | None], object] = lambda invoice_id, as_of: None
    charge: Callable[[int, Clock], object] | None = None
    progress: Callable[[BillingRun], object] = lambda run: None
    # errors of a service that comes back by itself (the job queue): they stop the worker but
    # leave the run to be continued, like the database going away does
    transient: tuple[type[Exception], ...] = ()


def new_owner() -> str:
    return uuid.uuid4().hex


def work(
    run_id: int,
    clock: Clock,
    hooks: Hooks | None = None,
    *,
    owner: str = "",
    site: Site = Site(),
) -> str:
    """Do whatever the run needs next, up to approval or to the end; returns the run's state.
    The drafts take the home country and the currency from ``site``. ``clock`` is the running
    clock: the run's record takes its times from it, and so does every step of a run that was
    not started as of a moment of its own (``monthend.run_clock``).

    Safe to call again at any time: a live run held by another worker is left alone, a
    stalled one is continued after its last committed batch.
    """
    hooks = hooks or Hooks()
    owner = owner or new_owner()
    if not _claim(run_id, owner):
        return get_run(run_id).state
    try:
        run = get_run(run_id)
        at = run_clock(run, clock)
        if run.state == RunState.DRAFTING.value:
            _draft_all(run, at, hooks, owner, site, clock)
        run = get_run(run_id)
        if run.state == RunState.FINALIZING.value:
            _finalize_all(run, at, hooks, owner, clock)
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


def _draft_all(
    run: BillingRun, clock: Clock, hooks: Hooks, owner: str, site: Site, running: Clock
) -> None:
    if run.processed == 0:
        _prepare_month(run, clock, owner)
    tiers = load_tiers()
    ip_price = ip_purchase_price_setting()
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
            site=site,
            tiers=tiers,
            ip_purchase_price=ip_price,
            memo=memo,
            run_id=run.id,
        )
        db.session.refresh(run, with_for_update=True)
        _checkpoint(run, owner)
        run.last_customer_id = last_id = ids[-1]
        _count_batch(run, len(ids), result)
        db.session.commit()
        batches += 1
        if batches in STATISTICS_AFTER or batches % STATISTICS_EVERY == 0:
            _refresh_statistics()
        hooks.progress(run)
    _drafted(run, running)


def _prepare_month(run: BillingRun, clock: Clock, owner: str) -> None:
    """Before the first batch: apply the changes due, expire ended runtimes, renew or end the
    additional subscriptions whose term is over, and count the customers."""
    report = apply_due_changes(clock)
    renewals = renew_due(clock)
    run = get_run(run.id)
    run.changes_applied += report.applied
    run.subscriptions_expired += report.expired + renewals.ended
    run.total = db.session.scalar(db.select(db.func.count()).select_from(Customer))
    _checkpoint(run, owner)
    db.session.commit()


def _count_batch(run: BillingRun, customers: int, result) -> None:
    """Add a drafted batch to the run's counts and skip reasons."""
    run.processed += customers
    run.billed += result.billed + result.existing
    reasons = json.loads(run.skip_reasons or "{}")
    for reason, count in result.skipped.items():
        reasons[reason] = reasons.get(reason, 0) + count
    run.skip_reasons = json.dumps(reasons, sort_keys=True)
    run.skipped = sum(reasons.values())


def _drafted(run: BillingRun, clock: Clock) -> None:
    """Every customer is drafted: done when there is nothing to review, else finalizing at
    once (automatic approval) or waiting for approval. ``clock``: the running clock."""
    run.total = max(run.total, run.processed)
    if not count_invoices(run.id, Invoice.state == InvoiceState.DRAFT.value):
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


def _finalize_all(run: BillingRun, clock: Clock, hooks: Hooks, owner: str, running: Clock) -> None:
    _number_drafts(run.id, clock, hooks, owner)
    if hooks.charge is not None:
        _charge_cards(run.id, clock, hooks, owner)
    _queue_emails(run.id, hooks, owner)
    run = get_run(run.id)
    _checkpoint(run, owner)
    _finish(run, running)


def _number_drafts(run_id: int, clock: Clock, hooks: Hooks, owner: str) -> None:
    """Finalize the run's drafts in batches (each batch takes its numbers in its own
    transaction)."""
    while True:
        ids = list(
            db.session.scalars(
                run_invoices(run_id)
                .where(Invoice.state == InvoiceState.DRAFT.value)
                .order_by(Invoice.id)
                .limit(BATCH)
            )
        )
        if not ids:
            break
        run = get_run(run_id)
        _checkpoint(run, owner)
        db.session.flush()
        finalize_batch(ids, clock)
        run = get_run(run_id)
        run.finalized = count_invoices(run_id, Invoice.state != InvoiceState.DRAFT.value)
        db.session.commit()
        hooks.progress(run)


def _charge_cards(run_id: int, clock: Clock, hooks: Hooks, owner: str) -> None:
    """Charge the run's card invoices: each at most once (the gateway's attempt rows guard
    it), none that a credit note settled meanwhile (SPEC §14)."""
    due = list(
        db.session.scalars(
            run_invoices(run_id)
            .where(
                Invoice.state == InvoiceState.FINALIZED.value,
                Invoice.payment_method == PaymentMethodCode.CARD.value,
                receivables.is_payable(),
            )
            .order_by(Invoice.id)
        )
    )
    for invoice_id in due:
        run = get_run(run_id)
        _checkpoint(run, owner)
        db.session.commit()
        try:
            hooks.charge(invoice_id, clock)
        except DomainError as error:
            _mark_payment_failed(invoice_id, str(error), clock)
        invoice = db.session.get(Invoice, invoice_id)
        if invoice.state == InvoiceState.PAYMENT_FAILED.value:
            hooks.payment_failed(invoice_id, run.as_of)


def _queue_emails(run_id: int, hooks: Hooks, owner: str) -> None:
    """Queue the e-mails with the PDF (the mail job skips an invoice that was sent already)."""
    unsent = list(
        db.session.scalars(
            run_invoices(run_id)
            .where(Invoice.state != InvoiceState.DRAFT.value, Invoice.emailed_at.is_(None))
            .order_by(Invoice.id)
        )
    )
    for start in range(0, len(unsent), BATCH):
        run = get_run(run_id)
        _checkpoint(run, owner)
        db.session.commit()
        for invoice_id in unsent[start : start + BATCH]:
            hooks.queue_invoice_email(invoice_id, run.as_of)


def _finish(run: BillingRun, clock: Clock, *, drafted_nothing: bool = False) -> None:
    """The run is done: its counts from its invoices. A run that drafted nothing (every
    customer skipped, or invoiced before) has nothing to review and is done at once.
    ``clock``: the running clock."""
    run.payment_failed = count_invoices(run.id, Invoice.state == InvoiceState.PAYMENT_FAILED.value)
    run.finalized = count_invoices(run.id, Invoice.state != InvoiceState.DRAFT.value)
    run.state = RunState.DONE.value
    run.finished_at = clock.now()
    run.lease_until = None
    after = {"run": run.id, "finalized": run.finalized, "payment_failed": run.payment_failed}
    if drafted_nothing:
        after["drafted"] = 0
    audit.record(SYSTEM, "billing_run.done", clock, after=after)
    db.session.commit()


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
        after={"number": invoice.number, "error": message[:200]},
    )
    db.session.commit()
