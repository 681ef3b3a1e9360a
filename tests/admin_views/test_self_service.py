"""Billing → Self-Service (seed 3.5, SPEC §5)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.catalog.pricing import load_tiers
from billing.catalog.selfservice import load_self_service
from models import AuditEvent, Customer, Invoice, db
from tests import factories
from tests.conftest import make_staff, sign_in

ROWS = {"lower": ["1", "51", "251"], "upper": ["50", "250", ""], "price": ["4.50", "3.20", "2.10"]}


def _post(client, action, rows):
    return client.post(
        "/admin/self-service/prices/", data={"csrf_token": client.token, "action": action, **rows}
    )


def test_settings_are_saved(app, staff_client):
    response = staff_client.post(
        "/admin/self-service/",
        data={
            "csrf_token": staff_client.token,
            "registration_enabled": "y",
            "article_name": "Vulnerability scanning",
            "article_name_de": "Schwachstellen-Scan",
            "article_number": "VS-100",
        },
    )
    assert response.status_code == 302
    settings = load_self_service()
    assert settings.registration_enabled and settings.article_number == "VS-100"
    assert settings.article_name_in("de") == "Schwachstellen-Scan"
    assert settings.article_name_in("en") == "Vulnerability scanning"


def test_preview_shows_what_customers_would_pay_before_saving(app, staff_client):
    """SPEC §5/issue: the screen shows current customers' new prices before saving."""
    factories.reference(app)
    factories.customer(app, internal=280, external=20)
    factories.customer(app, internal=10, external=0)
    rows = dict(ROWS, price=["5.00", "3.20", "2.10"])
    page = _post(staff_client, "preview", rows).get_data(as_text=True)
    assert 'id="price-preview"' in page and 'id="save-prices"' in page
    assert "+25.00" in page and "+5.00" in page
    assert load_tiers()[0].unit_price == Decimal("4.50")
    response = _post(staff_client, "save", rows)
    assert response.status_code == 302
    assert load_tiers()[0].unit_price == Decimal("5.00")
    prices = sorted(db.session.scalars(db.select(Customer.monthly_price)))
    assert prices == [Decimal("50.00"), Decimal("995.00")]


def test_saving_prices_never_rewrites_past_invoices(app, staff_client):
    from billing.invoicing.drafting import draft_invoice

    factories.reference(app)
    created = factories.customer(app, internal=10, external=0)
    clock = app.config["CLOCK"]
    invoice = draft_invoice(created.id, clock.today().replace(day=1), clock)
    net, gross = invoice.net, invoice.gross
    assert (
        _post(staff_client, "save", dict(ROWS, price=["9.00", "3.20", "2.10"])).status_code == 302
    )
    assert db.session.get(Customer, created.id).monthly_price == Decimal("90.00")
    stored = db.session.get(Invoice, invoice.id)
    assert (stored.net, stored.gross) == (net, gross)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ({"lower": ["1", "60"], "upper": ["50", ""], "price": ["1", "1"]}, "without gap"),
        ({"lower": ["1", "40"], "upper": ["50", ""], "price": ["1", "1"]}, "without gap"),
        ({"lower": ["1"], "upper": [""], "price": ["-1"]}, "negative"),
        ({"lower": ["1"], "upper": [""], "price": ["abc"]}, "whole numbers"),
        ({"lower": ["x"], "upper": [""], "price": ["1"]}, "whole numbers"),
        ({"lower": ["2"], "upper": [""], "price": ["1"]}, "start at 1"),
        ({"lower": ["1", "11"], "upper": ["10", "20"], "price": ["1", "1"]}, "open-ended"),
        ({"lower": [""], "upper": [""], "price": [""]}, "at least one range"),
        ({"lower": ["1"], "upper": [""], "price": ["1.00001"]}, "four decimal"),
    ],
)
def test_bad_tier_tables_are_refused_with_a_message(app, staff_client, rows, message):
    factories.reference(app)
    for action in ("preview", "save"):
        page = _post(staff_client, action, rows)
        assert page.status_code == 200
        assert message in page.get_data(as_text=True)
    assert [t.lower for t in load_tiers()] == [1, 51, 251]


def test_only_admins_edit_prices(app):
    factories.reference(app)
    billing = make_staff(app, "billing")
    client = app.test_client()
    sign_in(client, billing.email)
    assert client.get("/admin/self-service/").status_code == 403
    assert (
        db.session.scalar(
            db.select(AuditEvent).where(
                AuditEvent.action == "pricing.replace_tiers", AuditEvent.actor_type == "staff"
            )
        )
        is None
    )
