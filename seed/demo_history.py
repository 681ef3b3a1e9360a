"""The demo's billing history: each past month billed by the month-end run on the 1st, as the
product bills it, with bank transfers arriving within the payment term."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta

from billing.invoicing import monthend, monthend_report, monthend_work
from billing.invoicing.invoice_payment import mark_paid
from billing.kernel.audit import SYSTEM
from billing.kernel.clock import Clock, FixedClock, add_months
from billing.kernel.errors import DomainError
from billing.kernel.site import Site
from billing.payments.card_charges import record_card_payment
from models import Invoice, InvoiceState, db

RUN_AT = time(0, 30)  # when the scheduler starts the run on the 1st


PAID_AFTER_DAYS = 12  # when the demo's bank transfers arrive


def _at(day: date, clock: Clock) -> FixedClock:
    """A clock on ``day`` at ``RUN_AT`` in the MSP's time zone, never later than now."""
    instant = datetime.combine(day, RUN_AT, tzinfo=clock.tz)
    return FixedClock(min(instant, clock.now()), str(clock.tz))


def billing_history(
    history_start: date,
    clock: Clock,
    site: Site,
    charge_last_month: bool = False,
    mail: monthend_work.Hooks | None = None,
) -> None:
    """Each month since ``history_start`` billed as the product bills it: the month-end run on
    the 1st drafts, finalizes and charges (the demo's card payments are recorded as taken, no
    e-mail is sent; with ``charge_last_month`` the month that just ended is charged at Stripe
    to the saved cards), and bank transfers arrive within the payment term, except for the
    month that just ended. With ``mail`` (the job layer's e-mail hooks) the month that just
    ended is e-mailed as a real run e-mails it: its invoices, and the notice of a failed card
    payment. A month whose run exists is left as it is."""
    from billing.payments.card_charges import charge_invoice

    period = history_start.replace(day=1)
    last = monthend.last_closed_period(clock)
    while period <= last:
        run_clock = _at(add_months(period, 1), clock)
        try:
            started = monthend.start_run(period, SYSTEM, run_clock, auto_finalize=True)
        except DomainError:
            period = add_months(period, 1)
            continue
        charge = charge_invoice if charge_last_month and period == last else record_card_payment
        hooks = monthend_work.Hooks(charge=charge)
        if mail is not None and period == last:
            hooks = replace(mail, charge=charge)
        monthend_work.work(started.run_id, run_clock, hooks, site=site)
        if period < last:
            paid_clock = _at(add_months(period, 1) + timedelta(days=PAID_AFTER_DAYS), clock)
            for invoice_id in db.session.scalars(
                monthend_report.run_invoices(started.run_id).where(
                    Invoice.state == InvoiceState.FINALIZED.value
                )
            ).all():
                mark_paid(invoice_id, SYSTEM, paid_clock)
        period = add_months(period, 1)
