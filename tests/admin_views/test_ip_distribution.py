"""The IP Distribution form for a customer with additional subscriptions (SPEC §4, §11;
issue 16): it says which subscription it changes, shows prices with their currency and dates in
the staff member's language, and previews without JavaScript."""

from __future__ import annotations

import html
import re
from datetime import date

from babel.numbers import format_currency

from billing.customers.customers import current_subscription, pending_change, subscription_price
from billing.kernel.audit import SYSTEM
from billing.subscriptions.distribution import preview
from billing.subscriptions.service_subscriptions import ServiceInput, add_service, suspend_service
from models import Customer, db
from tests import factories


def _customer(app, **kw):
    """Main subscription 20 + 10 by invoice; active additional 4 + 1, suspended 7 + 7: the list
    shows 24 + 11."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    created = factories.customer(app, internal=20, external=10, since=date(2026, 10, 1), **kw)
    add_service(created.id, ServiceInput("Site Hamburg", 4, 1, 12), SYSTEM, clock)
    paused = add_service(created.id, ServiceInput("Lab", 7, 7, 1), SYSTEM, clock)
    suspend_service(created.id, paused.id, SYSTEM, clock)
    return created


def _text(page, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:dd|p|h2)>', page, re.S)
    assert match, f"no #{element_id}"
    text = html.unescape(re.sub(r"<[^>]+>", " ", match.group(1)))
    return re.sub(r"[ \t\n]+", " ", text).strip()  # keeps the no-break spaces of amounts


def _preview_cell(page, key: str) -> str:
    match = re.search(rf'data-preview="{key}">([^<]*)<', page)
    assert match, f"no preview of {key}"
    return html.unescape(match.group(1))


def _url(customer) -> str:
    return f"/admin/customer/{customer.id}/ip-distribution/"


def _german(client) -> None:
    client.post("/admin/language/", data={"language": "de", "csrf_token": client.token})


def test_the_form_names_the_main_subscription_and_the_additional_ones(app, staff_client):
    created = _customer(app)
    page = staff_client.get(_url(created)).get_data(as_text=True)
    assert "This form changes the main subscription" in page
    assert _text(page, "main-counts") == "20 internal + 10 external IPs"
    assert _text(page, "additional-subscriptions") == "Site Hamburg: 4 internal + 1 external IPs"
    assert _text(page, "listed-counts") == "24 internal + 11 external IPs"
    assert _text(page, "payment-method") == "Invoice"
    price = subscription_price(current_subscription(created.id))
    assert _text(page, "current-price") == format_currency(price, "EUR", locale="en")
    assert _preview_cell(page, "current_price") == format_currency(price, "EUR", locale="en")
    # the form starts from the main subscription's counts, not the list's totals
    assert re.search(r'<input[^>]*id="total_ips"[^>]*value="30"', page)


def test_the_form_in_german_writes_prices_and_dates_the_german_way(app, staff_client):
    created = _customer(app)
    clock = app.config["CLOCK"]
    staff_client.post(
        _url(created),
        data={
            "csrf_token": staff_client.token,
            "version": db.session.get(Customer, created.id).version,
            "total_ips": "40",
            "internal_ips": "30",
            "external_ips": "10",
        },
    )
    assert pending_change(created.id) is not None
    _german(staff_client)
    page = staff_client.get(_url(created)).get_data(as_text=True)
    assert "Dieses Formular ändert das Hauptabonnement" in page
    assert _text(page, "main-counts") == "20 interne + 10 externe IPs"
    assert _text(page, "additional-subscriptions") == "Site Hamburg: 4 interne + 1 externe IPs"
    assert _text(page, "payment-method") == "Rechnung"
    price = subscription_price(current_subscription(created.id))
    german_price = format_currency(price, "EUR", locale="de")
    assert german_price.endswith(",00\xa0€")
    assert _text(page, "current-price") == german_price
    assert _text(page, "pending-change").startswith(
        "30 interne + 10 externe IPs ab 1. Dezember 2026"
    )
    plan = preview(created.id, 20, 10, False, clock)
    assert _preview_cell(page, "new_price") == format_currency(plan.new_price, "EUR", locale="de")
    assert _preview_cell(page, "effective_date") == "15. November 2026"


def test_the_price_preview_endpoint_writes_amounts_for_the_reader(app, staff_client):
    created = _customer(app)
    _german(staff_client)
    answer = staff_client.get(_url(created) + "preview?total=40&internal=30&external=10").get_json()
    plan = preview(created.id, 30, 10, False, app.config["CLOCK"])
    assert answer["kind"] == "scheduled" and answer["new_price"] == str(plan.new_price)
    assert answer["text"] == {
        "current_price": format_currency(plan.current_price, "EUR", locale="de"),
        "new_price": format_currency(plan.new_price, "EUR", locale="de"),
        "average_ip_price": format_currency(plan.average_ip_price, "EUR", locale="de"),
        "prorated_amount": "0,00\xa0€",
        "effective_date": "1. Dezember 2026",
    }


def test_without_javascript_show_price_effect_previews_and_saves_nothing(app, staff_client):
    created = _customer(app)
    response = staff_client.post(
        _url(created),
        data={
            "csrf_token": staff_client.token,
            "version": db.session.get(Customer, created.id).version,
            "total_ips": "60",
            "internal_ips": "50",
            "external_ips": "10",
            "instantly": "y",
            "action": "preview",
        },
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "nothing is saved yet" in page
    plan = preview(created.id, 50, 10, True, app.config["CLOCK"])
    assert _preview_cell(page, "new_price") == format_currency(plan.new_price, "EUR", locale="en")
    assert _preview_cell(page, "prorated_amount") == format_currency(
        plan.prorated_amount, "EUR", locale="en"
    )
    assert _preview_cell(page, "effective_date") == "November 15, 2026"
    assert 'value="60"' in page  # the values entered stay in the form
    assert current_subscription(created.id).total_ips == 30
    assert pending_change(created.id) is None


def test_a_same_total_resplit_through_the_form_applies_now(app, staff_client):
    """The list shows 24 + 11; re-splitting the main subscription's 30 is no increase."""
    created = _customer(app)
    response = staff_client.post(
        _url(created),
        data={
            "csrf_token": staff_client.token,
            "version": db.session.get(Customer, created.id).version,
            "total_ips": "30",
            "internal_ips": "5",
            "external_ips": "25",
        },
        follow_redirects=True,
    )
    assert "The new IP distribution applies now." in response.get_data(as_text=True)
    sub = current_subscription(created.id)
    assert (sub.internal_ips, sub.external_ips) == (5, 25)
    assert pending_change(created.id) is None


def test_a_scheduled_change_is_reported_with_its_date_in_the_staff_language(app, staff_client):
    created = _customer(app)
    _german(staff_client)
    response = staff_client.post(
        _url(created),
        data={
            "csrf_token": staff_client.token,
            "version": db.session.get(Customer, created.id).version,
            "total_ips": "35",
            "internal_ips": "24",
            "external_ips": "11",
        },
        follow_redirects=True,
    )
    assert "Die Änderung ist für den 1. Dezember 2026 geplant." in response.get_data(as_text=True)
