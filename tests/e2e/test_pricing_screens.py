"""Prices, project keys and payment methods in a real browser (SPEC §5, §6; seed 3.2.6).

These tests change data (the tier table, a redeemed key, the Stripe keys), so the module runs
its own live server: a copy of the run's demo database, ``STRIPE_API_BASE``
pointing at the suite's ``localstripe``. ``live_server`` and ``admin_cookies`` are overridden
here (module scope); the shared ``context``, ``page`` and ``staff_page`` fixtures of
tests/e2e/conftest.py then use them. Every expectation is computed from the database at the
time of the test, so the tests do not depend on their order.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from babel.numbers import parse_decimal
from playwright.sync_api import Page, expect
from sqlalchemy import select

from billing.catalog.pricing import Tier, average_ip_price, load_tiers, monthly_price
from billing.kernel.clock import FixedClock, add_months, shift_months
from models import (
    Customer,
    CustomerStatus,
    PriceBasis,
    ProjectKey,
    ServiceMode,
    Setting,
    Subscription,
    SubscriptionState,
    db,
)
from seed.demo import DEMO_KEYS
from tests.conftest import berlin
from tests.e2e.conftest import DEMO_ADMIN, LiveServer, serving
from tests.e2e.helpers import CUSTOMERS, exactly, search, sign_in, table_rows
from tests.support.demo import app_on_copy

pytestmark = pytest.mark.browser

HALF_CENT = Decimal("0.005")
SECRET = "sk_test_pricingScreens4321"
PUBLISHABLE = "pk_test_pricingScreens8765"


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_server(demo_database, tmp_path_factory, localstripe) -> LiveServer:
    """This module's own app on a copy of the demo database, talking to the local Stripe
    server."""
    clock = FixedClock(berlin(2026, 11, 15, 10, 0))
    path = tmp_path_factory.mktemp("e2e-pricing") / "pricing.db"
    app = app_on_copy(demo_database, path, clock, STRIPE_API_BASE=localstripe.url)
    with serving(app, clock, "e2e-pricing-server") as server:
        yield server


@pytest.fixture(scope="module")
def admin_cookies(browser, live_server) -> list:
    """The demo ``admin`` (seed/demo.py DEMO_STAFF) signed in once on this module's server."""
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    try:
        page = context.new_page()
        sign_in(page, DEMO_ADMIN[0], DEMO_ADMIN[2])
        expect(page).to_have_url(re.compile(r"/admin/$"))
        return context.cookies()
    finally:
        context.close()


# --- helpers --------------------------------------------------------------------------------


def open_menu(page: Page, category: str, item: str, path: str) -> None:
    """Click ``category`` in the top navigation, then ``item`` in its dropdown."""
    page.goto("/admin/")
    page.locator("nav a.dropdown-toggle").filter(has_text=exactly(category)).click()
    with page.expect_navigation():
        page.locator(".dropdown-menu.show a.dropdown-item").filter(has_text=exactly(item)).click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def alert(page: Page, kind: str, text: str):
    return page.locator(f".alert.alert-{kind}").filter(has_text=text)


def shown_money(text: str) -> Decimal | None:
    """An amount as the English list shows it ("€3.45", "–" for none)."""
    if text == "–":
        return None
    number = re.fullmatch(r"[^\d-]*(-?\d[\d,]*\.\d{2})[^\d]*", text)
    assert number, f"not a money amount: {text!r}"
    return parse_decimal(number.group(1), locale="en_US")


def list_row(page: Page, company: str) -> dict:
    """The customer list row of ``company``, found through the search box."""
    page.goto(CUSTOMERS)
    search(page, company)
    rows = [r for r in table_rows(page) if r["company"] == company]
    assert len(rows) == 1, f"{company} not found once in the list"
    return rows[0]


def tier_priced_customers(live_server) -> list[tuple[int, str, int]]:
    """(id, company, total IPs) of active customers whose price comes from the tier table."""
    with live_server.app.app_context():
        rows = db.session.execute(
            select(Customer.id, Customer.company_name, Customer.internal_ips, Customer.external_ips)
            .join(Subscription, Subscription.customer_id == Customer.id)
            .where(
                Subscription.state == SubscriptionState.ACTIVE.value,
                Subscription.price_basis == PriceBasis.TIERS.value,
                Customer.status == CustomerStatus.ACTIVE.value,
                Customer.marked_for_deletion_at.is_(None),
            )
            .order_by(Customer.company_name)
        ).all()
        return [(r.id, r.company_name, r.internal_ips + r.external_ips) for r in rows]


def current_tiers(live_server) -> list[Tier]:
    with live_server.app.app_context():
        return load_tiers()


