"""Several subscriptions per customer (SPEC §11, Sectigo): add with a price preview, suspend,
enable, auto-renew, end, renewal, the list's IP columns and month-end billing by calendar days.

Tier table of the reference data: 1–50 at 4.50, 51–250 at 3.20, 251+ at 2.10 per IP and month.
An additional subscription of 8 internal + 2 external IPs costs 10 × 4.50 = 45.00 a month.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import event

from billing.customers import lifecycle
from billing.invoicing import monthend, monthend_work
from billing.invoicing.drafting import draft_batch, draft_invoice
from billing.kernel.audit import SYSTEM
from billing.kernel.errors import Conflict, DomainError, NotFound
from billing.subscriptions import service_subscriptions as services
from billing.subscriptions import service_terms
from billing.subscriptions.service_terms import ServiceInput
from models import (
    AuditEvent,
    Customer,
    Invoice,
    ServiceSubscription,
    ServiceSuspension,
    db,
)
from tests import factories
from tests.conftest import berlin

D = Decimal
NOV = date(2026, 11, 1)
SITE = ServiceInput("Site Hamburg", 8, 2, 12, True)


def _add(customer_id: int, clock, data: ServiceInput = SITE) -> ServiceSubscription:
    return services.add_service(customer_id, data, SYSTEM, clock)


def _lines(customer_id: int, period: date = NOV) -> list[tuple[str, Decimal]]:
    invoice = db.session.scalar(
        db.select(Invoice).where(Invoice.customer_id == customer_id, Invoice.period == period)
    )
    return [(line.description, line.amount) for line in invoice.lines]


def _only_service(customer_id: int) -> ServiceSubscription:
    return db.session.scalars(
        db.select(ServiceSubscription).where(ServiceSubscription.customer_id == customer_id)
    ).one()


def _count(model) -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(model))


@pytest.fixture
def ready(app):
    factories.reference(app)
    return app, app.config["CLOCK"]


def test_term_ends_follow_the_start_without_drifting():
    """SPEC §11: a term is 1, 12, 24 or 36 months; renewals count from the start date."""
    assert service_terms.first_term_end(date(2026, 11, 15), 1) == date(2026, 12, 14)
    assert service_terms.first_term_end(date(2026, 1, 31), 12) == date(2027, 1, 30)
    assert service_terms.first_term_end(date(2026, 1, 31), 1) == date(2026, 2, 27)
    assert service_terms.next_term_end(date(2026, 1, 31), date(2026, 2, 27), 1) == date(2026, 3, 30)
    assert service_terms.next_term_end(date(2026, 11, 15), date(2027, 11, 14), 12) == date(
        2028, 11, 14
    )


@pytest.mark.parametrize(
    ("values", "field"),
    [
        (("", 1, 0, 12), "name"),
        (("   ", 1, 0, 12), "name"),
        (("x" * 101, 1, 0, 12), "name"),
        (("Site", -1, 2, 12), "internal_ips"),
        (("Site", 0, 0, 12), "internal_ips"),
        (("Site", "ten", 0, 12), "internal_ips"),
        (("Site", 1, 0, 6), "term_months"),
        (("Site", 1, 0, "a year"), "term_months"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_changes(ready, values, field):
    """SPEC §4/§11: names are required, counts ≥ 0 with total ≥ 1, terms 1/12/24/36."""
    app, clock = ready
    customer = factories.customer(app)
    events = _count(AuditEvent)
    with pytest.raises(DomainError) as refused:
        _add(customer.id, clock, ServiceInput(*values, True))
    assert refused.value.field == field and refused.value.message
    assert _count(ServiceSubscription) == 0 and _count(AuditEvent) == events


def test_names_are_unique_per_customer_ignoring_case_until_ended(ready):
    """SPEC §11: two subscriptions of one customer cannot share a name; another customer may
    use it, and an ended subscription frees it."""
    app, clock = ready
    first, second = factories.customer(app), factories.customer(app)
    sub = _add(first.id, clock)
    with pytest.raises(DomainError, match="already has a subscription with this name"):
        _add(first.id, clock, ServiceInput("  site   HAMBURG ", 1, 0, 1))
    _add(second.id, clock)
    services.end_service(first.id, sub.id, SYSTEM, clock)
    assert _add(first.id, clock, ServiceInput("site hamburg", 1, 0, 1)).name == "site hamburg"


def test_the_preview_shows_the_price_before_adding(ready):
    """SPEC §11/§12: price preview first: monthly price, average IP price, this month's part."""
    app, clock = ready
    customer = factories.customer(app)
    plan = services.preview_service(customer.id, SITE, clock)
    # 15 November: 16 of 30 days of 45.00 = 24.00
    assert (plan.monthly_price, plan.average_ip_price) == (D("45.00"), D("4.5000"))
    assert (plan.remaining_days, plan.days_in_month, plan.prorated_amount) == (16, 30, D("24.00"))
    assert plan.term_end == date(2027, 11, 14)
    lifecycle.set_customer_price(customer.id, "2.00", SYSTEM, clock)
    assert services.preview_service(customer.id, SITE, clock).monthly_price == D("20.00")
    assert _count(ServiceSubscription) == 0


