"""German that is German after a click (issue 16): the messages staff read after an action
carry dates and amounts in their language (the page sweep sees the pages, not what an action
flashes), and amounts are typed the German way too."""

from __future__ import annotations

from decimal import Decimal

from flask import current_app

from billing.kernel.audit import SYSTEM
from billing.payments import ledger
from billing.subscriptions import service_subscriptions as services
from billing.subscriptions.service_terms import ServiceInput
from models import Customer, ServiceSubscription, db
from tests import factories
from tests.i18n.german import findings, visible_text


def _german(staff_client):
    staff_client.post("/admin/language/", data={"language": "de", "csrf_token": staff_client.token})
    return staff_client


def _said(response, customer) -> str:
    text = visible_text(response.get_data(as_text=True))
    found = findings(text, allowed=(customer.company_name, current_app.config["PRODUCT_NAME"]))
    assert found == [], found
    return text


def test_a_booking_is_confirmed_in_euros_and_typed_with_a_decimal_comma(app, staff_client):
    factories.reference(app)
    customer = factories.customer(app)
    client = _german(staff_client)
    details = client.get(f"/admin/customer/details/?id={customer.id}").get_data(as_text=True)
    assert 'placeholder="25,00"' in details
    response = client.post(
        f"/admin/customer/{customer.id}/ledger/",
        data={
            "csrf_token": client.token,
            "direction": "credit",
            "amount": "25,50",
            "description": "Kulanz",
            "seen": ledger.last_entry_id(customer.id) or "",
        },
        follow_redirects=True,
    )
    assert "+25,50 € gebucht; der Saldo beträgt jetzt 25,50 €." in _said(response, customer)
    assert ledger.balance(customer.id) == Decimal("25.50")


def test_the_dates_of_subscription_messages_read_as_german_dates(app, staff_client):
    factories.reference(app)
    clock = app.config["CLOCK"]
    customer = factories.customer(app, internal=10, external=2)
    sub = services.add_service(customer.id, ServiceInput("Standort", 8, 2, 12), SYSTEM, clock)
    client = _german(staff_client)
    version = db.session.get(ServiceSubscription, sub.id).version
    response = client.post(
        f"/admin/customer/{customer.id}/subscriptions/{sub.id}/auto-renew/",
        data={"csrf_token": client.token, "version": version, "auto_renew": "0"},
        follow_redirects=True,
    )
    assert "Standort endet mit seiner Laufzeit am 14. November 2027." in _said(response, customer)
    version = db.session.get(Customer, customer.id).version
    response = client.post(
        f"/admin/customer/{customer.id}/cancel/",
        data={"csrf_token": client.token, "version": version},
        follow_redirects=True,
    )
    assert "es wird bis zum 30. November 2026 abgerechnet" in _said(response, customer)
