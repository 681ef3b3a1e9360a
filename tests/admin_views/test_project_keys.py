"""Billing → Project Keys and the customer wizard "Add project key" (seed 3.2.6)."""

from __future__ import annotations

import io
import re

from billing.customers.lookup import current_subscription
from billing.kernel.audit import SYSTEM
from billing.subscriptions.project_keys import create_key
from models import Customer, ProjectKey, db
from tests import factories
from tests.conftest import make_staff, sign_in


def test_keys_are_added_and_imported(app, staff_client):
    page = staff_client.post(
        "/admin/project_key/new-key/",
        data={
            "csrf_token": staff_client.token,
            "key": "ab-0001",
            "ip_count": "50",
            "runtime_months": "12",
            "purchase_price": "900",
        },
    )
    assert page.status_code == 302
    bad = staff_client.post(
        "/admin/project_key/new-key/",
        data={
            "csrf_token": staff_client.token,
            "key": "AB-0002",
            "ip_count": "many",
            "runtime_months": "12",
            "purchase_price": "900",
        },
    )
    assert "IP count must be a whole number" in bad.get_data(as_text=True)
    data = {
        "csrf_token": staff_client.token,
        "file": (
            io.BytesIO(b"key,ip_count,runtime_months,purchase_price\nCD-0001,10,6,50\n"),
            "keys.csv",
        ),
    }
    staff_client.post("/admin/project_key/import/", data=data, content_type="multipart/form-data")
    listing = staff_client.get("/admin/project_key/").get_data(as_text=True)
    assert "AB-0001" in listing and "CD-0001" in listing and "Available" in listing
    assert db.session.query(ProjectKey).count() == 2


def test_support_cannot_add_keys(app):
    support = make_staff(app, "support")
    client = app.test_client()
    sign_in(client, support.email)
    from tests.conftest import csrf_token

    token = csrf_token(client, "/admin/")
    assert client.get("/admin/project_key/").status_code == 200
    assert (
        client.post(
            "/admin/project_key/new-key/",
            data={
                "csrf_token": token,
                "key": "ZZ-0001",
                "ip_count": "5",
                "runtime_months": "1",
                "purchase_price": "1",
            },
        ).status_code
        == 403
    )


def _step(client, customer_id, **fields):
    response = client.post(
        f"/admin/customer/{customer_id}/project-key/", data={"csrf_token": client.token, **fields}
    )
    return response, response.get_data(as_text=True)


def _at(html) -> str:
    return re.search(r'id="project-key-form" class="[^"]*" data-step="(\w+)"', html).group(1)


def test_the_wizard_walks_key_price_split_summary_finish(app, staff_client):
    factories.reference(app)
    customer = factories.customer(app, internal=40, external=10)
    create_key("PK-2000", 100, 12, "1800", SYSTEM, app.config["CLOCK"])
    html = staff_client.get(f"/admin/customer/{customer.id}/project-key/").get_data(as_text=True)
    assert _at(html) == "key"
    _r, html = _step(staff_client, customer.id, step="key", key="nope-0000")
    assert _at(html) == "key" and "unknown" in html
    _r, html = _step(staff_client, customer.id, step="key", key="pk-2000")
    assert _at(html) == "price" and 'data-overview="ip_count">100' in html and "1800" in html
    _r, html = _step(staff_client, customer.id, step="price", key="PK-2000", selling_price="x")
    assert _at(html) == "price" and "selling price" in html
    _r, html = _step(staff_client, customer.id, step="price", key="PK-2000", selling_price="2880")
    assert _at(html) == "split"
    _r, html = _step(
        staff_client,
        customer.id,
        step="split",
        key="PK-2000",
        selling_price="2880",
        internal_ips="70",
        external_ips="20",
    )
    assert _at(html) == "split" and "add up" in html
    _r, html = _step(
        staff_client,
        customer.id,
        step="split",
        key="PK-2000",
        selling_price="2880",
        internal_ips="80",
        external_ips="20",
    )
    assert _at(html) == "summary" and 'id="instantly"' in html and "240.00" in html
    _r, html = _step(
        staff_client,
        customer.id,
        step="summary",
        go="back",
        key="PK-2000",
        selling_price="2880",
        internal_ips="80",
        external_ips="20",
    )
    assert _at(html) == "split" and 'value="80"' in html
    response, _html = _step(
        staff_client,
        customer.id,
        step="summary",
        key="PK-2000",
        selling_price="2880",
        internal_ips="80",
        external_ips="20",
        instantly="y",
    )
    assert response.status_code == 302
    row = db.session.get(Customer, customer.id)
    assert (row.payment_method, row.internal_ips, row.external_ips) == ("project_key", 80, 20)
    assert current_subscription(customer.id).project_key_id is not None


def test_the_wizard_is_only_for_managed_customers(app, staff_client):
    factories.reference(app)
    customer = factories.customer(app, mode="self_service")
    response = staff_client.get(f"/admin/customer/{customer.id}/project-key/")
    assert response.status_code == 302