def tier_inputs(page: Page, row: int):
    cells = page.locator("#tier-table tbody tr").nth(row)
    return (
        cells.locator("input[name=lower]"),
        cells.locator("input[name=upper]"),
        cells.locator("input[name=price]"),
    )


# --- Self-Service (SPEC §5) ----------------------------------------------------------------


def test_new_first_range_price_is_previewed_saved_and_reprices_the_list(staff_page, live_server):
    """SPEC §5: Billing → Self-Service; a new price for the first range is previewed (what
    current customers would pay), saved, and the list's Average IP Price follows the graduated
    table (sum over the ranges needed to reach N, ÷ N)."""
    page = staff_page
    old_tiers = current_tiers(live_server)
    new_price = old_tiers[0].unit_price + Decimal("0.50")
    new_tiers = [Tier(old_tiers[0].lower, old_tiers[0].upper, new_price), *old_tiers[1:]]
    _id, company, total_ips = tier_priced_customers(live_server)[0]
    before = shown_money(list_row(page, company)["average_ip_price"])

    open_menu(page, "Billing", "Self-Service", "/admin/self-service/")
    expect(page.locator("h1")).to_have_text("Self-Service")
    expect(page.locator("#save-prices")).to_have_count(0)
    price_box = tier_inputs(page, 0)[2]
    assert Decimal(price_box.input_value()) == old_tiers[0].unit_price
    price_box.fill(str(new_price))
    page.get_by_role("button", name="Preview").click()

    preview = page.locator("#price-preview")
    expect(preview).to_be_visible()
    expect(preview).to_contain_text("What current customers would pay")
    expect(preview.locator("tbody tr.table-warning").first).to_be_visible()
    old_monthly = monthly_price(total_ips, old_tiers)
    new_monthly = monthly_price(total_ips, new_tiers)
    assert new_monthly > old_monthly
    row = preview.locator("tbody tr").filter(
        has=page.locator("td:first-child", has_text=exactly(str(total_ips)))
    )
    expect(row.locator("td")).to_have_text(
        [
            str(total_ips),
            re.compile(r"^\d+$"),
            str(old_monthly),
            str(new_monthly),
            f"{new_monthly - old_monthly:+.2f}",
        ]
    )
    assert current_tiers(live_server) == old_tiers, "a preview saves nothing"

    page.locator("#save-prices").click()
    expect(alert(page, "success", "The sales prices were saved;")).to_be_visible()
    expect(page.locator("#price-preview")).to_have_count(0)
    assert current_tiers(live_server) == new_tiers
    assert Decimal(tier_inputs(page, 0)[2].input_value()) == new_price

    after = shown_money(list_row(page, company)["average_ip_price"])
    expected = average_ip_price(new_monthly, total_ips)
    assert abs(after - expected) <= HALF_CENT, (company, total_ips, after, expected)
    assert after > before


def test_a_gap_between_ranges_is_refused_and_nothing_is_saved(staff_page, live_server):
    """SPEC §5 (and README "Prices and payment methods"): ranges must follow each other without
    gap; a second range starting one too high is refused by Preview and by Save prices."""
    page = staff_page
    tiers = current_tiers(live_server)
    assert len(tiers) >= 2 and tiers[0].upper is not None
    gap_start = str(tiers[0].upper + 2)
    message = (
        "The ranges must follow each other without gap or overlap "
        f"(after {tiers[0].upper} comes {tiers[0].upper + 1})."
    )

    open_menu(page, "Billing", "Self-Service", "/admin/self-service/")
    lower = tier_inputs(page, 1)[0]
    lower.fill(gap_start)
    page.get_by_role("button", name="Preview").click()
    expect(alert(page, "danger", message)).to_be_visible()
    expect(page.locator("#price-preview")).to_have_count(0)
    expect(page.locator("#save-prices")).to_have_count(0)
    expect(tier_inputs(page, 1)[0]).to_have_value(gap_start)
    assert current_tiers(live_server) == tiers

    # A valid preview first, then the gap typed in before "Save prices": still refused.
    tier_inputs(page, 1)[0].fill(str(tiers[1].lower))
    tier_inputs(page, 1)[2].fill(str(tiers[1].unit_price + 1))
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#price-preview")).to_be_visible()
    tier_inputs(page, 1)[0].fill(gap_start)
    page.locator("#save-prices").click()
    expect(alert(page, "danger", message)).to_be_visible()
    expect(alert(page, "success", "saved")).to_have_count(0)
    assert current_tiers(live_server) == tiers


# --- Add project key (seed 3.2.6) -----------------------------------------------------------


