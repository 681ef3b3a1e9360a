"""Two staff members edit the same customer in two browsers (SPEC §13 "optimistic locking on
edits", SPEC §4 Edit address and IP Distribution).

Both open the form before either saves. The first save wins; the second gets "changed by
someone else", keeps what was typed so it can be compared, and nothing of it is stored. The
live server has a database of its own (tests/e2e/lifecycle_fixtures.py), served with CSRF on.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from billing.access.staff import create_staff
from billing.customers import customers as lifecycle
from billing.customers.customers import NewCustomer
from billing.kernel.audit import SYSTEM
from models import Customer, ScheduledChange, db
from tests.conftest import STAFF_PASSWORD
from tests.e2e.helpers import sign_in
from tests.e2e.lifecycle_fixtures import LifecycleServer
from tests.e2e.test_customer_lifecycle import _subscription_state

pytestmark = pytest.mark.browser

CONFLICT = "This customer was changed by someone else in the meantime."
SECOND_STAFF = "tom.staff@msp.example"


def _customer(server: LifecycleServer) -> int:
    """A registered managed customer in Hamburg with 8 internal + 4 external IPs."""
    with server.app.app_context():
        customer, _token = lifecycle.create_customer(
            NewCustomer(
                "Elbwerk Maschinenbau GmbH",
                "Jens Elb",
                "jens.elb@elbwerk.example",
                street="Kaistraße 1",
                postal_code="20457",
                city="Hamburg",
            ),
            SYSTEM,
            server.clock,
        )
        customer_id = customer.id
        lifecycle.register_user(
            lifecycle.main_user(customer_id).id, "Elbwerk-Passwort-7", server.clock
        )
        lifecycle.start_subscription(customer_id, 8, 4, "invoice", SYSTEM, server.clock)
        create_staff(SECOND_STAFF, "billing", STAFF_PASSWORD, server.clock, name="Tom Staff")
        db.session.remove()
    return customer_id


def _state(server: LifecycleServer, customer_id: int) -> dict:
    """The customer's version, address, subscriptions, scheduled changes and audit events."""
    with server.app.app_context():
        try:
            customer = db.session.get(Customer, customer_id)
            address = (customer.street, customer.city, customer.phone)
            changes = db.session.execute(
                select(
                    ScheduledChange.internal_ips,
                    ScheduledChange.external_ips,
                    ScheduledChange.state,
                ).where(ScheduledChange.customer_id == customer_id)
            ).all()
        finally:
            db.session.remove()
    return {**_subscription_state(server, customer_id), "address": address, "changes": changes}


def _two_staff(server: LifecycleServer, open_context) -> tuple[Page, Page]:
    first = open_context().new_page()
    sign_in(first, server.staff_email, server.staff_password)
    second = open_context().new_page()
    sign_in(second, SECOND_STAFF, STAFF_PASSWORD)
    return first, second


def test_second_address_save_is_refused_and_overwrites_nothing(lifecycle_server, open_context):
    """SPEC §13: both staff open Edit address; the first saves a new street, the second a new
    city. The second gets the conflict message and its city is not stored; the first's street
    stays. After reloading, the second sees the first's change and can save its own."""
    server = lifecycle_server
    customer_id = _customer(server)
    first, second = _two_staff(server, open_context)
    url = f"/admin/customer/{customer_id}/address/"
    for page in (first, second):
        page.goto(url)
        expect(page.locator("#street")).to_have_value("Kaistraße 1")

    first.locator("#street").fill("Speicherstadt 5")
    first.locator("#address-form button[type=submit]").click()
    expect(first.locator(".alert-success")).to_contain_text("was saved")
    after_first = _state(server, customer_id)
    assert after_first["address"] == ("Speicherstadt 5", "Hamburg", "")

    second.locator("#city").fill("Bremen")
    second.locator("#phone").fill("+49 421 000")
    second.locator("#address-form button[type=submit]").click()
    expect(second.get_by_text(CONFLICT)).to_be_visible()
    expect(second).to_have_url(re.compile(re.escape(url) + "$"))
    expect(second.locator("#city")).to_have_value("Bremen")
    expect(second.locator(".alert-success")).to_have_count(0)
    assert _state(server, customer_id) == after_first, "the second save changed nothing"

    # submitting the stale form again is still refused
    second.locator("#address-form button[type=submit]").click()
    expect(second.get_by_text(CONFLICT)).to_be_visible()
    assert _state(server, customer_id) == after_first

    second.goto(url)
    expect(second.locator("#street")).to_have_value("Speicherstadt 5")
    second.locator("#city").fill("Bremen")
    second.locator("#address-form button[type=submit]").click()
    expect(second.locator(".alert-success")).to_contain_text("was saved")
    final = _state(server, customer_id)
    assert final["address"][:2] == ("Speicherstadt 5", "Bremen")


def test_second_ip_distribution_save_is_refused_and_overwrites_nothing(
    lifecycle_server, open_context
):
    """SPEC §13 and §4 IP Distribution: both staff open the form at 8 + 4 IPs; the first
    re-splits to 6 + 6 (applies at once), the second asks for 20 IPs instantly. The second
    gets the conflict message: no second subscription, no scheduled change, no audit event."""
    server = lifecycle_server
    customer_id = _customer(server)
    first, second = _two_staff(server, open_context)
    url = f"/admin/customer/{customer_id}/ip-distribution/"
    for page in (first, second):
        page.goto(url)
        expect(page.locator("#main-counts")).to_have_text("8 internal + 4 external IPs")

    first.locator("#internal_ips").fill("6")
    first.locator("#external_ips").fill("6")
    first.locator("#ip-distribution-form button[value=save]").click()
    expect(first.locator(".alert-success")).to_be_visible()
    after_first = _state(server, customer_id)
    assert [tuple(s) for s in after_first["subscriptions"]][-1] == (6, 6, "active")

    second.locator("#total_ips").fill("20")
    second.locator("#internal_ips").fill("16")
    second.locator("#external_ips").fill("4")
    second.locator("#instantly").check()
    second.locator("#ip-distribution-form button[value=save]").click()
    expect(second.get_by_text(CONFLICT)).to_be_visible()
    expect(second.locator(".alert-success")).to_have_count(0)
    assert _state(server, customer_id) == after_first, "the second save changed nothing"

    second.goto(url)
    expect(second.locator("#main-counts")).to_have_text("6 internal + 6 external IPs")
