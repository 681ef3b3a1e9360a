"""The customer portal walked in the browser with real services (issue 6 "done when"; SPEC §4,
§6, §10): self-register → confirm (the e-mail read from the SMTP sink) → add a card through
localstripe's Stripe.js → raise the IPs (price preview shown) → invite a team member → the
member accepts and signs in → the main user disables them → they are signed out; and a managed
customer sees its subscription read-only but gives its card.

The live server is the lifecycle walk's (tests/e2e/lifecycle_fixtures.py: its own database, a
real Redis, a real RQ worker for the e-mails, the SMTP sink), pointed at the suite's
``localstripe`` with both Stripe keys saved, card payment active and self-registration open.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from babel.dates import format_date
from babel.numbers import format_currency
from playwright.sync_api import Page, expect

from billing.catalog.selfservice import save_self_service
from billing.customers import customers as lifecycle
from billing.customers.customers import NewCustomer
from billing.kernel.audit import SYSTEM
from billing.subscriptions.own_subscription import preview_own_change
from models import Customer, Subscription, User, db
from tests.e2e.helpers import enter_test_card, portal_sign_in
from tests.e2e.lifecycle_fixtures import (  # noqa: F401 - fixtures
    LifecycleServer,
    lifecycle_server,
    open_context,
)
from tests.support.cards import stripe_on

pytestmark = pytest.mark.browser

OWNER = "Paula Portal"
OWNER_EMAIL = "paula@portal-gmbh.example"
OWNER_PASSWORD = "Portal-Passwort-1"
COMPANY = "Portal GmbH"
MEMBER = "Max Member"
MEMBER_EMAIL = "max@portal-gmbh.example"
MEMBER_PASSWORD = "Member-Passwort-2"
SIGN_IN = re.compile(r"/portal/login(\?.*)?$")


@pytest.fixture
def portal_server(lifecycle_server, localstripe) -> LifecycleServer:  # noqa: F811
    app = lifecycle_server.app
    with app.app_context():
        stripe_on(app, localstripe)
        save_self_service(True, "Vulnerability scanning", "VS-100", SYSTEM, lifecycle_server.clock)
        db.session.remove()
    return lifecycle_server


def expect_flash(page: Page, text: str, kind: str = "success") -> None:
    expect(page.locator(f".alert-{kind}").filter(has_text=text)).to_be_visible()


def link_in(text: str, path: str) -> str:
    match = re.search(rf"https?://\S+{re.escape(path)}\S+", text)
    assert match, f"no {path} link in:\n{text}"
    return match.group(0)


def set_total(page: Page, total: int, internal: int) -> None:
    """Type the total and move the slider the way a user does; the boxes follow."""
    page.locator("#total_ips").fill(str(total))
    page.locator("#split").fill(str(internal))
    expect(page.locator("#internal_ips")).to_have_value(str(internal))
    expect(page.locator("#external_ips")).to_have_value(str(total - internal))


def expect_preview(page: Page, server: LifecycleServer, internal: int, external: int, instantly):
    with server.app.app_context():
        customer_id = db.session.scalar(
            db.select(Customer.id).where(Customer.contact_email == OWNER_EMAIL)
        )
        plan = preview_own_change(customer_id, internal, external, instantly, server.clock)
        db.session.remove()
    expect(page.locator('[data-preview="new_price"]')).to_have_text(
        format_currency(plan.new_price, "EUR", locale="en")
    )
    expect(page.locator('[data-preview="prorated_amount"]')).to_have_text(
        format_currency(plan.prorated_amount, "EUR", locale="en")
    )
    expect(page.locator('[data-preview="effective_date"]')).to_have_text(
        format_date(plan.effective_date, "long", locale="en")
    )
    assert plan.prorated_amount > Decimal("0")
    return plan


def subscription_of(server: LifecycleServer) -> tuple[int, int, str]:
    with server.app.app_context():
        sub = db.session.scalar(
            db.select(Subscription)
            .join(Customer, Customer.id == Subscription.customer_id)
            .where(Customer.contact_email == OWNER_EMAIL, Subscription.state == "active")
        )
        result = (sub.internal_ips, sub.external_ips, sub.payment_method)
        db.session.remove()
        return result


def test_self_registration_card_ips_and_team(portal_server, open_context):  # noqa: F811
    server = portal_server
    owner = open_context().new_page()

    # --- register: the form, then the confirmation e-mail from the sink ------------------------
    owner.goto("/portal/login")
    owner.locator("#portal-register-link a").click()
    expect(owner).to_have_url(re.compile(r"/portal/register$"))
    owner.locator("#contact_name").fill(OWNER)
    owner.locator("#email").fill(OWNER_EMAIL)
    owner.locator("#company_name").fill(COMPANY)
    owner.locator("#street").fill("Portalweg 5")
    owner.locator("#postal_code").fill("20095")
    owner.locator("#city").fill("Hamburg")
    owner.locator("#accept_terms").check()
    owner.locator("#register-form button[type=submit]").click()
    expect(owner.locator("h1")).to_have_text("Please confirm your e-mail address")

    server.run_worker()
    (confirmation,) = server.wait_for_mails(1)
    assert confirmation.to == (OWNER_EMAIL,) and "confirm" in confirmation.subject.lower()
    owner.goto(link_in(confirmation.text, "/portal/register/confirm/"))
    owner.locator("#confirm-form #password").fill(OWNER_PASSWORD)
    owner.locator("#confirm-form #password_again").fill(OWNER_PASSWORD)
    owner.locator("#confirm-form button[type=submit]").click()
    expect(owner).to_have_url(SIGN_IN)
    expect_flash(owner, "Your e-mail address is confirmed.")
    expect(owner.locator("#email")).to_have_value(OWNER_EMAIL)
    owner.locator("#password").fill(OWNER_PASSWORD)
    with owner.expect_navigation():
        owner.locator("#portal-login-form button[type=submit]").click()

    # --- the free trial: figures and article, and a card is needed -----------------------------
    owner.goto("/portal/subscription")
    expect(owner.locator('[data-figure="internal_ips"]')).to_have_text("4")
    expect(owner.locator('[data-figure="external_ips"]')).to_have_text("1")
    expect(owner.locator('[data-figure="payment_method"]')).to_have_text("Free")
    expect(owner.locator("#article-number")).to_have_text("VS-100")
    expect(owner.locator("#trial-note")).to_be_visible()
    expect(owner.locator("#card-needed")).to_be_visible()

    # --- add a card through Stripe.js (localstripe's, served from STRIPE_API_BASE) -------------
    owner.goto("/portal/payment")
    expect(owner.locator("#no-card")).to_be_visible()
    enter_test_card(owner)
    expect_flash(owner, "ending in 4242 is saved")
    expect(owner.locator('[data-card="last4"]')).to_have_text("4242")
    expect(owner.locator("#card-on-file")).to_contain_text("expires 12/2030")

    # --- end the trial: 20 IPs paid by card from today (preview first) ------------------------
    owner.goto("/portal/subscription")
    expect(owner.locator("#card-needed")).to_have_count(0)
    expect(owner.locator("#instantly-group")).to_be_hidden()  # a paid start applies today
    set_total(owner, 20, 15)
    expect_preview(owner, server, 15, 5, False)
    expect(owner.locator('[data-preview="note"]')).to_have_text("Starts a new subscription today.")
    owner.locator("#ip-distribution-form button[type=submit]").click()
    expect_flash(owner, "A new subscription starts today.")
    expect(owner.locator('[data-figure="payment_method"]')).to_have_text("Credit card")
    assert subscription_of(server) == (15, 5, "card")

    # --- raise the IPs instantly: the preview shows this month's prorated amount --------------
    set_total(owner, 50, 40)
    expect(owner.locator("#instantly-group")).to_be_visible()
    owner.locator("#instantly").check()
    expect_preview(owner, server, 40, 10, True)
    expect(owner.locator('[data-preview="note"]')).to_have_text("Applies immediately.")
    owner.locator("#ip-distribution-form button[type=submit]").click()
    expect_flash(owner, "The new IP distribution applies now.")
    expect(owner.locator('[data-figure="total_ips"]')).to_have_text("50")
    assert subscription_of(server) == (40, 10, "card")

    # --- invite a team member; they accept and sign in ---------------------------------------
    owner.goto("/portal/team")
    owner.locator("#portal-invite-form #name").fill(MEMBER)
    owner.locator("#portal-invite-form #email").fill(MEMBER_EMAIL)
    owner.locator("#portal-invite-form button[type=submit]").click()
    expect_flash(owner, f"{MEMBER_EMAIL} has been invited.")
    server.run_worker()
    invite = server.wait_for_mails(2)[1]
    assert invite.to == (MEMBER_EMAIL,)

    member = open_context().new_page()
    member.goto(link_in(invite.text, "/portal/invite/"))
    member.locator("#password").fill(MEMBER_PASSWORD)
    member.locator("#password_again").fill(MEMBER_PASSWORD)
    member.locator("#invite-form button[type=submit]").click()
    expect(member).to_have_url(SIGN_IN)
    portal_sign_in(member, MEMBER_EMAIL, MEMBER_PASSWORD)
    member.goto("/portal/subscription")
    expect(member.locator('[data-figure="total_ips"]')).to_have_text("50")  # shared

    # --- the main user disables the member: their session ends at once ------------------------
    owner.goto("/portal/team")
    row = owner.locator("#portal-team tr", has_text=MEMBER_EMAIL)
    row.locator("button[data-action=disable]").click()
    expect(owner.locator("#portal-team tr", has_text=MEMBER_EMAIL)).to_have_attribute(
        "data-state", "disabled"
    )
    member.goto("/portal/subscription")
    expect(member).to_have_url(SIGN_IN)
    with server.app.app_context():
        assert db.session.scalar(db.select(User.enabled).where(User.email == MEMBER_EMAIL)) is False
        db.session.remove()


def test_a_managed_customer_sees_the_subscription_read_only_and_gives_its_card(
    portal_server,
    open_context,  # noqa: F811
):
    server = portal_server
    with server.app.app_context():
        customer, token = lifecycle.create_customer(
            NewCustomer(
                company_name="Managed AG",
                contact_name="Mia Managed",
                contact_email="mia@managed.example",
            ),
            SYSTEM,
            server.clock,
        )
        lifecycle.accept_invite(token, OWNER_PASSWORD, OWNER_PASSWORD, server.clock)
        lifecycle.start_subscription(customer.id, 30, 5, "invoice", SYSTEM, server.clock)
        db.session.remove()
    page = open_context().new_page()
    portal_sign_in(page, "mia@managed.example", OWNER_PASSWORD)
    page.goto("/portal/subscription")
    expect(page.locator('[data-figure="internal_ips"]')).to_have_text("30")
    expect(page.locator("#managed-note")).to_contain_text("contact your provider")
    expect(page.locator("#ip-distribution-form")).to_have_count(0)
    page.goto("/portal/payment")
    expect(page.locator("#managed-note")).to_have_count(0)
    enter_test_card(page)
    expect_flash(page, "ending in 4242 is saved")
    expect(page.locator('[data-card="last4"]')).to_have_text("4242")
