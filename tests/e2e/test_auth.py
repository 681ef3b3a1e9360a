"""Staff sign-in and sign-out in a real browser (SPEC §1, §13)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from models import Customer, CustomerStatus, db
from seed.demo import DEMO_STAFF
from tests.e2e.helpers import CUSTOMERS, sign_in

pytestmark = pytest.mark.browser

ADMIN_EMAIL, _ROLE, ADMIN_PASSWORD = next(s for s in DEMO_STAFF if s[1] == "admin")
SIGN_IN = re.compile(r"/admin/login/(\?.*)?$")


def _locked_count(live_server) -> int:
    with live_server.app.app_context():
        return db.session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.status == CustomerStatus.LOCKED.value)
        )


def test_demo_admin_signs_in_and_lands_on_the_dashboard(page, live_server):
    """SPEC §1: the demo ``admin`` signs in at /admin/login/ and lands on the dashboard."""
    page.goto("/admin/login/")
    expect(page.locator("h1")).to_have_text("Staff sign-in")

    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)

    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator("#signed-in-as")).to_contain_text(f"{ADMIN_EMAIL} · admin")
    expect(page.locator('[data-status-count="locked"]')).to_have_text(
        str(_locked_count(live_server))
    )


def test_wrong_password_shows_the_error_and_stays_on_sign_in(page):
    """SPEC §1, §13: a wrong password is refused with one generic message, no session."""
    sign_in(page, ADMIN_EMAIL, "Not-The-Password-1")

    expect(page).to_have_url(SIGN_IN)
    expect(page.get_by_text("Invalid e-mail or password.")).to_be_visible()
    expect(page.locator("#email")).to_be_visible()
    expect(page.locator("#signed-in-as")).to_have_count(0)

    page.goto(CUSTOMERS)
    expect(page).to_have_url(SIGN_IN)


def test_sign_out_ends_the_session(page, browser, live_server):
    """SPEC §13: "Sign out" really ends the session, even for a copy of the old cookie.

    Signing out bumps the staff member's session version (every session of that account ends),
    so this test signs out the demo ``billing`` account in a browser context of its own and
    leaves the ``admin`` sessions of the other tests alone.
    """
    email, _role, password = next(s for s in DEMO_STAFF if s[1] == "billing")
    sign_in(page, email, password)
    page.goto(CUSTOMERS)
    expect(page.locator("h1")).to_have_text("Customers")
    old_cookies = page.context.cookies()

    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(SIGN_IN)
    expect(page.get_by_text("You have been signed out.")).to_be_visible()
    page.goto(CUSTOMERS)
    expect(page).to_have_url(re.compile(r"/admin/login/\?next="))
    expect(page.locator("#signed-in-as")).to_have_count(0)

    replay = browser.new_context(base_url=live_server.url, locale="en-US")
    try:
        replay.add_cookies(old_cookies)
        stale = replay.new_page()
        stale.goto(CUSTOMERS)
        expect(stale).to_have_url(re.compile(r"/admin/login/\?next="))
    finally:
        replay.close()
