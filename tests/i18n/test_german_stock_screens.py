"""Flask-Admin's own screens in German (issue 16): a view that switches on the stock create,
edit, details, delete, search, filters and bulk delete (the low-code way, ARCHITECTURE.md) shows
Flask-Admin's buttons, questions and messages in German to a German staff member, with none of
its English strings (tests/i18n/german.py takes them from Flask-Admin's German catalogue). The
product's own screens are swept by test_german_sweep.py; no product screen uses these stock
pages, so a throwaway view does."""

from __future__ import annotations

import re
import shutil

import pytest
from flask import current_app
from flask_babel import lazy_gettext

from admin_views.base import SecureModelView
from billing.kernel.permissions import Permission
from models import Customer, Tag, db
from tests.conftest import SharedApp, csrf_token, make_staff, rolled_back, sign_in
from tests.i18n.german import findings, visible_text


class StockTags(SecureModelView):
    """Every stock screen of Flask-Admin switched on, declared as its examples do."""

    permission = Permission.MANAGE_CUSTOMERS
    action_permission = Permission.MANAGE_CUSTOMERS
    can_create = True
    can_edit = True
    can_delete = True
    can_view_details = True
    column_list = ["name"]
    column_searchable_list = ["name"]
    column_filters = ["name"]


class StockCustomers(SecureModelView):
    """The stock list of a model with a date, a flag and a number: their filters."""

    permission = Permission.READ
    column_list = ["company_name", "created_at", "locked", "internal_ips"]
    column_filters = ["created_at", "locked", "internal_ips"]
    column_labels = {
        "company_name": lazy_gettext("Company Name"),
        "created_at": lazy_gettext("Created"),
        "locked": lazy_gettext("Locked"),
        "internal_ips": lazy_gettext("Internal IPs"),
    }


def _add_views(app) -> None:
    admin = app.extensions["admin"][0]
    admin.add_view(
        StockTags(
            Tag, db, name=lazy_gettext("Tags"), endpoint="stock_tags", url="/admin/stock_tags"
        )
    )
    admin.add_view(
        StockCustomers(
            Customer,
            db,
            name=lazy_gettext("Customers"),
            endpoint="stock_customers",
            url="/admin/stock_customers",
        )
    )


@pytest.fixture(scope="module")
def stock_app(sqlite_template, tmp_path_factory):
    path = tmp_path_factory.mktemp("stock") / "stock.db"
    shutil.copy(sqlite_template, path)
    shared = SharedApp(f"sqlite:///{path}", prepare=_add_views)
    yield shared
    shared.close()


@pytest.fixture
def german(stock_app, clock):
    """A German ``admin`` on the app with the stock views; rolled back after the test."""
    with rolled_back(stock_app, clock) as app:
        make_staff(app, "admin")
        client = app.test_client()
        assert sign_in(client, "admin@staff.example").status_code == 302
        token = csrf_token(client, "/admin/")
        client.post("/admin/language/", data={"language": "de", "csrf_token": token})
        yield client


def _read(response) -> str:
    """The page's visible text, with none of the product's or Flask-Admin's English (the
    product's name is a name)."""
    assert response.status_code == 200, response.status_code
    text = visible_text(response.get_data(as_text=True))
    assert findings(text, (current_app.config["PRODUCT_NAME"],)) == []
    return text


def _token(client, url: str) -> str:
    return csrf_token(client, url)


def test_the_stock_screens_read_german(german):
    client = german
    empty = _read(client.get("/admin/stock_tags/"))
    assert "Die Tabelle ist leer." in empty
    assert "Filter hinzufügen" in empty and "Suche" in empty and "25 Elemente" in empty
    assert "50 Elemente" in empty and "Erstellen" in empty

    form = _read(client.get("/admin/stock_tags/new/"))
    assert {"Speichern", "Speichern und neuer Eintrag", "Speichern und Fortfahren"} <= set(
        form.splitlines()
    )
    assert "Abbrechen" in form and "Liste" in form
    created = client.post(
        "/admin/stock_tags/new/",
        data={"csrf_token": _token(client, "/admin/stock_tags/new/"), "name": "Wartung"},
        follow_redirects=True,
    )
    assert "Eintrag wurde erfolgreich erstellt." in _read(created)
    tag_id = db.session.scalar(db.select(Tag.id).where(Tag.name == "Wartung"))

    listed = _read(client.get("/admin/stock_tags/"))
    assert {"Eintrag ansehen", "Eintrag bearbeiten", "Mit Auswahl"} <= set(listed.splitlines())
    assert "Sind Sie sicher, dass Sie die ausgewählten Einträge löschen möchten?" in listed
    assert "Bitte wählen Sie mindestens einen Eintrag aus." in listed
    assert "Sind Sie sicher, dass Sie diesen Eintrag löschen möchten?" in listed
    assert "Nach Name sortieren" in listed
    assert {"gleich", "ungleich", "enthält", "enthält nicht", "leer", "in Liste"} <= set(
        listed.splitlines()
    )

    details = _read(client.get(f"/admin/stock_tags/details/?id={tag_id}"))
    assert {"Liste", "Erstellen", "Bearbeiten", "Details"} <= set(details.splitlines())
    edit_url = f"/admin/stock_tags/edit/?id={tag_id}"
    _read(client.get(edit_url))
    saved = client.post(
        edit_url,
        data={"csrf_token": _token(client, edit_url), "name": "Wartung 2"},
        follow_redirects=True,
    )
    assert "Eintrag wurde erfolgreich gespeichert." in _read(saved)

    filtered = _read(client.get("/admin/stock_tags/?flt0_name_contains=Wart"))
    assert "Filter zurücksetzen" in filtered and "Wartung 2" in filtered

    html = client.get("/admin/stock_tags/").get_data(as_text=True)
    assert "onclick" not in html, "the Content-Security-Policy refuses inline handlers"
    form_token = re.search(
        r'id="action_form".*?name="csrf_token" value="([^"]+)"', html, re.S
    ).group(1)
    deleted = client.post(
        "/admin/stock_tags/action/",
        data={"csrf_token": form_token, "action": "delete", "rowid": [str(tag_id)]},
        follow_redirects=True,
    )
    assert "Eintrag wurde erfolgreich gelöscht." in _read(deleted)
    assert db.session.get(Tag, tag_id) is None


def test_the_stock_date_and_flag_filters_read_german(german):
    """The operations of the date, flag and number filters Flask-Admin derives from column
    names, and the project's "in the last N days"."""
    listed = _read(german.get("/admin/stock_customers/")).splitlines()
    assert {"größer als", "kleiner als", "zwischen", "nicht zwischen"} <= set(listed)
    assert {"in den letzten N Tagen", "Ja", "Nein"} <= set(listed)
    refused = _read(german.get("/admin/stock_customers/?flt0_created_at_greater_than=morgen"))
    assert "Ungültiger Filter-Wert: morgen" in refused
