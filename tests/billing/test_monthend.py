"""The month-end run (SPEC §8): hand-computed invoices, VAT, proration, edge dates, restarts.

Tier table of the reference data: 1–50 at 4.50, 51–250 at 3.20, 251+ at 2.10 per IP and month.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing.customers import lifecycle
from billing.invoicing import monthend, monthend_report, monthend_work
from billing.invoicing.drafting import draft_invoice
from billing.kernel.audit import SYSTEM
from billing.kernel.errors import DomainError
from billing.subscriptions.distribution import change_ip_distribution
from models import (
    AuditEvent,
    BillingRun,
    Customer,
    Invoice,
    InvoiceLine,
    RunState,
    Subscription,
    db,
)
from tests import factories
from tests.conftest import berlin

D = Decimal


def _set(app, customer_id: int, **values) -> None:
    customer = db.session.get(Customer, customer_id)
    for name, value in values.items():
        setattr(customer, name, value)
    db.session.commit()


def _invoice(customer_id: int, period: date) -> Invoice:
    return db.session.scalar(
        db.select(Invoice).where(Invoice.customer_id == customer_id, Invoice.period == period)
    )


def _amounts(invoice: Invoice) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    return invoice.net, invoice.vat_rate, invoice.vat, invoice.gross


@pytest.fixture
def october(any_app):
    """Customers billed for October 2026; the clock stands on 1 November 00:30 in Berlin."""
    app = any_app
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    people = {
        "domestic": factories.customer(app, country="DE"),
        "eu_business": factories.customer(app, country="FR", internal=55, external=5),
        "eu_consumer": factories.customer(app, country="AT"),
        "abroad": factories.customer(app, country="US"),
        "free": factories.customer(app, payment="free"),
        "invited": factories.customer(app, state="invited"),
        "increase": factories.customer(app, country="DE"),
    }
    _set(app, people["eu_business"].id, vat_id="FR40303265045")
    clock.instant = berlin(2026, 10, 10, 12, 0)
    people["mid_month"] = factories.customer(app, country="DE", since=date(2026, 10, 10))
    clock.instant = berlin(2026, 10, 21, 15, 0)
    change_ip_distribution(people["increase"].id, 16, 4, True, SYSTEM, clock)
    clock.instant = berlin(2026, 11, 1, 0, 30)
    return app, clock, {name: c.id for name, c in people.items()}


def test_a_run_drafts_hand_computed_invoices_and_waits_for_approval(october):
    """SPEC §8.3–§8.5: full month, VAT cases, mid-month start, immediate increase; review."""
    app, clock, ids = october
    started = monthend.start_run(date(2026, 10, 1), SYSTEM, clock)
    assert monthend_work.work(started.run_id, clock) == RunState.AWAITING_APPROVAL.value
    oct1 = date(2026, 10, 1)
    # 12 IPs × 4.50 = 54.00; 19 % German VAT
    assert _amounts(_invoice(ids["domestic"], oct1)) == (
        D("54.00"),
        D("19.00"),
        D("10.26"),
        D("64.26"),
    )
    # 60 IPs: 50 × 4.50 + 10 × 3.20 = 257.00; EU business with VAT-ID: reverse charge
    business = _invoice(ids["eu_business"], oct1)
    assert _amounts(business) == (D("257.00"), D("0.00"), D("0.00"), D("257.00"))
    assert business.vat_note == "reverse_charge"
    # EU without VAT-ID pays German VAT; outside the EU none
    assert _invoice(ids["eu_consumer"], oct1).gross == D("64.26")
    abroad = _invoice(ids["abroad"], oct1)
    assert (abroad.vat, abroad.vat_note) == (D("0.00"), "outside_eu")
    # started 10 October: 22 of 31 days of 54.00 = 38.32
    assert _invoice(ids["mid_month"], oct1).net == D("38.32")
    # 12 → 20 IPs on 21 October: 54.00 in full + (90.00 − 54.00) × 11/31 = 12.77
    increase = _invoice(ids["increase"], oct1)
    assert [line.amount for line in increase.lines] == [D("54.00"), D("12.77")]
    assert increase.net == D("66.77") and increase.vat == D("12.69")
    assert "11/31" in increase.lines[1].description
    assert _invoice(ids["free"], oct1) is None and _invoice(ids["invited"], oct1) is None
    run = db.session.get(BillingRun, started.run_id)
    assert run.billed == 6
    assert monthend_report.skip_reasons(run) == {"free": 1, "no_subscription": 1}
    assert all(
        i.state == "draft" and i.number is None for i in db.session.scalars(db.select(Invoice))
    )


def test_approval_numbers_the_invoices_without_gaps_and_a_second_run_adds_nothing(october):
    """SPEC §8.5 and the idempotency rule: one invoice per customer and month, numbers 1..n."""
    app, clock, ids = october
    run_id = monthend.start_run(date(2026, 10, 1), SYSTEM, clock).run_id
    monthend_work.work(run_id, clock)
    with pytest.raises(DomainError):
        monthend.start_run(date(2026, 10, 1), SYSTEM, clock)
    monthend.approve_run(run_id, SYSTEM, clock)
    queued = []
    hooks = monthend_work.Hooks(
        queue_invoice_email=lambda invoice_id, as_of: queued.append(invoice_id)
    )
    assert monthend_work.work(run_id, clock, hooks) == RunState.DONE.value
    invoices = db.session.scalars(db.select(Invoice).order_by(Invoice.id)).all()
    assert [i.number for i in invoices] == [f"2026-{n:06d}" for n in range(1, 7)]
    assert sorted(queued) == [i.id for i in invoices]
    assert monthend_work.work(run_id, clock, hooks) == RunState.DONE.value
    with pytest.raises(DomainError, match="done"):
        monthend.start_run(date(2026, 10, 1), SYSTEM, clock)
    assert db.session.scalar(db.select(db.func.count()).select_from(Invoice)) == 6
    actions = set(db.session.scalars(db.select(AuditEvent.action)))
    assert {"billing_run.start", "billing_run.approve", "invoice.finalize"} <= actions


def test_a_run_killed_between_batches_continues_where_it_stopped(october, monkeypatch):
    """SPEC §8: restartable — a crash after the first batch keeps that batch, redoes nothing."""
    app, clock, ids = october
    monkeypatch.setattr(monthend_work, "BATCH", 3)
    run_id = monthend.start_run(date(2026, 10, 1), SYSTEM, clock).run_id
    batches = []

    def crash_after_first_batch(run):
        batches.append(run.last_customer_id)
        raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError):
        monthend_work.work(run_id, clock, monthend_work.Hooks(progress=crash_after_first_batch))
    run = db.session.get(BillingRun, run_id)
    assert run.state == "failed" and run.processed == 3
    first = {i.customer_id: i.id for i in db.session.scalars(db.select(Invoice))}
    assert monthend.start_run(date(2026, 10, 1), SYSTEM, clock).resumed
    assert monthend_work.work(run_id, clock) == RunState.AWAITING_APPROVAL.value
    after = {i.customer_id: i.id for i in db.session.scalars(db.select(Invoice))}
    assert {c: after[c] for c in first} == first, "invoices of the first batch were kept"
    assert len(after) == 6
    assert db.session.get(BillingRun, run_id).processed == 8


def test_a_run_finalizes_charges_and_mails_only_the_invoices_it_drafted(october):
    """Issue 14 (3): a card invoice of the month finalized before the run (history) is not
    numbered, charged or e-mailed again; a draft no run owned is taken in; the confirmation
    count, the counts and the report all name the run's invoices only."""
    from billing.invoicing.finalizing import finalize_invoice

    app, clock, ids = october
    oct1 = date(2026, 10, 1)
    db.session.execute(
        db.update(Subscription)
        .where(Subscription.customer_id.in_((ids["domestic"], ids["eu_consumer"])))
        .values(payment_method="card")
    )
    db.session.commit()
    history = finalize_invoice(draft_invoice(ids["domestic"], oct1, clock).id, clock)
    loose_draft = draft_invoice(ids["abroad"], oct1, clock)
    run_id = monthend.start_run(oct1, SYSTEM, clock).run_id
    assert monthend_work.work(run_id, clock) == RunState.AWAITING_APPROVAL.value
    run = db.session.get(BillingRun, run_id)
    assert run.billed == 5, "four new drafts and the loose one"
    assert monthend_report.skip_reasons(run)["invoiced_before"] == 1
    assert monthend_report.drafts_of(run_id) == 5
    assert db.session.get(Invoice, loose_draft.id).billing_run_id == run_id
    monthend.approve_run(run_id, SYSTEM, clock)
    charged, mailed = [], []
    hooks = monthend_work.Hooks(
        queue_invoice_email=lambda invoice_id, as_of: mailed.append(invoice_id),
        charge=lambda invoice_id, _clock: charged.append(invoice_id),
    )
    assert monthend_work.work(run_id, clock, hooks) == RunState.DONE.value
    untouched = db.session.get(Invoice, history.id)
    assert (untouched.number, untouched.state) == (history.number, "finalized")
    assert charged == [_invoice(ids["eu_consumer"], oct1).id], "only the run's card invoice"
    own = set(db.session.scalars(monthend_report.run_invoices(run_id)))
    assert len(own) == 5 and set(mailed) == own and history.id not in own
    run = db.session.get(BillingRun, run_id)
    assert (run.finalized, run.payment_failed) == (5, 0)
    assert sorted(row[0] for row in monthend_report.report_rows(run_id)) == sorted(own)