def key_customer(live_server, ip_count: int) -> tuple[int, str]:
    """A managed, active, tier-priced customer with fewer IPs than the key (so the summary
    offers "Perform action instantly")."""
    with live_server.app.app_context():
        managed = {
            cid
            for cid in db.session.scalars(
                select(Customer.id).where(Customer.service_mode == ServiceMode.MANAGED.value)
            )
        }
    candidates = [
        (cid, company)
        for cid, company, total in tier_priced_customers(live_server)
        if cid in managed and 0 < total < ip_count
    ]
    assert candidates, "the demo has a managed customer with fewer IPs than the key"
    return candidates[0]


def open_key_wizard(page: Page, customer_id: int, company: str) -> None:
    """Customer list → row menu (⋮) → "Add project key"."""
    page.goto(CUSTOMERS)
    search(page, company)
    page.locator(f"[data-row-menu='{customer_id}']").click()
    menu = page.locator(".msp-row-menu").filter(
        has=page.locator(f"[data-row-menu='{customer_id}']")
    )
    with page.expect_navigation():
        menu.locator("a[data-action=add_project_key]").click()
    expect(page.locator("h1")).to_have_text("Add project key")
    expect(page.locator("#project-key-form")).to_have_attribute("data-step", "key")


def next_step(page: Page, step: str) -> None:
    with page.expect_navigation():
        page.locator("#wizard-next").click()
    expect(page.locator("#project-key-form")).to_have_attribute("data-step", step)


def test_unknown_project_key_is_refused(staff_page, live_server):
    """Seed 3.2.6 (README "Customer actions", Add project key): an unknown key is refused and
    the wizard stays on the key step."""
    page = staff_page
    customer_id, company = key_customer(live_server, 10**6)
    open_key_wizard(page, customer_id, company)
    page.locator("#key").fill("DEMO-PK-9999")
    next_step(page, "key")
    expect(alert(page, "danger", "This project key is unknown.")).to_be_visible()
    expect(page.locator("#key")).to_have_value("DEMO-PK-9999")
    expect(page.locator("#key-overview")).to_have_count(0)


def test_project_key_wizard_redeems_a_demo_key(staff_page, live_server):
    """Seed 3.2.6 (README "Customer actions", Add project key; SPEC §4 payment methods): key →
    overview → selling price → split (slider and boxes add up to the key's IPs) → summary with
    "Perform action instantly" → Finish; the customer pays by Project Key and the key is
    Redeemed on Billing → Project Keys."""
    page = staff_page
    key, ips, months, purchase = next(k for k in DEMO_KEYS if k[0] == "DEMO-PK-0250")
    customer_id, company = key_customer(live_server, ips)
    selling = Decimal("4800.00")
    internal, external = ips - 70, 70

    open_key_wizard(page, customer_id, company)
    page.locator("#key").fill(key.lower())
    next_step(page, "price")
    overview = page.locator("#key-overview")
    expect(overview.locator("code")).to_have_text(key)
    expect(overview.locator("[data-overview=ip_count]")).to_have_text(str(ips))
    expect(overview.locator("[data-overview=runtime]")).to_have_text(str(months))
    expect(overview.locator("[data-overview=purchase_price]")).to_have_text(purchase)

    page.locator("#selling_price").fill(str(selling))
    next_step(page, "split")
    slider = page.locator("#split")
    inside, outside = page.locator("#internal_ips"), page.locator("#external_ips")
    expect(inside).to_have_value(str(ips))
    expect(outside).to_have_value("0")
    expect(slider).to_have_value(str(ips))
    slider.fill("200")
    expect(inside).to_have_value("200")
    expect(outside).to_have_value(str(ips - 200))
    slider.focus()
    slider.press("ArrowLeft")
    expect(inside).to_have_value("199")
    expect(outside).to_have_value(str(ips - 199))
    outside.fill(str(external))
    expect(inside).to_have_value(str(internal))
    expect(slider).to_have_value(str(internal))
    inside.fill("300")  # more than the key: the other box never goes below zero
    expect(outside).to_have_value("0")
    inside.fill(str(internal))
    expect(outside).to_have_value(str(external))
    expect(slider).to_have_value(str(internal))

    next_step(page, "summary")
    summary = page.locator("#key-summary")
    expect(summary).to_contain_text(key)
    expect(summary).to_contain_text(f"{internal} / {external}")
    monthly = (selling / months).quantize(Decimal("0.01"))
    expect(summary.locator("[data-summary=monthly_price]")).to_have_text(f"€{monthly:,.2f}")
    # More IPs than now: without "instantly" the key would start on the 1st of next month.
    today = live_server.clock.today()
    first_of_next = add_months(today.replace(day=1), 1)
    expect(summary.locator("[data-summary=period]")).to_contain_text(
        f"{first_of_next:%b} {first_of_next.day}, {first_of_next.year}"
    )
    instantly = page.get_by_label("Perform action instantly")
    expect(instantly).to_be_visible()
    expect(instantly).not_to_be_checked()
    instantly.check()
    expect(page.locator("#wizard-next")).to_have_text("Finish")
    with page.expect_navigation():
        page.locator("#wizard-next").click()
    ends = shift_months(today, months) - timedelta(days=1)

    def day(value) -> str:
        return f"{value:%B} {value.day}, {value.year}"

    expect(
        alert(
            page, "success", f"Project key {key} added: {ips} IPs from {day(today)} to {day(ends)}."
        )
    ).to_be_visible()

    row = list_row(page, company)
    assert row["payment_method"] == "Project Key"
    assert (row["internal_ips"], row["external_ips"]) == (str(internal), str(external))
    assert shown_money(row["average_ip_price"]) is not None

    open_menu(page, "Billing", "Project Keys", "/admin/project_key/")
    search(page, key)
    key_row = page.locator("table.model-list tbody tr").filter(has_text=key)
    expect(key_row).to_have_count(1)
    expect(key_row.locator("td.col-state")).to_have_text("Redeemed")
    expect(key_row.locator("td.col-customer_id")).to_have_text(company)
    with live_server.app.app_context():
        stored = db.session.scalar(select(ProjectKey).where(ProjectKey.key == key))
        assert (stored.state, stored.customer_id) == ("redeemed", customer_id)
        assert stored.selling_price == selling


