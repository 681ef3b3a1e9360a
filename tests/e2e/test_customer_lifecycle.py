"""A new customer's whole life as staff walk it in the browser, with real services (SPEC §4, §7).

The live server has a database of its own (tests/e2e/lifecycle_fixtures.py), a real Redis, a
real RQ worker process (``flask worker --burst``) and an SMTP sink: the invite and the deletion
confirmations are read from the sink exactly as they were delivered.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import func, select

from billing.customers import lifecycle, lookup, onboarding
from billing.customers.onboarding import NewCustomer
from billing.kernel.audit import SYSTEM
from models import AuditEvent, Customer, ScheduledChange, Subscription, db
from tests.e2e.helpers import CUSTOMERS, portal_sign_in, sign_in
from tests.e2e.lifecycle_fixtures import (  # noqa: F401 - fixtures
    SENDER,
    LifecycleServer,
    lifecycle_server,
    open_context,
)

pytestmark = pytest.mark.browser

COMPANY = "Nordlicht Logistik GmbH"
CONTACT = "Jana Nordmann"
CONTACT_EMAIL = "jana.nordmann@nordlicht.example"
CUSTOMER_PASSWORD = "Nordlicht-Passwort-7"
PORTAL_SIGN_IN = re.compile(r"/portal/login(\?.*)?$")
# German portal texts (the customer's language; translations/de/LC_MESSAGES/messages.po)
DE_ACTIVATE = "Konto aktivieren"
DE_ACTIVE_SIGN_IN = "Ihr Konto ist aktiv. Bitte melden Sie sich an."
DE_LOCKED_LOGIN = (
    "Das Konto Ihres Unternehmens ist gesperrt, daher können Sie sich nicht anmelden. "
    "Bitte wenden Sie sich an Ihren Anbieter: billing@msp.example."
)
DE_BAD_LOGIN = "E-Mail-Adresse oder Passwort ist falsch."
DE_NO_SUBSCRIPTION = "Kein aktives Abonnement."


# --- what the staff member does ---------------------------------------------------------------


def customer_row(page: Page, company: str = COMPANY) -> Locator:
    return page.locator("table.model-list tbody tr").filter(
        has=page.locator("td.col-company_name strong", has_text=company)
    )


def open_customers(page: Page) -> None:
    page.goto(CUSTOMERS)
    expect(page.locator("h1")).to_have_text("Customers")


def row_action(page: Page, action: str, company: str = COMPANY) -> None:
    """Open the row's three-dots menu (⋮) and choose ``action`` (its ``data-action``).

    The item is picked with the keyboard (arrow keys, Enter), which the Bootstrap dropdown
    supports: the menu opens inside the list's ``.table-responsive`` box (overflow: auto),
    which clips it when the list has only a few rows, and scrolling that box makes the menu
    chase the scroll, so a mouse click on a lower item is unreliable (reported as an app bug).

    Waits for the list's scripts before opening the menu, and for the target's load event, so
    its scripts (confirm prompts, the IP Distribution sync and preview) are in place.
    """
    page.wait_for_load_state()
    row = customer_row(page, company)
    row.locator("[data-row-menu]").click()
    items = row.locator(".dropdown-menu .dropdown-item")
    item = items.and_(page.locator(f"[data-action={action}]"))
    expect(item).to_be_visible()
    position = items.evaluate_all("els => els.map(e => e.dataset.action)").index(action)
    for _ in range(position + 1):
        page.keyboard.press("ArrowDown")
    expect(item).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")


def expect_row(
    page: Page, status: str, label: str, internal: str, external: str, company: str = COMPANY
) -> None:
    row = customer_row(page, company)
    badge = row.locator(".msp-status")
    expect(badge).to_have_attribute("data-status", status)
    expect(badge).to_have_text(label)
    expect(row.locator("td.col-internal_ips")).to_have_text(internal)
    expect(row.locator("td.col-external_ips")).to_have_text(external)


def expect_flash(page: Page, text: str, kind: str = "success") -> None:
    expect(page.locator(f".alert-{kind}").filter(has_text=text)).to_be_visible()


def expect_preview(page: Page, **values: str) -> None:
    for key, value in values.items():
        expect(page.locator(f'#price-preview [data-preview="{key}"]')).to_have_text(value)


# --- what the customer does -------------------------------------------------------------------


def expect_portal_sign_in_page(page: Page) -> None:
    expect(page).to_have_url(PORTAL_SIGN_IN)
    expect(page.locator("#portal-login-form")).to_be_visible()


def test_customer_lifecycle_from_invite_to_deletion(
    lifecycle_server: LifecycleServer,  # noqa: F811
    open_context,  # noqa: F811
):
    """SPEC §4 and §7: create → invite mail → register → IP Distribution → lock/unlock →
    cancel → reactivate → delete → deletion mails, with a real worker, Redis and SMTP."""
    server = lifecycle_server
    staff = open_context().new_page()

    # Staff: sign in, Customers, + New Customer.
    sign_in(staff, server.staff_email, server.staff_password)
    expect(staff).to_have_url(re.compile(r"/admin/$"))
    staff.locator(".navbar a.dropdown-toggle", has_text="Billing").click()
    staff.locator(".navbar .dropdown-menu a", has_text=re.compile(r"^\s*Customers\s*$")).click()
    expect(staff.locator("h1")).to_have_text("Customers")
    expect(staff.get_by_text("No customers match the current filter and search.")).to_be_visible()

    staff.locator("#new-customer").click()
    expect(staff.locator("h1")).to_have_text("New Customer")
    expect(staff.locator("#new-customer")).to_have_count(0)
    form = staff.locator("#new-customer-form")
    form.locator("#company_name").fill(COMPANY)
    form.locator("#street").fill("Hafenstraße 12")
    form.locator("#postal_code").fill("20457")
    form.locator("#city").fill("Hamburg")
    form.locator("#country").select_option(label="Germany")
    form.locator("#language").select_option(label="German")
    form.locator("#contact_name").fill(CONTACT)
    form.locator("#contact_email").fill(CONTACT_EMAIL)
    form.get_by_role("button", name="Create").click()

    expect(staff).to_have_url(re.compile(r"/admin/customer/(\?.*)?$"))
    expect_flash(
        staff, f"Customer {COMPANY} created; the invite e-mail is on its way to {CONTACT_EMAIL}."
    )
    expect_row(staff, "invited", "Invited", "0", "0")
    expect(customer_row(staff).locator("td.col-company_name small")).to_have_text(CONTACT_EMAIL)
    customer_id = customer_row(staff).locator("[data-row-menu]").get_attribute("data-row-menu")

    # Nothing is sent by the web process itself: the worker delivers the invite.
    assert server.mails() == []
    server.run_worker()
    (invite,) = server.wait_for_mails(1)
    assert invite.to == (CONTACT_EMAIL,)
    assert invite.sender == f"MSP <{SENDER}>"
    assert invite.subject == "Ihre Einladung zum Kundenportal von MSP Billing"
    assert f"Guten Tag {CONTACT}," in invite.text
    links = re.findall(rf"{re.escape(server.url)}/portal/invite/[A-Za-z0-9_-]+", invite.text)
    assert len(links) == 1, invite.text
    link = links[0]
    assert f'href="{link}"' in invite.html

    # Customer: the link in a browser of their own (German), password twice, then sign in.
    customer = open_context(locale="de-DE").new_page()
    customer.goto(link)
    expect(customer.locator("h1")).to_have_text(DE_ACTIVATE)
    expect(customer.locator("main")).to_contain_text(COMPANY)
    customer.locator("#password").fill(CUSTOMER_PASSWORD)
    customer.locator("#password_again").fill(CUSTOMER_PASSWORD)
    customer.locator("#invite-form button[type=submit]").click()
    expect_portal_sign_in_page(customer)
    expect(customer.locator(".alert-success")).to_have_text(DE_ACTIVE_SIGN_IN)
    expect(customer.locator("#email")).to_have_value(CONTACT_EMAIL)
    customer.locator("#password").fill(CUSTOMER_PASSWORD)
    customer.locator("#portal-login-form button[type=submit]").click()
    expect(customer).to_have_url(re.compile(r"/portal/$"))
    expect(customer.locator("main")).to_contain_text(COMPANY)
    expect(customer.locator("h1")).to_have_text(f"Willkommen, {CONTACT}")
    expect(customer.locator("#overview-subscription")).to_contain_text(DE_NO_SUBSCRIPTION)

    # The invite link is single-use.
    used = open_context(locale="de-DE").new_page()
    assert used.goto(link).status == 404

    # Staff: registered without a subscription → Inactive; IP Distribution starts one.
    open_customers(staff)
    expect_row(staff, "inactive", "Inactive", "0", "0")
    row_action(staff, "ip_distribution")
    expect(staff.locator("h1")).to_have_text("IP Distribution")
    expect(staff.get_by_text("No active subscription: saving starts a new one")).to_be_visible()
    expect_preview(staff, new_price="€4.50", prorated_amount="€2.40")
    instantly_group = staff.locator("#instantly-group")
    expect(instantly_group).to_be_hidden()
    staff.locator("#total_ips").fill("40")
    expect(staff.locator("#internal_ips")).to_have_value("1")
    expect(staff.locator("#external_ips")).to_have_value("39")
    expect_preview(
        staff,
        new_price="€180.00",
        average_ip_price="€4.50",
        prorated_amount="€96.00",
        effective_date="November 15, 2026",
        note="Starts a new subscription today.",
    )
    staff.locator("#split").fill("25")
    expect(staff.locator("#internal_ips")).to_have_value("25")
    expect(staff.locator("#external_ips")).to_have_value("15")
    expect(staff.locator("#total_ips")).to_have_value("40")
    expect(instantly_group).to_be_hidden()  # nothing to rise from: it starts today anyway
    staff.get_by_role("button", name="Save").click()
    expect_flash(staff, "A new subscription starts today.")
    expect_row(staff, "active", "Active", "25", "15")
    row = customer_row(staff)
    expect(row.locator("td.col-payment_method")).to_have_text("Invoice")
    expect(row.locator("td.col-average_ip_price")).to_have_text("€4.50")

    # An increase: scheduled unless "Perform action instantly" is ticked; the preview follows.
    row_action(staff, "ip_distribution")
    expect(staff.locator("#main-counts")).to_have_text("25 internal + 15 external IPs")
    expect(instantly_group).to_be_hidden()
    staff.locator("#external_ips").fill("30")
    expect(staff.locator("#total_ips")).to_have_value("55")
    expect(instantly_group).to_be_visible()
    expect_preview(
        staff,
        new_price="€241.00",
        average_ip_price="€4.38",
        prorated_amount="€0.00",
        effective_date="December 1, 2026",
        note="Scheduled for the 1st of next month.",
    )
    staff.get_by_label("Perform action instantly").check()
    expect_preview(
        staff,
        new_price="€241.00",
        prorated_amount="€32.53",  # (241.00 − 180.00) × 16/30 days, half-up
        effective_date="November 15, 2026",
        note="Applies immediately.",
    )
    staff.get_by_role("button", name="Save").click()
    expect_flash(staff, "The new IP distribution applies now.")
    expect_row(staff, "active", "Active", "25", "30")
    expect(customer_row(staff).locator("td.col-average_ip_price")).to_have_text("€4.38")
    customer.reload()
    expect(customer.locator("#overview-subscription")).to_contain_text(
        "25 interne + 30 externe IPs"
    )

    # Lock (from the customer's overview, after its question): status Locked, and the
    # customer's session ends at once. The overview was opened from the list, so the action
    # ends there, the customer's row highlighted (issue 16).
    row_action(staff, "details")
    staff.once("dialog", lambda dialog: dialog.accept())
    staff.locator("#customer-actions [data-action=lock]").click()
    expect_flash(staff, "The account is locked: its users cannot sign in.")
    expect(staff).to_have_url(re.compile(rf"/admin/customer/\?highlight={customer_id}$"))
    expect(customer_row(staff)).to_have_class("msp-highlight")
    expect_row(staff, "locked", "Locked", "25", "30")
    customer.reload()
    expect_portal_sign_in_page(customer)
    # the session ended because of the lock, and the right password is told so (issue 14)
    portal_sign_in(customer, CONTACT_EMAIL, CUSTOMER_PASSWORD)
    expect_portal_sign_in_page(customer)
    expect(customer.locator(".alert-danger")).to_have_text(DE_LOCKED_LOGIN)

    # Unlock (from the row menu): Active again, the customer can sign in again.
    row_action(staff, "unlock")
    expect_flash(staff, "The account is unlocked.")
    open_customers(staff)
    expect_row(staff, "active", "Active", "25", "30")
    portal_sign_in(customer, CONTACT_EMAIL, CUSTOMER_PASSWORD)
    expect(customer).to_have_url(re.compile(r"/portal/$"))
    expect(customer.locator("main")).to_contain_text(COMPANY)

    # Cancel Active Subscription (after the confirm dialog): Inactive at once.
    row_action(staff, "details")
    prompts: list[str] = []

    def accept(dialog) -> None:
        prompts.append(dialog.message)
        dialog.accept()

    staff.once("dialog", accept)
    staff.get_by_role("button", name="Cancel Active Subscription").click()
    expect_flash(staff, "The subscription is cancelled; it is billed until November 30, 2026.")
    assert prompts == [
        "Cancel the active subscription? The current booking month is still billed in full."
    ]
    expect(customer_row(staff)).to_have_class("msp-highlight")
    expect_row(staff, "inactive", "Inactive", "0", "0")
    expect(
        customer_row(staff).locator('.dropdown-menu [data-action="cancel_subscription"]')
    ).to_have_count(0)
    customer.reload()
    expect(customer.locator("#overview-subscription")).to_contain_text(DE_NO_SUBSCRIPTION)

    # Reactivation: IP Distribution on the cancelled customer starts a new subscription.
    row_action(staff, "ip_distribution")
    expect(staff.get_by_text("No active subscription: saving starts a new one")).to_be_visible()
    staff.locator("#internal_ips").fill("12")
    staff.locator("#external_ips").fill("8")
    expect(staff.locator("#total_ips")).to_have_value("20")
    expect_preview(
        staff, new_price="€90.00", prorated_amount="€48.00", effective_date="November 15, 2026"
    )
    staff.get_by_role("button", name="Save").click()
    expect_flash(staff, "A new subscription starts today.")
    expect_row(staff, "active", "Active", "12", "8")

    # Delete: DELETE typed, marked for deletion at once, the customer is signed out.
    row_action(staff, "delete")
    expect(staff.locator("h1")).to_have_text("Delete")
    expect(staff.locator("#confirm-form .alert-danger")).to_contain_text(f"Deleting {COMPANY}:")
    staff.locator("#confirmation").fill("DELETE")
    staff.get_by_role("button", name="Confirm").click()
    expect_flash(staff, f"{COMPANY} is marked for deletion.")
    expect_row(staff, "marked_for_deletion", "Marked for deletion", "12", "8")
    menu_actions = customer_row(staff).locator(".dropdown-menu [data-action]")
    expect(menu_actions).to_have_count(1)
    expect(menu_actions).to_have_attribute("data-action", "details")
    customer.reload()
    expect_portal_sign_in_page(customer)

    # The worker erases the customer and mails the staff member and the customer (it also
    # delivers the welcome mail queued when the invite was accepted).
    server.run_worker()
    mails = server.wait_for_mails(4)
    later = {mail.subject: mail.to for mail in mails[1:]}
    assert later == {
        f"Willkommen bei MSP Billing, {CONTACT}": (CONTACT_EMAIL,),
        f"Customer account {COMPANY} has been deleted": (server.staff_email,),
        f"Das Kundenkonto {COMPANY} wurde gelöscht": (CONTACT_EMAIL,),
    }
    staff_notice = next(mail for mail in mails if mail.to == (server.staff_email,))
    assert "the final month will be invoiced" in staff_notice.text
    assert all(mail.sender == f"MSP <{SENDER}>" for mail in mails)

    portal_sign_in(customer, CONTACT_EMAIL, CUSTOMER_PASSWORD)
    expect_portal_sign_in_page(customer)
    expect(customer.locator(".alert-danger")).to_have_text(DE_BAD_LOGIN)

    # The erased record leaves the list (and the dashboard's counts); the "Erased" filter shows
    # it without personal data, and its whole story on its Timeline.
    open_customers(staff)
    erased = f"Deleted customer {customer_id}"
    expect(customer_row(staff, erased)).to_have_count(0)
    staff.goto(f"{CUSTOMERS}?flt0_erased_equals=yes")
    expect_row(staff, "marked_for_deletion", "Marked for deletion", "0", "0", company=erased)
    expect(customer_row(staff, erased).locator("td.col-company_name small")).to_have_text(
        f"deleted-{customer_id}@invalid"
    )
    expect(staff.get_by_text(COMPANY)).to_have_count(0)
    row_action(staff, "details", company=erased)
    staff.locator("#timeline-tab").click()
    timeline = staff.locator("#timeline tbody tr[data-action]")
    expect(timeline.first).to_be_visible()
    actions = timeline.evaluate_all("rows => rows.map(r => r.dataset.action)")
    for action in (
        "customer.create",
        "email.invite",
        "user.register",
        "email.registration_done",
        "user.sign_in",
        "subscription.start",
        "subscription.change",
        "customer.lock",
        "customer.unlock",
        "subscription.cancel",
        "customer.mark_for_deletion",
        "customer.erase",
        "email.deletion_done",
    ):
        assert action in actions, f"{action} missing from the timeline: {actions}"
    assert actions.count("subscription.start") == 2
    assert actions.count("email.deletion_done") == 2
    mail_rows = staff.locator('#timeline tbody tr[data-kind="email"]')
    expect(mail_rows).to_have_count(4)
    expect(mail_rows.locator("td:nth-child(3)")).to_have_text(["sent"] * 4)
    expect(
        staff.locator('#timeline tr[data-action="email.invite"]').filter(
            has_text="Ihre Einladung zum Kundenportal von MSP Billing"
        )
    ).to_have_count(1)


def _customer_with_subscription(server: LifecycleServer) -> int:
    """A registered customer with 8 internal + 4 external IPs, made through the billing API."""
    with server.app.app_context():
        customer, _token = onboarding.create_customer(
            NewCustomer(COMPANY, CONTACT, CONTACT_EMAIL, city="Hamburg"), SYSTEM, server.clock
        )
        customer_id = customer.id
        onboarding.register_user(lookup.main_user(customer_id).id, CUSTOMER_PASSWORD, server.clock)
        db.session.commit()
        lifecycle.start_subscription(customer_id, 8, 4, "invoice", SYSTEM, server.clock)
        db.session.remove()
    return customer_id


def _subscription_state(server: LifecycleServer, customer_id: int) -> dict:
    with server.app.app_context():
        try:
            customer = db.session.get(Customer, customer_id)
            return {
                "version": customer.version,
                "status": customer.status,
                "subscriptions": db.session.execute(
                    select(
                        Subscription.internal_ips, Subscription.external_ips, Subscription.state
                    ).where(Subscription.customer_id == customer_id)
                ).all(),
                "changes": db.session.scalar(
                    select(func.count())
                    .select_from(ScheduledChange)
                    .where(ScheduledChange.customer_id == customer_id)
                ),
                "events": db.session.scalar(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(AuditEvent.customer_id == customer_id)
                ),
            }
        finally:
            db.session.remove()


def test_ip_distribution_refuses_a_split_that_does_not_add_up(
    lifecycle_server: LifecycleServer,  # noqa: F811
    open_context,  # noqa: F811
):
    """SPEC §4: internal + external must equal the total. The page's script keeps the boxes in
    step, so it is blocked here (as if it failed to load) and the staff member types a split
    that disagrees: the server refuses it with a clear message, keeps the input, changes
    nothing."""
    server = lifecycle_server
    customer_id = _customer_with_subscription(server)
    before = _subscription_state(server, customer_id)

    context = open_context()
    context.route("**/static/ip_distribution.js", lambda route: route.abort())
    staff = context.new_page()
    sign_in(staff, server.staff_email, server.staff_password)
    open_customers(staff)
    expect_row(staff, "active", "Active", "8", "4")
    row_action(staff, "ip_distribution")
    expect(staff.locator("#main-counts")).to_have_text("8 internal + 4 external IPs")

    staff.locator("#total_ips").fill("20")
    staff.locator("#internal_ips").fill("15")
    staff.locator("#external_ips").fill("9")
    staff.get_by_role("button", name="Save").click()

    expect(staff).to_have_url(
        re.compile(rf"/admin/customer/{customer_id}/ip-distribution/\?url=%2Fadmin%2Fcustomer%2F$")
    )
    expect(staff.locator('[data-error-for="external_ips"]')).to_have_text(
        "Internal and external IPs must add up to the total (20)."
    )
    expect(staff.locator("#external_ips")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(staff.locator("#total_ips")).to_have_value("20")
    expect(staff.locator("#internal_ips")).to_have_value("15")
    expect(staff.locator("#external_ips")).to_have_value("9")
    expect(staff.locator(".alert-success")).to_have_count(0)

    open_customers(staff)
    expect_row(staff, "active", "Active", "8", "4")
    assert _subscription_state(server, customer_id) == before
    assert server.mails() == []