def test_a_live_run_is_not_taken_over_and_a_stalled_one_is(october):
    """The database guard: a second worker leaves a live run alone; a dead worker's is resumed."""
    app, clock, ids = october
    run_id = monthend.start_run(date(2026, 10, 1), SYSTEM, clock).run_id
    assert monthend_work._claim(run_id, "worker-a")
    assert not monthend_work._claim(run_id, "worker-b")
    assert monthend_work.work(run_id, clock, owner="worker-b") == RunState.DRAFTING.value
    with pytest.raises(DomainError, match="running"):
        monthend.start_run(date(2026, 10, 1), SYSTEM, clock)
    run = db.session.get(BillingRun, run_id)
    run.lease_until = berlin(2020, 1, 1, 0, 0)
    db.session.commit()
    assert monthend.stalled_runs() == [run_id]
    assert monthend_work.work(run_id, clock, owner="worker-b") == RunState.AWAITING_APPROVAL.value


def test_a_slow_worker_keeps_its_batch_unless_another_took_the_run_over(october):
    """SPEC §8 (restartable): a batch that outlived its lease is stored when nobody took the
    run over; when another worker did, the slow worker's batch is void and it stops."""
    app, clock, ids = october
    run_id = monthend.start_run(date(2026, 10, 1), SYSTEM, clock).run_id

    def lease_runs_out(run):
        db.session.execute(
            db.update(BillingRun)
            .where(BillingRun.id == run.id)
            .values(lease_until=berlin(2020, 1, 1, 0, 0))
        )
        db.session.commit()

    assert (
        monthend_work.work(
            run_id, clock, monthend_work.Hooks(progress=lease_runs_out), owner="slow"
        )
        == RunState.AWAITING_APPROVAL.value
    )
    assert db.session.get(BillingRun, run_id).processed == len(ids)

    other = monthend.start_run(date(2026, 11, 1), SYSTEM, _november(clock)).run_id
    taken = []

    def taken_over(run):
        if not taken:
            taken.append(run.last_customer_id)
            db.session.execute(
                db.update(BillingRun).where(BillingRun.id == run.id).values(lease_owner="fast")
            )
            db.session.commit()

    monthend_work.BATCH, batch = 3, monthend_work.BATCH
    try:
        state = monthend_work.work(
            other, _november(clock), monthend_work.Hooks(progress=taken_over), owner="slow"
        )
    finally:
        monthend_work.BATCH = batch
    run = db.session.get(BillingRun, other)
    assert state == RunState.DRAFTING.value
    assert run.lease_owner == "fast" and run.processed == 3, "only the first batch was stored"