def test_actions_change_state_are_audited_and_the_list_counts_active_ones(ready):
    """SPEC §11 (issue 7.5): suspended or ended subscriptions are not counted in the list's IP
    columns; every action is audited with before and after."""
    app, clock = ready
    customer = factories.customer(app, internal=10, external=2)
    sub = _add(customer.id, clock)
    row = db.session.get(Customer, customer.id)
    assert (row.internal_ips, row.external_ips) == (18, 4)
    # 12 IPs 54.00 + 10 IPs 45.00
    assert (row.monthly_price, row.average_ip_price) == (D("99.00"), D("4.5000"))
    assert sub.term_end == date(2027, 11, 14) and sub.auto_renew and sub.state == "active"

    services.suspend_service(customer.id, sub.id, SYSTEM, clock, expected_version=sub.version)
    row = db.session.get(Customer, customer.id)
    assert (row.internal_ips, row.external_ips, row.monthly_price) == (10, 2, D("54.00"))
    assert sub.state == "suspended" and sub.suspensions[0].suspended_from == date(2026, 11, 15)

    services.enable_service(customer.id, sub.id, SYSTEM, clock)
    assert (db.session.get(Customer, customer.id).internal_ips, sub.state) == (18, "active")
    assert sub.suspensions[0].suspended_until == date(2026, 11, 14)

    services.set_auto_renew(customer.id, sub.id, False, SYSTEM, clock)
    assert sub.auto_renew is False
    services.end_service(customer.id, sub.id, SYSTEM, clock)
    assert (sub.state, sub.ended_on) == ("ended", date(2026, 11, 15))
    assert db.session.get(Customer, customer.id).internal_ips == 10

    events = db.session.scalars(
        db.select(AuditEvent)
        .where(AuditEvent.action.like("service_subscription.%"))
        .order_by(AuditEvent.id)
    ).all()
    assert [e.action.split(".")[1] for e in events] == [
        "add",
        "suspend",
        "enable",
        "auto_renew",
        "end",
    ]
    assert events[0].before is None and events[0].after["name"] == "Site Hamburg"
    assert (events[1].before["state"], events[1].after["state"]) == ("active", "suspended")
    assert (events[3].before["auto_renew"], events[3].after["auto_renew"]) == (True, False)
    assert all(e.customer_id == customer.id for e in events)


def test_a_customer_with_only_additional_subscriptions_is_active(ready):
    """SPEC §3 status: a current subscription of either kind makes the customer active."""
    app, clock = ready
    customer = factories.customer(app, state="registered")
    assert db.session.get(Customer, customer.id).status == "inactive"
    sub = _add(customer.id, clock)
    assert db.session.get(Customer, customer.id).status == "active"
    services.suspend_service(customer.id, sub.id, SYSTEM, clock)
    assert db.session.get(Customer, customer.id).status == "inactive"


