"""Settings → Invoices: the seller block and bank account on invoices, the payment term and the
IP purchase price (SPEC §8, §9, §14)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.invoicing.invoice_pdf import seller_details
from billing.invoicing.invoice_settings import load_invoice_settings
from models import AuditEvent, db
from tests.conftest import csrf_token, make_staff, sign_in

URL = "/admin/settings/invoices/"


def _save(client, headers=None, **values):
    data = {
        "csrf_token": client.token,
        "seller_name": "Nordlicht IT GmbH",
        "seller_address": "Hafenstraße 5\n20457 Hamburg",
        "seller_vat_id": "DE136695976",
        "ip_purchase_price": "1.15",
        "account_holder": "",
        "iban": "DE89370400440532013000",
        "bic": "",
        "bank_name": "",
        "payment_term_days": "21",
    }
    data.update(values)
    return client.post(URL, data=data, headers=headers or {}, follow_redirects=True)


def test_the_seller_block_is_saved_and_printed(app, staff_client):
    page = _save(staff_client)
    assert "The invoice settings were saved." in page.get_data(as_text=True)
    settings = load_invoice_settings()
    assert settings.seller_name == "Nordlicht IT GmbH"
    assert settings.ip_purchase_price == Decimal("1.15")
    assert seller_details()["address"] == "Hafenstraße 5\n20457 Hamburg"
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "settings.invoice"))


def test_the_bank_account_and_payment_term_are_saved_and_shown(app, staff_client):
    """Issue 16: the IBAN is stored compact and shown in groups of four; BIC, bank and holder
    are filled in; the payment term is kept."""
    _save(staff_client)
    settings = load_invoice_settings()
    assert (settings.iban, settings.bic) == ("DE89370400440532013000", "COBADEFFXXX")
    assert (settings.bank_name, settings.account_holder) == ("Commerzbank", "Nordlicht IT GmbH")
    assert settings.payment_term_days == 21

    page = staff_client.get(URL).get_data(as_text=True)
    assert 'value="DE89 3704 0044 0532 0130 00"' in page
    assert 'value="COBADEFFXXX"' in page and 'value="21"' in page


def test_a_bic_of_another_bank_is_refused_in_german(app, staff_client):
    page = _save(staff_client, headers={"Accept-Language": "de"}, bic="DEUTDEFF")
    html = page.get_data(as_text=True)

    assert 'data-error-for="bic"' in html
    assert "Diese BIC gehört nicht zur Bank der IBAN (Commerzbank, BIC COBADEFFXXX)." in html
    assert load_invoice_settings().iban == ""


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("seller_name", "  ", "Please enter the company name"),
        ("seller_address", "", "Please enter the address"),
        ("seller_vat_id", "DE123", "This VAT-ID is not valid"),
        ("ip_purchase_price", "-1", "Please enter the purchase price"),
        ("ip_purchase_price", "abc", "Please enter the purchase price"),
        ("ip_purchase_price", "NaN", "Please enter the purchase price"),
        ("iban", "DE89 3704 0044 0532 0130 01", "This IBAN is not valid"),
        ("bic", "COBADEF", "This BIC is not valid"),
        ("payment_term_days", "two weeks", "The payment term must be a whole number"),
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
