"""Admin screens of issue 7 items 6, 11 and 12 (SPEC §11–§12): Billing → Partners, saved views on
the customer list, Billing → Pending changes — roles, CSRF-protected POSTs, bad input."""

from __future__ import annotations

from billing.customers import lifecycle, partners
from billing.kernel.audit import SYSTEM
from models import AuditEvent, ChangeState, Customer, Partner, SavedView, ScheduledChange, db
from tests import factories
from tests.conftest import csrf_token, make_staff, sign_in


def _client(app, role: str, name: str = "x"):
    staff = make_staff(app, role, f"{role}-{name}@staff.example")
    client = app.test_client()
    sign_in(client, staff.email)
    client.token = csrf_token(client, "/admin/")
    client.staff_id = staff.id
    return client


# --- item 6: partners -------------------------------------------------------------------------


def test_partner_screen_create_rename_disable_enable(app, staff_client, clock):
    page = staff_client.post(
        "/admin/partners/new/", data={"csrf_token": staff_client.token, "name": "Nordic AB"}
    )
    assert page.status_code == 302
    partner = db.session.scalar(db.select(Partner))
    for _ in range(2):
        customer = factories.customer(app)
        partners.assign_partner(customer.id, partner.id, SYSTEM, clock)
    listing = staff_client.get("/admin/partners/").get_data(as_text=True)
    assert "Nordic AB" in listing and 'data-customers="2"' in listing
    dup = staff_client.post(
        "/admin/partners/new/", data={"csrf_token": staff_client.token, "name": "nordic ab"}
    )
    assert dup.status_code == 200 and "already exists" in dup.get_data(as_text=True)
    staff_client.post(
        f"/admin/partners/{partner.id}/rename/",
        data={"csrf_token": staff_client.token, "name": "Nordic Partners"},
    )
    assert db.session.get(Partner, partner.id).name == "Nordic Partners"
    confirm = staff_client.get(f"/admin/partners/{partner.id}/disable/").get_data(as_text=True)
    assert 'data-affected="2"' in confirm and "2 customers keep it" in confirm
    assert db.session.get(Partner, partner.id).enabled  # GET changes nothing
    done = staff_client.post(
        f"/admin/partners/{partner.id}/disable/",
        data={"csrf_token": staff_client.token},
        follow_redirects=True,
    )
    assert "its 2 customers keep it" in done.get_data(as_text=True)
    assert not db.session.get(Partner, partner.id).enabled
    assert (
        db.session.scalar(
            db.select(db.func.count())
            .select_from(Customer)
            .where(Customer.partner_id == partner.id)
        )
        == 2
    )
    staff_client.post(
        f"/admin/partners/{partner.id}/enable/", data={"csrf_token": staff_client.token}
    )
    assert db.session.get(Partner, partner.id).enabled
    assert staff_client.get("/admin/partners/999/disable/").status_code == 404


def _toggle(client, partner_id: int, action: str) -> str:
    """POST Disable or Enable of a partner and read the page it leads to."""
    answer = client.post(
        f"/admin/partners/{partner_id}/{action}/",
        data={"csrf_token": client.token},
        follow_redirects=True,
    )
    return answer.get_data(as_text=True)


def test_disable_and_enable_count_one_customer_in_the_singular(app, staff_client, clock):
    """SPEC §11: disabling and enabling a partner of one customer says "1 customer" (not
    "1 customers"), in English and German."""
    partner = partners.create_partner("Solo Reseller", SYSTEM, clock)
    partners.assign_partner(factories.customer(app).id, partner.id, SYSTEM, clock)

    assert "Solo Reseller is disabled; its 1 customer keeps it as their partner." in _toggle(
        staff_client, partner.id, "disable"
    )
    assert "The partner is enabled again (1 customer)." in _toggle(
        staff_client, partner.id, "enable"
    )

    staff_client.post(
        "/admin/language/",
        data={"language": "de", "next": "/admin/", "csrf_token": staff_client.token},
    )
    assert "sein 1 Kunde behält ihn als Partner." in _toggle(staff_client, partner.id, "disable")
    assert "Der Partner ist wieder aktiviert (1 Kunde)." in _toggle(
        staff_client, partner.id, "enable"
    )


