"""Issue 7 items 7–10 in the admin (SPEC §11): organisation form, contacts, groups screen and
filter, purchase orders on Details and on the invoice; support reads only."""

from __future__ import annotations

from datetime import date

from billing.invoicing import purchase_orders
from billing.invoicing.drafting import draft_invoice
from billing.kernel.audit import SYSTEM
from models import Contact, Customer, CustomerGroup, PurchaseOrder, db
from tests import factories
from tests.conftest import csrf_token, make_staff, sign_in


def test_organisation_form_field_errors_and_save(app, staff_client):
    created = factories.customer(app)
    url = f"/admin/customer/{created.id}/organisation/"
    form = {
        "csrf_token": staff_client.token,
        "version": str(created.version),
        "website": "nope",
        "turnover": "10",
        "turnover_currency": "EUR",
        "account_type": "prospect",
    }
    html = staff_client.post(url, data=form).get_data(as_text=True)
    assert 'data-error-for="website"' in html
    assert db.session.get(Customer, created.id).account_type == "customer"
    form["website"] = "https://acme.example"
    assert staff_client.post(url, data=form).status_code == 302
    details = staff_client.get(f"/admin/customer/details/?id={created.id}").get_data(as_text=True)
    assert "https://acme.example" in details and "Prospect" in details


def test_contacts_add_edit_delete_on_details(app, staff_client):
    created = factories.customer(app)
    base = f"/admin/customer/{created.id}/contacts/"
    form = {
        "csrf_token": staff_client.token,
        "first_name": "Ada",
        "email": "bad",
        "user_type": "billing",
    }
    html = staff_client.post(base + "new/", data=form).get_data(as_text=True)
    assert 'data-error-for="email"' in html
    form.update(email="ada@customer.example", billing_alerts="y")
    assert staff_client.post(base + "new/", data=form).status_code == 302
    contact = db.session.scalar(db.select(Contact))
    assert contact.billing_alerts
    form.update(designation="CFO")
    assert staff_client.post(base + f"{contact.id}/", data=form).status_code == 302
    details = staff_client.get(f"/admin/customer/details/?id={created.id}").get_data(as_text=True)
    assert "CFO" in details
    delete = staff_client.post(
        base + f"{contact.id}/delete/", data={"csrf_token": staff_client.token}
    )
    assert delete.status_code == 302 and db.session.scalar(db.select(Contact)) is None


def test_groups_screen_delete_confirmation_and_list_filter(app, staff_client):
    first, second = factories.customer(app), factories.customer(app)
    token = staff_client.token
    response = staff_client.post(
        "/admin/customer-groups/new/",
        data={"csrf_token": token, "name": "Gold", "attributes": "region=EU", "tags": "vip"},
    )
    assert response.status_code == 302
    group = db.session.scalar(db.select(CustomerGroup))
    staff_client.post(
        f"/admin/customer/{first.id}/groups/", data={"csrf_token": token, "group_ids": [group.id]}
    )
    listed = staff_client.get(f"/admin/customer/?flt0_group_equals={group.id}").get_data(
        as_text=True
    )
    assert first.company_name in listed and second.company_name not in listed
    assert staff_client.get("/admin/customer/?flt0_group_equals=999").status_code == 200
    confirm = staff_client.get(f"/admin/customer-groups/{group.id}/delete/").get_data(as_text=True)
    assert "1 customer is a member" in confirm
    staff_client.post(f"/admin/customer-groups/{group.id}/delete/", data={"csrf_token": token})
    assert db.session.scalar(db.select(CustomerGroup)) is None


def test_purchase_order_form_and_po_on_the_invoice(app, staff_client):
    factories.reference(app)
    created = factories.customer(app, since=date(2026, 11, 1))
    url = f"/admin/customer/{created.id}/purchase-orders/new/"
    form = {
        "csrf_token": staff_client.token,
        "name": "PO-77",
        "annual_value": "1200",
        "status": "active",
        "start_date": "2026-01-01",
        "expiry_date": "2025-01-01",
        "currency": "EUR",
    }
    html = staff_client.post(url, data=form).get_data(as_text=True)
    assert (
        'data-error-for="expiry_date"' in html
        and db.session.scalar(db.select(PurchaseOrder)) is None
    )
    form["expiry_date"] = "2026-12-31"
    assert staff_client.post(url, data=form).status_code == 302
    invoice = draft_invoice(created.id, date(2026, 11, 1), app.config["CLOCK"])
    page = staff_client.get(f"/admin/invoice/details/?id={invoice.id}").get_data(as_text=True)
    assert "PO: PO-77" in page


def test_support_reads_the_profile_but_cannot_change_it(app):
    created = factories.customer(app)
    purchase_orders.save_purchase_order(
        created.id,
        None,
        purchase_orders.PurchaseOrderInput(
            name="PO-1", annual_value="1", start_date="2026-01-01", expiry_date="2026-12-31"
        ),
        SYSTEM,
        app.config["CLOCK"],
    )
    support = make_staff(app, "support")
    client = app.test_client()
    sign_in(client, support.email)
    details = client.get(f"/admin/customer/details/?id={created.id}").get_data(as_text=True)
    assert "PO-1" in details and "add-contact" not in details
    assert client.get("/admin/customer-groups/").status_code == 200
    token = csrf_token(client, "/admin/")
    for url in (
        f"/admin/customer/{created.id}/organisation/",
        f"/admin/customer/{created.id}/contacts/new/",
        f"/admin/customer/{created.id}/purchase-orders/new/",
        f"/admin/customer/{created.id}/groups/",
        "/admin/customer-groups/new/",
    ):
        assert client.post(url, data={"csrf_token": token}).status_code == 403


def test_the_dashboard_lists_purchase_orders_expiring_within_30_days(app, staff_client):
    """Issue 7 item 10: a card on the dashboard with the POs that expire in the next 30 days."""
    from billing.invoicing.purchase_orders import PurchaseOrderInput

    clock = app.config["CLOCK"]
    factories.reference(app)
    customer = factories.customer(app, company="Expiring AG")
    for name, expiry in (("Soon PO", "2026-12-01"), ("Later PO", "2027-03-01")):
        purchase_orders.save_purchase_order(
            customer.id,
            None,
            PurchaseOrderInput(
                name=name, annual_value="1200.00", start_date="2026-01-01", expiry_date=expiry
            ),
            SYSTEM,
            clock,
        )
    page = staff_client.get("/admin/").get_data(as_text=True)
    card = page.split('id="expiring-orders"', 1)[1].split("</section>", 1)[0]
    assert "Soon PO" in card and "Expiring AG" in card
    assert "Later PO" not in card
