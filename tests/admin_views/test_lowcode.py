"""Customising screens by editing views, the way Flask-Admin's own examples do (ARCHITECTURE.md,
the low-code rule; issue 15 item 1). Each recipe of docs/development.md is performed here on a
throwaway view: a JSON export of a new ModelView and an export field."""

from __future__ import annotations

import json
from datetime import date

import pytest
from flask_babel import lazy_gettext

from admin_views.base import ALL_STAFF, SecureModelView
from admin_views.customers import CustomerAdmin
from billing.exports import EXPORT_FIELDS, Field
from billing.invoicing import draft_invoice, finalize_invoice
from models import AuditEvent, Customer, Invoice, db
from tests import factories
from tests.conftest import berlin, make_staff, sign_in

# --- the throwaway views: each one is what a recipe asks a newcomer to write -----------------


class InvoiceExport(SecureModelView):
    """Recipe "a new ModelView with a JSON export": the columns typed by their SQL types."""

    allowed_roles = ALL_STAFF
    can_export = True
    export_types = ["json"]
    column_list = ["number", "period", "state", "gross", "finalized_at"]
    column_searchable_list = ["billing_name"]
    column_export_list = ["id", "number", "period", "state", "gross", "emailed_at"]
    column_labels = {"number": lazy_gettext("Number"), "gross": lazy_gettext("Total")}


class BareInvoiceExport(SecureModelView):
    """Nothing but the two stock attributes: the model's columns are exported."""

    allowed_roles = ALL_STAFF
    can_export = True
    export_types = ["json"]


class StreetExportCustomers(CustomerAdmin):
    """Recipe "add an export field": the customer export plus the street."""

    export_fields = (*EXPORT_FIELDS, Field("street", "text", Customer.street))


THROWAWAY = {
    "recipe_export": (InvoiceExport, Invoice),
    "recipe_bare_export": (BareInvoiceExport, Invoice),
    "recipe_export_field": (StreetExportCustomers, None),
}


@pytest.fixture
def views(app):
    """The throwaway views, added to the admin before the app answers its first request."""
    admin = app.extensions["admin"][0]
    for endpoint, (view, model) in THROWAWAY.items():
        arguments = (db,) if model is None else (model, db)
        admin.add_view(view(*arguments, endpoint=endpoint, url=f"/admin/{endpoint}"))
    factories.reference(app)
    return app


def signed_in(app, role: str):
    make_staff(app, role)
    client = app.test_client()
    assert sign_in(client, f"{role}@staff.example").status_code == 302
    return client


def _customers(app):
    """Berlin (created 40 days before the clock's day), Hamburg (10 days before), and an
    invited customer without a city (created on the clock's day)."""
    instant = app.config["CLOCK"].instant
    app.config["CLOCK"].instant = berlin(2026, 10, 6, 9, 0)
    berlin_customer = factories.customer(app, company="Alpha Berlin")
    app.config["CLOCK"].instant = berlin(2026, 11, 5, 9, 0)
    hamburg = factories.customer(app, company="Bravo Hamburg")
    app.config["CLOCK"].instant = instant
    invited = factories.customer(app, state="invited", company="Charlie Invited")
    db.session.get(Customer, berlin_customer.id).city = "Berlin"
    db.session.get(Customer, hamburg.id).city = "Hamburg"
    db.session.commit()
    return berlin_customer.id, hamburg.id, invited.id


# --- exports ----------------------------------------------------------------------------------


@pytest.fixture
def invoices(views):
    app = views
    instant = app.config["CLOCK"].instant
    app.config["CLOCK"].instant = berlin(2026, 9, 1, 9, 0)
    first = factories.customer(app, company="Alpha Berlin")
    second = factories.customer(app, company="Bravo Hamburg", payment="card")
    app.config["CLOCK"].instant = berlin(2026, 11, 2, 9, 0)
    clock_ = app.config["CLOCK"]
    final = finalize_invoice(draft_invoice(first.id, date(2026, 10, 1), clock_).id, clock_)
    draft = draft_invoice(second.id, date(2026, 10, 1), clock_)
    app.config["CLOCK"].instant = instant
    return final.id, draft.id


def test_recipe_a_new_model_view_with_a_json_export(views, invoices):
    """``can_export = True`` and ``export_types = ["json"]`` on a new ModelView: a streamed
    JSON download of the listed rows, keys are the column names (not the translated labels, in
    any UI language), values typed (numbers, decimal strings, ISO dates, codes); audited."""
    final_id, draft_id = invoices
    client = signed_in(views, "support")
    for language in ("en", "de"):
        response = client.get(
            "/admin/recipe_export/export/json/?search=Alpha",
            headers={"Accept-Language": language},
        )
        assert response.status_code == 200 and response.mimetype == "application/json"
        assert response.headers["Cache-Control"] == "no-store"
    [row] = json.loads(response.data)
    final = db.session.get(Invoice, final_id)
    assert list(row) == ["id", "number", "period", "state", "gross", "emailed_at"]
    assert row == {
        "id": final_id,
        "number": final.number,
        "period": "2026-10-01",
        "state": "finalized",
        "gross": f"{final.gross:f}",
        "emailed_at": None,
    }
    everything = json.loads(client.get("/admin/recipe_export/export/json/").data)
    assert sorted(r["id"] for r in everything) == sorted([final_id, draft_id])
    event = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action == "recipe_export.export")
    ).first()
    assert event.after["format"] == "json" and event.actor_label == "support@staff.example"
    refused = client.get("/admin/recipe_export/export/csv/")
    assert refused.status_code == 302


def test_a_model_view_with_nothing_but_can_export_exports_its_columns(views, invoices):
    final_id, _draft_id = invoices
    rows = json.loads(signed_in(views, "admin").get("/admin/recipe_bare_export/export/json/").data)
    invoice = db.session.get(Invoice, final_id)
    [final] = [row for row in rows if row["number"] == invoice.number]
    assert final["period"] == "2026-10-01" and final["kind"] == "invoice"
    assert final["gross"] == f"{invoice.gross:f}" and final["created_at"].endswith("+00:00")
    assert "purchase_order" not in final, "relationships are left out"


def test_recipe_add_an_export_field(views):
    """One ``Field`` (key, kind, SQL expression) appended to the customer export's fields."""
    berlin_id, _hamburg, _invited = _customers(views)
    db.session.get(Customer, berlin_id).street = "=Unter den Linden 1"
    db.session.commit()
    client = signed_in(views, "admin")
    rows = json.loads(client.get("/admin/recipe_export_field/export/json/").data)
    assert list(rows[0]) == [f.key for f in EXPORT_FIELDS] + ["street"]
    assert rows[0]["street"] == "=Unter den Linden 1" and isinstance(rows[0]["id"], int)
    text = client.get("/admin/recipe_export_field/export/csv/").get_data(as_text=True)
    assert text.splitlines()[0].endswith(",street")
    assert "'=Unter den Linden 1" in text, "text cells are protected against formulas"


def test_a_view_without_export_has_no_export_route(views, invoices):
    client = signed_in(views, "admin")
    assert client.get("/admin/invoice/export/json/").status_code == 404