def test_partner_assignment_on_details(app, staff_client, clock):
    enabled = partners.create_partner("Enabled One", SYSTEM, clock)
    disabled = partners.create_partner("Disabled One", SYSTEM, clock)
    partners.set_partner_enabled(disabled.id, False, SYSTEM, clock)
    customer = factories.customer(app)
    details = staff_client.get(f"/admin/customer/details/?id={customer.id}").get_data(as_text=True)
    assert 'id="partner-form"' in details and "Enabled One" in details
    assert "Disabled One" not in details.split('id="partner-form"')[1].split("</form>")[0]
    version = db.session.get(Customer, customer.id).version
    for bad in (str(disabled.id), "abc", "9999"):
        page = staff_client.post(
            f"/admin/customer/{customer.id}/partner/",
            data={"csrf_token": staff_client.token, "partner_id": bad, "version": version},
            follow_redirects=True,
        )
        assert page.status_code == 200
        assert db.session.get(Customer, customer.id).partner_id is None
    ok = staff_client.post(
        f"/admin/customer/{customer.id}/partner/",
        data={"csrf_token": staff_client.token, "partner_id": enabled.id, "version": version},
        follow_redirects=True,
    )
    assert "Partner set to Enabled One" in ok.get_data(as_text=True)
    assert db.session.get(Customer, customer.id).partner_id == enabled.id
    stale = staff_client.post(
        f"/admin/customer/{customer.id}/partner/",
        data={"csrf_token": staff_client.token, "partner_id": "", "version": version},
        follow_redirects=True,
    )
    assert "changed by someone else" in stale.get_data(as_text=True)
    assert (
        db.session.scalar(
            db.select(AuditEvent).where(AuditEvent.action == "customer.partner")
        ).customer_id
        == customer.id
    )


def test_support_reads_partners_but_cannot_change_them(app, clock):
    partner = partners.create_partner("Read Only", SYSTEM, clock)
    customer = factories.customer(app)
    support = _client(app, "support")
    page = support.get("/admin/partners/").get_data(as_text=True)
    assert "Read Only" in page and "Disable" not in page
    for url in (
        "/admin/partners/new/",
        f"/admin/partners/{partner.id}/rename/",
        f"/admin/partners/{partner.id}/disable/",
        f"/admin/partners/{partner.id}/enable/",
        f"/admin/customer/{customer.id}/partner/",
    ):
        assert support.post(url, data={"csrf_token": support.token, "name": "X"}).status_code == 403
    assert app.test_client().get("/admin/partners/").status_code == 302


def test_partner_posts_need_csrf(app, staff_client):
    assert staff_client.post("/admin/partners/new/", data={"name": "No token"}).status_code in (
        302,
        400,
    )
    assert db.session.scalar(db.select(Partner)) is None


# --- item 11: saved views ---------------------------------------------------------------------


def test_save_and_reopen_a_view_from_the_customer_list(app, staff_client):
    factories.customer(app, company="Card Co", payment="card")
    listing = staff_client.get("/admin/customer/?payment_method_equals=card").get_data(as_text=True)
    assert 'id="saved-views"' in listing and 'value="payment_method_equals=card"' in listing
    saved = staff_client.post(
        "/admin/saved-views/save/",
        data={
            "csrf_token": staff_client.token,
            "name": "Cards",
            "query": "payment_method_equals=card&sort=1",
            "shared": "1",
        },
    )
    assert saved.status_code == 302
    assert saved.headers["Location"].endswith("/admin/customer/?payment_method_equals=card&sort=1")
    view = db.session.scalar(db.select(SavedView))
    assert view.shared and view.name == "Cards"
    listing = staff_client.get("/admin/customer/").get_data(as_text=True)
    assert f'data-saved-view="{view.id}"' in listing
    assert "/admin/customer/?payment_method_equals=card&amp;sort=1" in listing
    # a colleague sees the shared view
    colleague = _client(app, "billing")
    assert f'data-saved-view="{view.id}"' in colleague.get("/admin/customer/").get_data(
        as_text=True
    )


def test_a_tampered_saved_view_query_is_refused(app, staff_client):
    for query in ("next=https://evil.example", "search=" + "a" * 300, "sort=abc", "x" * 1200):
        page = staff_client.post(
            "/admin/saved-views/save/",
            data={"csrf_token": staff_client.token, "name": "Bad", "query": query},
            follow_redirects=True,
        )
        assert page.status_code == 200 and "The view was not saved" in page.get_data(as_text=True)
    empty_name = staff_client.post(
        "/admin/saved-views/save/",
        data={"csrf_token": staff_client.token, "name": " ", "query": ""},
        follow_redirects=True,
    )
    assert "Please name the view" in empty_name.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(SavedView)) == 0