def test_refused_actions_change_nothing(ready):
    """SPEC §4/§11: wrong state, stale form, foreign id, deleted or locked customer."""
    app, clock = ready
    customer = factories.customer(app)
    other = factories.customer(app)
    sub = _add(customer.id, clock)
    stale = sub.version
    services.set_auto_renew(customer.id, sub.id, False, SYSTEM, clock)
    events = _count(AuditEvent)
    with pytest.raises(DomainError, match="Only a suspended"):
        services.enable_service(customer.id, sub.id, SYSTEM, clock)
    with pytest.raises(Conflict):
        services.suspend_service(customer.id, sub.id, SYSTEM, clock, expected_version=stale)
    with pytest.raises(NotFound):
        services.suspend_service(other.id, sub.id, SYSTEM, clock)
    lifecycle.set_locked(customer.id, True, SYSTEM, clock)
    events = _count(AuditEvent)
    with pytest.raises(DomainError, match="locked"):
        _add(customer.id, clock, ServiceInput("Second site", 1, 0, 1))
    services.suspend_service(customer.id, sub.id, SYSTEM, clock)
    with pytest.raises(DomainError, match="locked"):
        services.enable_service(customer.id, sub.id, SYSTEM, clock)
    assert _count(AuditEvent) == events + 1
    lifecycle.set_locked(customer.id, False, SYSTEM, clock)
    lifecycle.mark_for_deletion(customer.id, SYSTEM, clock)
    events = _count(AuditEvent)
    for action in (services.enable_service, services.end_service):
        with pytest.raises(DomainError, match="marked for deletion"):
            action(customer.id, sub.id, SYSTEM, clock)
    assert db.session.get(ServiceSubscription, sub.id).state == "suspended"
    assert _count(AuditEvent) == events


def test_renewal_extends_auto_renewing_terms_and_ends_the_others_once(ready):
    """SPEC §11: auto-renew on → term end += term; off → ended on the term's last day."""
    app, clock = ready
    customer = factories.customer(app)
    renewing = _add(customer.id, clock, ServiceInput("Monthly", 1, 0, 1, True))
    ending = _add(customer.id, clock, ServiceInput("Trial site", 2, 0, 1, False))
    paused = _add(customer.id, clock, ServiceInput("Paused", 3, 0, 1, False))
    services.suspend_service(customer.id, paused.id, SYSTEM, clock)
    clock.instant = berlin(2026, 12, 14, 23, 0)
    assert services.renew_due(clock) == services.RenewalReport(0, 0)
    clock.instant = berlin(2026, 12, 15, 0, 10)
    assert services.renew_due(clock) == services.RenewalReport(renewed=1, ended=2)
    assert db.session.get(ServiceSubscription, renewing.id).term_end == date(2027, 1, 14)
    ended = db.session.get(ServiceSubscription, ending.id)
    assert (ended.state, ended.ended_on) == ("ended", date(2026, 12, 14))
    stopped = db.session.get(ServiceSubscription, paused.id)
    assert stopped.state == "ended" and stopped.suspensions[0].suspended_until == date(2026, 12, 14)
    assert services.renew_due(clock) == services.RenewalReport(0, 0)
    actions = db.session.scalars(
        db.select(AuditEvent.action).where(AuditEvent.action.like("service_subscription.%"))
    ).all()
    assert actions.count("service_subscription.renew") == 1
    assert actions.count("service_subscription.expire") == 2
    assert db.session.get(Customer, customer.id).internal_ips == 10 + 1


def _billing_customers(app, clock, language: str = "en"):
    """Customers with a main subscription since October and one additional subscription each,
    billed for November (30 days)."""
    clock.instant = berlin(2026, 10, 1, 9, 0)
    people = {}
    for name in ("full", "suspended", "ended"):
        people[name] = factories.customer(app, language=language)
        _add(people[name].id, clock)
    clock.instant = berlin(2026, 11, 5, 9, 0)
    sub = _only_service(people["suspended"].id)
    services.suspend_service(people["suspended"].id, sub.id, SYSTEM, clock)
    clock.instant = berlin(2026, 11, 12, 18, 0)
    sub = _only_service(people["ended"].id)
    services.end_service(people["ended"].id, sub.id, SYSTEM, clock)
    clock.instant = berlin(2026, 11, 15, 9, 0)
    sub = _only_service(people["suspended"].id)
    services.enable_service(people["suspended"].id, sub.id, SYSTEM, clock)
    clock.instant = berlin(2026, 11, 21, 9, 0)
    people["mid_month"] = factories.customer(app, state="registered", language=language)
    _add(people["mid_month"].id, clock)
    clock.instant = berlin(2026, 12, 1, 0, 30)
    return {name: c.id for name, c in people.items()}