def test_a_run_started_as_of_a_moment_takes_every_step_at_that_moment(october):
    """A run started as of a moment (``--now``, a rehearsal or a catch-up) drafts, finalizes
    and sets due dates at that moment whatever clock the worker runs on; its record (started,
    finished) stays on the running clock, and its audit event names the moment."""
    app, clock, ids = october
    moment = berlin(2026, 11, 2, 9, 0)
    clock.instant = berlin(2026, 12, 7, 14, 0)
    run_id = monthend.start_run(date(2026, 10, 1), SYSTEM, clock, as_of=moment).run_id
    clock.instant = berlin(2026, 12, 8, 10, 0)
    assert monthend_work.work(run_id, clock) == RunState.AWAITING_APPROVAL.value
    monthend.approve_run(run_id, SYSTEM, clock)
    mailed = []
    hooks = monthend_work.Hooks(queue_invoice_email=lambda *queued: mailed.append(queued))
    assert monthend_work.work(run_id, clock, hooks) == RunState.DONE.value
    invoices = db.session.scalars(db.select(Invoice)).all()
    assert {(i.created_at, i.finalized_at, i.due_date) for i in invoices} == {
        (moment, moment, date(2026, 11, 16))
    }
    assert {as_of for _invoice_id, as_of in mailed} == {moment}, "the e-mails are dated then"
    run = db.session.get(BillingRun, run_id)
    assert (run.as_of, run.started_at) == (moment, berlin(2026, 12, 7, 14, 0))
    assert run.finished_at == berlin(2026, 12, 8, 10, 0)
    assert monthend.shown_moment(run) == moment
    start = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "billing_run.start"))
    assert start.after["as_of"] == "2026-11-02T08:00:00+00:00"


