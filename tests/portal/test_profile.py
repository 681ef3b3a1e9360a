"""The company profile in the portal (SPEC §10, seed 3.2.7 and 3.5): self-service customers edit
their addresses with the admin's validation, managed customers read them."""

from __future__ import annotations

from models import AuditEvent, Customer, db
from tests import factories
from tests.portal.helpers import signed_in

ADDRESS = {
    "company_name": "Self GmbH",
    "street": "Hauptstraße 5",
    "street2": "",
    "postal_code": "10115",
    "city": "Berlin",
    "state": "",
    "country": "DE",
    "phone": "+49 30 1234",
    "vat_id": "",
    "billing_street": "",
    "billing_street2": "",
    "billing_postal_code": "",
    "billing_city": "",
    "billing_state": "",
    "billing_country": "",
}


def _save(client, customer_id, **changes):
    data = {**ADDRESS, **changes, "csrf_token": client.token}
    data.setdefault("version", str(db.session.get(Customer, customer_id).version))
    db.session.rollback()
    return client.post("/portal/company", data=data)


def _customer(customer_id) -> Customer:
    db.session.rollback()
    return db.session.get(Customer, customer_id)


def test_self_service_customer_edits_its_address(app):
    customer = factories.customer(app, mode="self_service", email="self@self.example")
    client = signed_in(app, "self@self.example")
    page = client.get("/portal/company").get_data(as_text=True)
    assert 'id="portal-profile-form"' in page
    response = _save(
        client,
        customer.id,
        use_billing_address="y",
        billing_street="Postfach 1",
        billing_postal_code="10001",
        billing_city="Berlin",
        billing_country="DE",
    )
    assert response.status_code == 302
    saved = _customer(customer.id)
    assert saved.company_name == "Self GmbH" and saved.street == "Hauptstraße 5"
    assert saved.use_billing_address and saved.billing_street == "Postfach 1"
    event = db.session.scalar(
        db.select(AuditEvent).where(AuditEvent.action == "customer.edit_address")
    )
    assert event.actor_label == "self@self.example" and event.actor_type == "user"


def test_the_admins_validation_applies(app):
    """The same rules as staff's Edit address: VAT-ID outside the home country, check digits,
    required billing address fields."""
    customer = factories.customer(app, mode="self_service", email="self@self.example")
    client = signed_in(app, "self@self.example")
    abroad = _save(client, customer.id, country="AT").get_data(as_text=True)
    assert "A VAT-ID is required" in abroad
    wrong = _save(client, customer.id, country="AT", vat_id="ATU00000000").get_data(as_text=True)
    assert "not valid" in wrong
    billing = _save(client, customer.id, use_billing_address="y").get_data(as_text=True)
    assert "This field is required." in billing
    ok = _save(client, customer.id, country="AT", vat_id="ATU13585627")
    assert ok.status_code == 302 and _customer(customer.id).vat_id == "ATU13585627"


def test_a_stale_form_is_refused(app):
    customer = factories.customer(app, mode="self_service", email="self@self.example")
    client = signed_in(app, "self@self.example")
    page = _save(client, customer.id, version="0", city="Hamburg").get_data(as_text=True)
    assert "changed by someone else" in page
    assert _customer(customer.id).city != "Hamburg"


def test_managed_customer_sees_its_data_read_only(app):
    """SPEC §10: managed customers see the company data "managed by your provider"."""
    customer = factories.customer(app, company="Managed AG", email="m@managed.example")
    client = signed_in(app, "m@managed.example")
    page = client.get("/portal/company").get_data(as_text=True)
    assert "managed by your provider" in page and "Managed AG" in page
    assert 'id="portal-profile-form"' not in page
    refused = _save(client, customer.id, company_name="Hijacked")
    assert refused.status_code == 302
    assert _customer(customer.id).company_name == "Managed AG"
    assert "managed by your provider" in client.get("/portal/company").get_data(as_text=True)