def test_month_end_bills_each_additional_subscription_by_calendar_days(any_app):
    """SPEC §8.3 / §11: full month, suspended for 10 days, ended mid-month, started mid-month
    (without a main subscription); hand-computed, through the month-end run."""
    app, clock = any_app, any_app.config["CLOCK"]
    factories.reference(app)
    ids = _billing_customers(app, clock)
    run = monthend.start_run(NOV, SYSTEM, clock)
    monthend_work.work(run.run_id, clock)
    main = ("10 internal + 2 external IPs, 11/2026", D("54.00"))
    assert _lines(ids["full"]) == [
        main,
        ("Site Hamburg: 8 internal + 2 external IPs, 11/2026", D("45.00")),
    ]
    # suspended 5–14 November: 20 of 30 days of 45.00
    assert _lines(ids["suspended"])[1] == (
        "Site Hamburg: 8 internal + 2 external IPs, 11/2026 (20/30 days)",
        D("30.00"),
    )
    # ended on 12 November (its last day): 12 of 30 days
    assert _lines(ids["ended"])[1] == (
        "Site Hamburg: 8 internal + 2 external IPs, 11/2026 (12/30 days)",
        D("18.00"),
    )
    # no main subscription, added 21 November: 10 of 30 days; VAT 19 %
    only = db.session.scalar(db.select(Invoice).where(Invoice.customer_id == ids["mid_month"]))
    assert [(line.description, line.amount) for line in only.lines] == [
        ("Site Hamburg: 8 internal + 2 external IPs, 11/2026 (10/30 days)", D("15.00"))
    ]
    assert (only.net, only.vat, only.gross, only.payment_method) == (
        D("15.00"),
        D("2.85"),
        D("17.85"),
        "invoice",
    )
    assert (only.ips_internal, only.ips_external) == (8, 2)
    full = db.session.scalar(db.select(Invoice).where(Invoice.customer_id == ids["full"]))
    assert (full.net, full.ips_internal, full.ips_external) == (D("99.00"), 18, 4)


def test_invoice_lines_are_in_german_for_german_customers(app):
    """SPEC §13 i18n: the invoice line of an additional subscription in German."""
    factories.reference(app)
    clock = app.config["CLOCK"]
    ids = _billing_customers(app, clock, language="de")
    draft_invoice(ids["full"], NOV, clock)
    draft_invoice(ids["suspended"], NOV, clock)
    assert _lines(ids["full"])[1] == (
        "Site Hamburg: 8 interne + 2 externe IPs, 11/2026",
        D("45.00"),
    )
    assert _lines(ids["suspended"])[1] == (
        "Site Hamburg: 8 interne + 2 externe IPs, 11/2026 (20/30 Tage)",
        D("30.00"),
    )


def test_customer_price_and_a_whole_month_suspended(app):
    """SPEC §5/§11: the customer's own price per IP applies; a subscription suspended for the
    whole month adds nothing, and a customer with nothing else gets no invoice."""
    factories.reference(app)
    clock = app.config["CLOCK"]
    clock.instant = berlin(2026, 10, 1, 9, 0)
    priced = factories.customer(app)
    lifecycle.set_customer_price(priced.id, "2.00", SYSTEM, clock)
    _add(priced.id, clock)
    idle = factories.customer(app, state="registered")
    sub = _add(idle.id, clock)
    clock.instant = berlin(2026, 10, 31, 9, 0)
    services.suspend_service(idle.id, sub.id, SYSTEM, clock)
    clock.instant = berlin(2026, 12, 1, 0, 30)
    assert draft_invoice(priced.id, NOV, clock).net == D("44.00")  # 12 × 2.00 + 10 × 2.00
    assert draft_invoice(idle.id, NOV, clock) is None


