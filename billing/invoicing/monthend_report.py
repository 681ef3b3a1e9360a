"""What a month-end run did (SPEC §8): its own invoices, their counts and totals, the reasons
customers were skipped, and the run report."""

from __future__ import annotations

import json
from decimal import Decimal

from billing.invoicing.monthend import get_run
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from models import BillingRun, Invoice, InvoiceKind, InvoiceState, db


def run_invoices(run_id: int, *columns):
    """The invoices of a run (``columns``, default their ids): what it finalizes, charges and
    e-mails, what its confirmation counts and what its report lists."""
    return db.select(*(columns or (Invoice.id,))).where(
        Invoice.billing_run_id == run_id, Invoice.kind == InvoiceKind.INVOICE.value
    )


def drafts_of(run_id: int) -> int:
    """How many drafts "Approve and finalize" would finalize."""
    return count_invoices(run_id, Invoice.state == InvoiceState.DRAFT.value)


def net_total(run_id: int) -> Decimal:
    """The net amount of the run's invoices."""
    total = db.session.scalar(run_invoices(run_id, db.func.coalesce(db.func.sum(Invoice.net), 0)))
    return Decimal(total or 0).quantize(Decimal("0.01"))


def count_invoices(run_id: int, condition) -> int:
    """How many of the run's invoices meet ``condition``."""
    return db.session.scalar(run_invoices(run_id, db.func.count()).where(condition))


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