def test_rename_and_delete_saved_views(app, staff_client):
    billing = _client(app, "billing")
    billing.post(
        "/admin/saved-views/save/",
        data={"csrf_token": billing.token, "name": "Shared one", "query": "", "shared": "1"},
    )
    billing.post(
        "/admin/saved-views/save/",
        data={"csrf_token": billing.token, "name": "Private one", "query": ""},
    )
    shared, private = db.session.scalars(db.select(SavedView).order_by(SavedView.name.desc()))
    shared_id = shared.id
    # the admin does not see the private view at all
    assert (
        staff_client.post(
            f"/admin/saved-views/{private.id}/delete/", data={"csrf_token": staff_client.token}
        ).status_code
        == 404
    )
    other = _client(app, "billing", "other")
    refused = other.post(
        f"/admin/saved-views/{shared.id}/delete/",
        data={"csrf_token": other.token},
        follow_redirects=True,
    )
    assert "owner or an admin" in refused.get_data(as_text=True)
    billing.post(
        f"/admin/saved-views/{private.id}/rename/",
        data={"csrf_token": billing.token, "name": "Renamed"},
    )
    assert db.session.get(SavedView, private.id).name == "Renamed"
    staff_client.post(
        f"/admin/saved-views/{shared.id}/delete/", data={"csrf_token": staff_client.token}
    )
    assert db.session.get(SavedView, shared_id) is None
    manage = billing.get("/admin/saved-views/").get_data(as_text=True)
    assert "Renamed" in manage


def test_support_opens_but_does_not_save_views(app):
    support = _client(app, "support")
    listing = support.get("/admin/customer/").get_data(as_text=True)
    assert 'id="saved-views"' in listing and 'id="save-view-form"' not in listing
    page = support.post(
        "/admin/saved-views/save/",
        data={"csrf_token": support.token, "name": "Mine", "query": ""},
    )
    assert page.status_code == 403
    assert db.session.scalar(db.select(db.func.count()).select_from(SavedView)) == 0


# --- item 12: pending changes -----------------------------------------------------------------


def test_pending_changes_list_and_cancel(app, staff_client, clock):
    factories.reference(app)
    customer = factories.customer(app, company="Grows Ltd", internal=10, external=0)
    change = lifecycle.schedule_change(customer.id, 40, 10, SYSTEM, clock)
    page = staff_client.get("/admin/pending-changes/").get_data(as_text=True)
    assert "Grows Ltd" in page and "Dec 1, 2026" in page and f'data-change="{change.id}"' in page
    assert "10 + 0 → 40 + 10" in page and "data-confirm" in page
    assert 'data-total="0"' in staff_client.get("/admin/pending-changes/?month=2027-01").get_data(
        as_text=True
    )
    bad = staff_client.get("/admin/pending-changes/?month=13-2026").get_data(as_text=True)
    assert "YYYY-MM" in bad and "Grows Ltd" in bad
    done = staff_client.post(
        f"/admin/pending-changes/{change.id}/cancel/",
        data={"csrf_token": staff_client.token},
        follow_redirects=True,
    )
    assert "The pending change was cancelled" in done.get_data(as_text=True)
    assert db.session.get(ScheduledChange, change.id).state == ChangeState.WITHDRAWN.value
    again = staff_client.post(
        f"/admin/pending-changes/{change.id}/cancel/",
        data={"csrf_token": staff_client.token},
        follow_redirects=True,
    )
    assert "no longer pending" in again.get_data(as_text=True)


def test_support_reads_pending_changes_but_cannot_cancel(app, clock):
    factories.reference(app)
    customer = factories.customer(app)
    change = lifecycle.schedule_change(customer.id, 20, 2, SYSTEM, clock)
    support = _client(app, "support")
    page = support.get("/admin/pending-changes/").get_data(as_text=True)
    assert customer.company_name in page and "/cancel/" not in page
    assert (
        support.post(
            f"/admin/pending-changes/{change.id}/cancel/", data={"csrf_token": support.token}
        ).status_code
        == 403
    )
    assert db.session.get(ScheduledChange, change.id).state == ChangeState.PENDING.value


def test_a_view_saved_from_real_list_filters_reopens_them(app, staff_client):
    """Issue 7 item 11: the list's own filter arguments (flt<n>_…) are saved and reopened."""
    factories.reference(app)
    factories.customer(app, company="Card Corp", payment="card")
    factories.customer(app, company="Bank Transfer Ltd", payment="invoice")
    query = "flt0_payment_method_equals=card"
    assert "Bank Transfer Ltd" not in staff_client.get(f"/admin/customer/?{query}").get_data(
        as_text=True
    )
    saved = staff_client.post(
        "/admin/saved-views/save/",
        data={"csrf_token": staff_client.token, "name": "Cards", "query": query},
    )
    assert saved.status_code == 302 and saved.headers["Location"].endswith(query)
    reopened = staff_client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "Card Corp" in reopened and "Bank Transfer Ltd" not in reopened