# --- Payment Methods (SPEC §6) --------------------------------------------------------------


def card_badge(page: Page):
    return page.locator("#payment-methods tr[data-method=card] .badge")


def toggle_card(page: Page) -> None:
    with page.expect_navigation():
        page.locator("#payment-methods tr[data-method=card] button[type=submit]").click()


def save_keys(page: Page, secret: str, publishable: str) -> None:
    page.locator("#secret_key").fill(secret)
    page.locator("#publishable_key").fill(publishable)
    with page.expect_navigation():
        page.locator("#stripe-keys-form button[type=submit]").click()


def stored_settings(live_server) -> dict:
    with live_server.app.app_context():
        return {
            s.key: s.value
            for s in db.session.scalars(select(Setting).where(Setting.key.like("stripe.%")))
        }


def test_credit_card_needs_both_stripe_keys_checked_against_stripe(staff_page, live_server):
    """SPEC §6: Credit card cannot be activated without both keys; a publishable key in ApiKey
    is refused with a clear message; real test keys are checked against (local) Stripe, the
    secret is then only shown masked, and Credit card can be activated."""
    page = staff_page
    open_menu(page, "Billing", "Payment Methods", "/admin/payment-methods/")
    expect(page.locator("h1")).to_have_text("Payment Methods")
    card = page.locator("#payment-methods tr[data-method=card]")
    expect(card.locator("td").first).to_have_text("Credit card")
    expect(card_badge(page)).to_have_text("Inactive")

    toggle_card(page)
    expect(
        alert(page, "danger", "Credit card payment needs the Stripe secret key and publishable key")
    ).to_be_visible()
    expect(card_badge(page)).to_have_text("Inactive")

    save_keys(page, PUBLISHABLE, PUBLISHABLE)
    expect(page.locator("[data-error-for=secret_key]")).to_have_text(
        "This is a publishable key; the ApiKey field needs the secret key (sk_…)."
    )
    expect(page.locator("#secret_key")).to_have_value("")
    assert stored_settings(live_server).get("stripe.secret_key", "") == ""
    toggle_card(page)
    expect(alert(page, "danger", "needs the Stripe secret key")).to_be_visible()
    expect(card_badge(page)).to_have_text("Inactive")

    save_keys(page, SECRET, PUBLISHABLE)
    expect(alert(page, "success", "Stripe accepted the keys; they were saved.")).to_be_visible()
    expect(page.locator("[data-error-for]")).to_have_count(0)
    expect(page.locator("#secret_key")).to_have_value("")
    expect(page.locator("#publishable_key")).to_have_value(PUBLISHABLE)
    form = page.locator("#stripe-keys-form")
    expect(form).to_contain_text(f"Stored: ••••••••{SECRET[-4:]}")
    assert SECRET not in page.content()
    stored = stored_settings(live_server)
    assert stored["stripe.publishable_key"] == PUBLISHABLE
    assert stored["stripe.secret_key"] and SECRET not in stored["stripe.secret_key"]

    toggle_card(page)
    expect(alert(page, "success", "Credit card is active.")).to_be_visible()
    expect(card_badge(page)).to_have_text("Active")
    expect(card.locator("button[type=submit]")).to_have_text("Deactivate")
