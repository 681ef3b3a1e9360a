"""Saved views of the customer list in a real browser (SPEC §11, issue 7 item 11): save the
current filter, search and sort under a name, reopen it with one click, share one with all
staff, rename and delete (with a confirmation)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete

from models import SavedView, db
from seed.demo import DEMO_STAFF
from tests.e2e.helpers import CUSTOMERS, add_filter, apply_filters, search, sign_in, table_rows

pytestmark = pytest.mark.browser

PRIVATE = "Active with an a, Z to A"
SHARED = "Team: active with an a"
RENAMED = "Active, reverse order"


def _open_menu(page):
    page.locator("#saved-views > a.dropdown-toggle").click()
    return page.locator("#saved-views .dropdown-menu")


def _save_view(page, name: str, shared: bool = False) -> None:
    menu = _open_menu(page)
    menu.locator("#save-view-form input[name=name]").fill(name)
    if shared:
        menu.locator("#save-view-shared").check()
    with page.expect_navigation():
        menu.locator("#save-view-form button[type=submit]").click()
    expect(page.locator(".alert-success")).to_contain_text(f"View {name} saved.")


def _companies(page) -> list[str]:
    return [row["company"] for row in table_rows(page)]


def test_saved_view_reopens_shares_renames_and_deletes(staff_page, live_server, browser):
    """SPEC §11 saved views: Status = Active, search "a" and Company Name descending, saved
    privately, come back with one click from another page to the same URL and rows. A shared
    copy is offered to a colleague (the private one is not); rename and delete happen on
    "Manage saved views", and Delete asks first (cancelling keeps the view)."""
    page = staff_page
    try:
        page.goto(CUSTOMERS)
        add_filter(page, "Status", "Active")
        apply_filters(page, "status_equals=active")
        search(page, "a")
        header = page.locator("table.model-list thead th.column-header a", has_text="Company Name")
        with page.expect_navigation():
            header.click()
        with page.expect_navigation():
            page.locator(
                "table.model-list thead th.column-header a", has_text="Company Name"
            ).click()
        expect(page).to_have_url(re.compile(r"desc=1"))
        wanted_url = page.url
        wanted = _companies(page)
        assert len(wanted) > 2
        assert wanted == sorted(wanted, reverse=True)

        _save_view(page, PRIVATE)
        expect(page).to_have_url(re.compile(r"status_equals=active"))
        assert _companies(page) == wanted

        page.goto("/admin/")
        page.goto(CUSTOMERS)
        assert _companies(page) != wanted, "the plain list shows more customers"
        menu = _open_menu(page)
        with page.expect_navigation():
            menu.get_by_role("link", name=PRIVATE).click()
        expect(page).to_have_url(wanted_url)
        assert _companies(page) == wanted
        expect(page.locator("form[role=search] input[name=search]")).to_have_value("a")

        _save_view(page, SHARED, shared=True)
        expect(_open_menu(page).locator("a[data-saved-view]", has_text=SHARED)).to_contain_text(
            "shared"
        )

        colleague = browser.new_context(base_url=live_server.url, locale="en-US")
        try:
            other = colleague.new_page()
            email, _role, password = DEMO_STAFF[1]
            sign_in(other, email, password)
            other.goto(CUSTOMERS)
            views = _open_menu(other).locator("a[data-saved-view]")
            expect(views.filter(has_text=SHARED)).to_have_count(1)
            expect(views.filter(has_text=PRIVATE)).to_have_count(0)
            with other.expect_navigation():
                views.filter(has_text=SHARED).click()
            assert _companies(other) == wanted
        finally:
            colleague.close()

        page.goto(CUSTOMERS)
        menu = _open_menu(page)
        with page.expect_navigation():
            menu.get_by_role("link", name="Manage saved views").click()
        expect(page.locator("h1")).to_have_text("Saved views")
        row = page.locator("#saved-view-list tbody tr").filter(
            has=page.locator(f"input[value='{PRIVATE}']")
        )
        expect(row).to_contain_text("Private")
        row.locator("input[name=name]").fill(RENAMED)
        # the page's load event: its confirm prompts (static/msp.js) are in place before Delete
        with page.expect_navigation():
            row.get_by_role("button", name="Rename").click()
        expect(page.locator(".alert-success")).to_contain_text(f"The view is now called {RENAMED}.")

        row = page.locator("#saved-view-list tbody tr").filter(
            has=page.locator(f"input[value='{RENAMED}']")
        )
        questions = []
        page.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))
        row.get_by_role("button", name="Delete").click()
        expect(row).to_be_visible()
        assert questions == [f"Delete the view {RENAMED}?"]

        page.once("dialog", lambda d: d.accept())
        row.get_by_role("button", name="Delete").click()
        expect(page.locator(".alert-success")).to_contain_text(f"View {RENAMED} deleted.")
        expect(page.locator(f"#saved-view-list input[value='{RENAMED}']")).to_have_count(0)
        expect(page.locator(f"#saved-view-list input[value='{SHARED}']")).to_have_count(1)

        page.goto(CUSTOMERS)
        views = _open_menu(page).locator("a[data-saved-view]")
        expect(views.filter(has_text=RENAMED)).to_have_count(0)
        expect(views.filter(has_text=SHARED)).to_have_count(1)
    finally:
        with live_server.app.app_context():
            db.session.execute(
                delete(SavedView).where(SavedView.name.in_([PRIVATE, SHARED, RENAMED]))
            )
            db.session.commit()
