"""A managed customer's own payment term, in its address form (Edit address; SPEC §14)."""

from __future__ import annotations

from models import AuditEvent, Customer, db
from tests import factories


def _form(staff_client, customer_id: int, **values) -> dict:
    form = {
        "csrf_token": staff_client.token,
        "version": db.session.get(Customer, customer_id).version,
        "company_name": "ACME",
        "street": "Ring 1",
        "postal_code": "10115",
        "city": "Berlin",
        "country": "DE",
    }
    form.update(values)
    return form


def test_staff_give_a_customer_its_own_payment_term_and_take_it_back(app, staff_client):
    factories.reference(app)
    created = factories.customer(app)
    url = f"/admin/customer/{created.id}/address/"
    page = staff_client.get(url).get_data(as_text=True)
    assert 'name="payment_term_days"' in page and "Empty: the setting (14 days)." in page

    response = staff_client.post(url, data=_form(staff_client, created.id, payment_term_days="30"))
    assert response.status_code == 302
    assert db.session.get(Customer, created.id).payment_term_days == 30
    event = db.session.scalar(
        db.select(AuditEvent).where(AuditEvent.action == "customer.edit_address")
    )
    assert event.before["payment_term_days"] is None and event.after["payment_term_days"] == 30
    assert 'value="30"' in staff_client.get(url).get_data(as_text=True)

    staff_client.post(url, data=_form(staff_client, created.id, payment_term_days=""))
    db.session.expire_all()
    assert db.session.get(Customer, created.id).payment_term_days is None


def test_a_bad_payment_term_is_shown_on_its_field_in_german(app, staff_client):
    factories.reference(app)
    created = factories.customer(app)
    html = staff_client.post(
        f"/admin/customer/{created.id}/address/",
        data=_form(staff_client, created.id, payment_term_days="vierzehn"),
        headers={"Accept-Language": "de"},
    ).get_data(as_text=True)

    assert 'data-error-for="payment_term_days"' in html
    assert "Das Zahlungsziel muss eine ganze Zahl von Tagen zwischen 0 und 365 sein." in html
    assert 'value="Ring 1"' in html
    db.session.expire_all()
    assert db.session.get(Customer, created.id).payment_term_days is None