def test_the_month_end_run_renews_or_ends_terms_before_drafting(app):
    """SPEC §8 step 1 / §11: the run ends a term that will not renew and renews the others;
    the month is billed in full either way."""
    factories.reference(app)
    clock = app.config["CLOCK"]
    clock.instant = berlin(2026, 10, 1, 9, 0)
    customer = factories.customer(app, state="registered")
    stays = _add(customer.id, clock, ServiceInput("Renews", 1, 0, 1, True))
    goes = _add(customer.id, clock, ServiceInput("Ends", 2, 0, 1, True))
    clock.instant = berlin(2026, 11, 1, 9, 0)
    assert services.renew_due(clock) == services.RenewalReport(renewed=2, ended=0)
    assert db.session.get(ServiceSubscription, goes.id).term_end == date(2026, 11, 30)
    services.set_auto_renew(customer.id, goes.id, False, SYSTEM, clock)
    clock.instant = berlin(2026, 12, 1, 0, 30)
    run = monthend.start_run(NOV, SYSTEM, clock)
    monthend_work.work(run.run_id, clock)
    assert db.session.get(ServiceSubscription, stays.id).term_end == date(2026, 12, 31)
    ended = db.session.get(ServiceSubscription, goes.id)
    assert (ended.state, ended.ended_on) == ("ended", date(2026, 11, 30))
    assert [amount for _text, amount in _lines(customer.id)] == [D("9.00"), D("4.50")]


@pytest.mark.fresh_database
def test_batch_drafting_reads_additional_subscriptions_with_one_query(app):
    """Issue 7.5 / SPEC §13 performance: a batch costs the same number of queries however many
    of its customers have additional subscriptions (no query per customer)."""
    factories.reference(app)
    clock = app.config["CLOCK"]
    clock.instant = berlin(2026, 10, 1, 9, 0)
    plain = [factories.customer(app).id for _ in range(3)]
    extra = [factories.customer(app).id for _ in range(3)]
    for number, customer_id in enumerate(extra):
        _add(customer_id, clock, ServiceInput(f"Site {number}", 1 + number, 1, 12))
        _add(customer_id, clock, ServiceInput(f"Branch {number}", 2, 0, 1))
    sub = db.session.scalars(db.select(ServiceSubscription)).first()
    services.suspend_service(sub.customer_id, sub.id, SYSTEM, clock)
    clock.instant = berlin(2026, 12, 1, 0, 30)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        draft_batch(plain, NOV, clock, memo={})
        db.session.rollback()
        without = len(statements)
        statements.clear()
        draft_batch(extra, NOV, clock, memo={})
        with_services = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    db.session.commit()
    assert with_services == without
    assert _count(Invoice) == 3
    assert sum(1 for s in statements if "service_subscription" in s) == 1
    assert _count(ServiceSuspension) == 1


def test_erasing_a_deleted_customer_ends_its_subscriptions_at_month_end(app):
    """SPEC §4 Delete: subscriptions run to the end of the billing period, also additional
    ones."""
    from billing.customers.deletion import erase_customer

    factories.reference(app)
    clock = app.config["CLOCK"]
    customer = factories.customer(app)
    sub = _add(customer.id, clock)
    lifecycle.mark_for_deletion(customer.id, SYSTEM, clock)
    erase_customer(customer.id, {"company": "x", "recipients": []}, clock)
    ended = db.session.get(ServiceSubscription, sub.id)
    assert (ended.state, ended.ended_on) == ("ended", date(2026, 11, 30))


def test_a_new_tier_table_reprices_customers_with_additional_subscriptions(ready):
    """SPEC §5: saving prices reprices the list at once, additional subscriptions included."""
    from billing.catalog.pricing import Tier
    from billing.catalog.selfservice import save_tiers

    app, clock = ready
    customer = factories.customer(app, internal=10, external=2)
    _add(customer.id, clock)
    save_tiers([Tier(1, None, D("1.00"))], SYSTEM, clock)
    # 12 IPs + 10 IPs at 1.00
    assert db.session.get(Customer, customer.id).monthly_price == D("22.00")
