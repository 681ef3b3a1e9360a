"""Settings → Invoices: the seller block on invoices and the IP purchase price (SPEC §8, §9)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.invoice_pdf import seller_details
from billing.invoice_settings import load_invoice_settings
from models import AuditEvent, db
from tests.conftest import csrf_token, make_staff, sign_in

URL = "/admin/settings/invoices/"


def _save(client, **values):
    data = {
        "csrf_token": client.token,
        "seller_name": "Nordlicht IT GmbH",
        "seller_address": "Hafenstraße 5\n20457 Hamburg",
        "seller_vat_id": "DE136695976",
        "ip_purchase_price": "1.15",
    }
    data.update(values)
    return client.post(URL, data=data, follow_redirects=True)


def test_the_seller_block_is_saved_and_printed(app, staff_client):
    page = _save(staff_client)
    assert "The invoice settings were saved." in page.get_data(as_text=True)
    settings = load_invoice_settings()
    assert settings.seller_name == "Nordlicht IT GmbH"
    assert settings.ip_purchase_price == Decimal("1.15")
    assert seller_details()["address"] == "Hafenstraße 5\n20457 Hamburg"
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "settings.invoice"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("seller_name", "  ", "Please enter the company name"),
        ("seller_address", "", "Please enter the address"),
        ("seller_vat_id", "DE123", "This VAT-ID is not valid"),
        ("ip_purchase_price", "-1", "Please enter the purchase price"),
        ("ip_purchase_price", "abc", "Please enter the purchase price"),
        ("ip_purchase_price", "NaN", "Please enter the purchase price"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(app, staff_client, field, value, message):
    page = _save(staff_client, **{field: value})
    assert message in page.get_data(as_text=True)
    assert load_invoice_settings().seller_name == ""


def test_only_admins_open_the_invoice_settings(app):
    make_staff(app, "billing")
    client = app.test_client()
    sign_in(client, "billing@staff.example")
    csrf_token(client, "/admin/")
    assert client.get(URL).status_code == 403