def test_a_run_continues_at_its_own_moment_only(october):
    """One run, one moment: a run started as of a moment continues at it (a worker, the
    Continue button, the periodic check give none), another moment is refused with a message;
    a run on the running clock refuses a moment. A month can be rehearsed before it ends in
    real time, as of a moment after its end."""
    app, clock, ids = october
    moment = berlin(2026, 11, 2, 9, 0)
    run = monthend.get_run(
        monthend.start_run(date(2026, 10, 1), SYSTEM, clock, as_of=moment).run_id
    )
    run.state = RunState.FAILED.value
    db.session.commit()
    with pytest.raises(DomainError, match="started as of Nov 2, 2026, 9:00"):
        monthend.start_run(date(2026, 10, 1), SYSTEM, clock, as_of=berlin(2026, 11, 3, 9, 0))
    assert monthend.start_run(date(2026, 10, 1), SYSTEM, clock, as_of=moment).resumed
    assert monthend.get_run(run.id).as_of == moment
    run.state = RunState.FAILED.value
    db.session.commit()
    assert monthend.start_run(date(2026, 10, 1), SYSTEM, clock).resumed
    assert monthend.get_run(run.id).as_of == moment

    with pytest.raises(DomainError, match="not ended"):
        monthend.start_run(date(2026, 11, 1), SYSTEM, clock)
    november = monthend.start_run(
        date(2026, 11, 1), SYSTEM, clock, as_of=berlin(2026, 12, 1, 0, 30)
    ).run_id
    plain = monthend.get_run(november)
    plain.as_of, plain.state = None, RunState.FAILED.value
    db.session.commit()
    with pytest.raises(DomainError, match="running clock"):
        monthend.start_run(date(2026, 11, 1), SYSTEM, clock, as_of=berlin(2026, 12, 1, 0, 30))
    assert monthend.shown_moment(monthend.get_run(november)) is None


def _november(clock):
    from billing.kernel.clock import FixedClock

    return FixedClock(berlin(2026, 12, 1, 0, 30))


def test_a_month_that_has_not_ended_cannot_be_billed(any_app):
    """SPEC §8: the last second of October in Berlin is still October (CET after DST ended)."""
    clock = any_app.config["CLOCK"]
    clock.instant = berlin(2026, 10, 31, 23, 59, 59)
    with pytest.raises(DomainError, match="not ended"):
        monthend.start_run(date(2026, 10, 1), SYSTEM, clock)
    clock.instant = berlin(2026, 11, 1, 0, 0, 0)
    assert monthend.start_run(date(2026, 10, 1), SYSTEM, clock).run_id


@pytest.mark.parametrize(
    ("start", "period", "expected"),
    [
        # 31 January → February: a subscription starting on the 31st pays 1/31 of January
        (date(2027, 1, 31), date(2027, 1, 1), D("1.74")),
        (date(2027, 1, 31), date(2027, 2, 1), D("54.00")),
        # leap year: 20 of 29 February days
        (date(2028, 2, 10), date(2028, 2, 1), D("37.24")),
        # the day summer time ends (25 October 2026): 7 of 31 days
        (date(2026, 10, 25), date(2026, 10, 1), D("12.19")),
        # the day summer time starts (28 March 2027): 4 of 31 days
        (date(2027, 3, 28), date(2027, 3, 1), D("6.97")),
    ],
)
def test_proration_by_calendar_days_at_edge_dates(app, start, period, expected):
    """SPEC §8.3: a subscription that began mid-month pays from that day (calendar days)."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(start.year, start.month, start.day, 12, 0)
    customer = factories.customer(app, since=start)
    invoice = draft_invoice(customer.id, period, clock)
    assert invoice.net == expected


def test_an_increase_on_the_last_day_adds_one_day(app):
    """SPEC §8.3: an immediate increase on 31 October is billed for that one day."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 12, 0)
    customer = factories.customer(app)
    clock.instant = berlin(2026, 10, 31, 23, 30)
    change_ip_distribution(customer.id, 40, 2, True, SYSTEM, clock)
    invoice = draft_invoice(customer.id, date(2026, 10, 1), clock)
    # 54.00 + (42 × 4.50 − 54.00) × 1/31 = 54.00 + 4.35
    assert [line.amount for line in invoice.lines] == [D("54.00"), D("4.35")]
    november = draft_invoice(customer.id, date(2026, 11, 1), clock)
    assert november.net == D("189.00")


def test_a_cancelled_customer_is_billed_for_the_month(app):
    """SPEC §8.3: cancelled and deleted customers pay the month they had."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 12, 0)
    cancelled = factories.customer(app)
    deleted = factories.customer(app)
    clock.instant = berlin(2026, 10, 5, 12, 0)
    lifecycle.cancel_subscription(cancelled.id, SYSTEM, clock)
    lifecycle.mark_for_deletion(deleted.id, SYSTEM, clock)
    clock.instant = berlin(2026, 11, 1, 1, 0)
    run_id = monthend.start_run(date(2026, 10, 1), SYSTEM, clock).run_id
    monthend_work.work(run_id, clock)
    assert _invoice(cancelled.id, date(2026, 10, 1)).net == D("54.00")
    assert _invoice(deleted.id, date(2026, 10, 1)).net == D("54.00")
    assert db.session.scalar(db.select(db.func.count()).select_from(InvoiceLine)) == 2


def test_bad_periods_are_refused_with_a_clear_message():
    """Bad input: the period must be YYYY-MM."""
    for text in ["", "2026-13", "2026/10", "26-10", "abc", "1999-01", None]:
        with pytest.raises(DomainError, match="YYYY-MM"):
            monthend.parse_period(text)
    assert monthend.parse_period(" 2026-10 ") == date(2026, 10, 1)


def test_the_run_memo_gives_the_same_invoice_as_computing_each_customer():
    """SPEC §8.3: the run's short path for a subscription over the whole month (prices kept
    per IP count) gives the invoice the full computation gives, for full months, starts
    mid-month, changes, custom prices, free and empty subscriptions, in both languages."""
    from billing.catalog.pricing import Tier
    from billing.invoicing.draft_lines import SubRow, compute_draft

    tiers = [
        Tier(1, 50, Decimal("4.50")),
        Tier(51, 250, Decimal("3.00")),
        Tier(251, None, Decimal("2.00")),
    ]
    period = date(2026, 10, 1)

    def sub(sid, internal, external, start, until=None, basis="tiers", unit=None, method="card"):
        return SubRow(sid, 1, internal, external, method, basis, unit, None, start, until)

    shapes = [
        [sub(1, 10, 2, date(2026, 1, 1))],
        [sub(2, 10, 2, date(2026, 9, 30), date(2026, 12, 31))],
        [sub(3, 10, 2, date(2026, 10, 12))],
        [sub(4, 60, 5, date(2026, 2, 1), basis="customer_price", unit=Decimal("2.10"))],
        [sub(5, 10, 2, date(2026, 1, 1), date(2026, 10, 19)), sub(6, 20, 2, date(2026, 10, 20))],
        [sub(7, 3, 1, date(2026, 1, 1), method="free")],
        [sub(8, 0, 0, date(2026, 1, 1))],
    ]
    memo: dict = {}
    for mode, language in (("managed", "en"), ("self_service", "de")):
        for subs in shapes * 2:
            alone = compute_draft(9, mode, language, subs, period, tiers, {}, Decimal("0.80"))
            reused = compute_draft(
                9, mode, language, subs, period, tiers, {}, Decimal("0.80"), memo
            )
            assert reused == alone
    assert memo, "the short path was taken"


def test_a_runs_actions_are_decided_by_its_state(app, clock):
    """Issue 15 item 2: ``available_actions(run)`` gives the billing run page its buttons and
    its endpoints their check: approval only while it awaits approval, continuing only when it
    failed or its worker stopped."""
    from models import BillingRun, RunState

    run = BillingRun(
        period=date(2026, 10, 1),
        state=RunState.AWAITING_APPROVAL.value,
        started_by="test",
        started_at=clock.now(),
    )
    db.session.add(run)
    db.session.commit()
    assert monthend.available_actions(run) == ["invoices", "report", "approve"]
    run.state = RunState.FAILED.value
    assert monthend.available_actions(run) == ["invoices", "report", "resume"]
    run.state = RunState.DONE.value
    assert monthend.available_actions(run) == ["invoices", "report"]
    assert monthend.refusal(run, "approve") == (
        "Only a run that is waiting for approval can be approved."
    )
