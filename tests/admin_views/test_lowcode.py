"""Customising screens by editing views, the way Flask-Admin's own examples do (ARCHITECTURE.md,
the low-code rule; issue 15 item 1). Each recipe of docs/development.md is performed here on a
throwaway view, and the same stock declarations are checked on the real customer list: a list
column, filters from plain column names (dates included) next to keyed ones, a JSON export of a
new ModelView, an export field, and a stock ``@action`` bulk action (POST, CSRF, role-checked,
audited, per-record refusals in one message)."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date

import pytest
from flask_admin.actions import action
from flask_babel import lazy_gettext

from admin_views.auth import clock, staff_actor
from admin_views.base import SecureModelView
from admin_views.customers import STATUS_LABELS, ChoiceFilter, CustomerAdmin
from admin_views.filters import InLastDaysFilter
from billing.customers.lifecycle import set_locked
from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.kernel.audit import SYSTEM
from billing.kernel.permissions import Permission
from billing.reporting.exports import EXPORT_FIELDS, Field
from models import AuditEvent, Customer, Invoice, db
from tests import factories
from tests.conftest import SharedApp, berlin, csrf_token, make_staff, rolled_back, sign_in

# --- the throwaway views: each one is what a recipe asks a newcomer to write -----------------


class CityColumnCustomers(CustomerAdmin):
    """Recipe "add a list column": the customer list with the city as one more column."""

    column_list = [*CustomerAdmin.column_list, "city"]


class FilteredCustomers(SecureModelView):
    """Recipe "add a filter": plain column names, a date among them."""

    permission = Permission.READ
    column_list = ["company_name", "city", "created_at"]
    column_filters = ["city", "created_at"]


class MixedFilterCustomers(SecureModelView):
    """Keyed filters (stable URL names of their own) side by side with plain column names."""

    permission = Permission.READ
    column_list = ["company_name", "status", "city"]
    column_filters = [
        ChoiceFilter(
            Customer.status,
            lazy_gettext("Status"),
            options=lambda: list(STATUS_LABELS.items()),
            key="status",
        ),
        InLastDaysFilter(Customer.created_at, lazy_gettext("Created"), key="created"),
        "city",
        "created_at",
    ]


class ActiveByDefaultCustomers(SecureModelView):
    """Recipe "a filter that holds by default": active customers until the status filter says
    otherwise, and how many match above the list."""

    permission = Permission.READ
    column_list = ["company_name", "status"]
    column_filters = [
        ChoiceFilter(
            Customer.status,
            lazy_gettext("Status"),
            options=lambda: list(STATUS_LABELS.items()),
            key="status",
        )
    ]
    column_default_filters = {"status": "active"}
    list_count = True


class InvoiceExport(SecureModelView):
    """Recipe "a new ModelView with a JSON export": the columns typed by their SQL types."""

    permission = Permission.READ
    can_export = True
    export_types = ["json"]
    column_list = ["number", "period", "state", "gross", "finalized_at"]
    column_filters = ["state"]
    column_export_list = ["id", "number", "period", "state", "gross", "emailed_at"]
    column_labels = {"number": lazy_gettext("Number"), "gross": lazy_gettext("Total")}


class BareInvoiceExport(SecureModelView):
    """Nothing but the two stock attributes: the model's columns are exported."""

    permission = Permission.READ
    can_export = True
    export_types = ["json"]


class StreetExportCustomers(CustomerAdmin):
    """Recipe "add an export field": the customer export plus the street."""

    export_fields = (*EXPORT_FIELDS, Field("street", "text", Customer.street))


class UnlockCustomers(SecureModelView):
    """Recipe "add a bulk action": a stock @action that calls one billing function per row."""

    permission = Permission.READ
    action_permission = Permission.MANAGE_CUSTOMERS
    column_list = ["company_name", "locked"]

    @action("unlock", lazy_gettext("Unlock"))
    def action_unlock(self, ids):
        self.apply_to_selected(
            ids,
            lambda customer_id: set_locked(customer_id, False, staff_actor(), clock()),
            lambda count: f"{count} unlocked",
        )


class UnlockFromCustomerList(CustomerAdmin):
    """The same stock @action on the customer list, whose rows are built in Python."""

    @action("unlock", lazy_gettext("Unlock"))
    def action_unlock(self, ids):
        UnlockCustomers.action_unlock(self, ids)


THROWAWAY = {
    "recipe_column": (CityColumnCustomers, None),
    "recipe_filters": (FilteredCustomers, Customer),
    "recipe_mixed_filters": (MixedFilterCustomers, Customer),
    "recipe_default_filter": (ActiveByDefaultCustomers, Customer),
    "recipe_export": (InvoiceExport, Invoice),
    "recipe_bare_export": (BareInvoiceExport, Invoice),
    "recipe_export_field": (StreetExportCustomers, None),
    "recipe_action": (UnlockCustomers, Customer),
    "recipe_list_action": (UnlockFromCustomerList, None),
}


def _add_views(app) -> None:
    """The throwaway views, added to the admin before the app answers its first request."""
    admin = app.extensions["admin"][0]
    for endpoint, (view, model) in THROWAWAY.items():
        arguments = (db,) if model is None else (model, db)
        admin.add_view(view(*arguments, endpoint=endpoint, url=f"/admin/{endpoint}"))


@pytest.fixture(scope="module")
def lowcode_app(sqlite_template, tmp_path_factory):
    """This test process's app with the throwaway views (see tests/conftest.py)."""
    path = tmp_path_factory.mktemp("lowcode") / "lowcode.db"
    shutil.copy(sqlite_template, path)
    shared = SharedApp(f"sqlite:///{path}", prepare=_add_views)
    yield shared
    shared.close()


@pytest.fixture
def views(lowcode_app, clock):
    """The app with the throwaway views and the reference data; rolled back after the test."""
    with rolled_back(lowcode_app, clock) as app:
        factories.reference(app)
        yield app


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


def _names(html: str) -> list[str]:
    return sorted(set(re.findall(r"(Alpha Berlin|Bravo Hamburg|Charlie Invited)", html)))


def _filter_args(html: str) -> set[str]:
    groups = json.loads(re.search(r'id="filter-groups-data"[^>]*>(.*?)</div>', html).group(1))
    return {item["arg"] for items in groups.values() for item in items}


# --- a list column ----------------------------------------------------------------------------


def test_recipe_add_a_list_column(views):
    """A column added to ``column_list`` shows in the customer list, whose rows are built in
    Python: header from the stock template, one ``col-city`` cell per row."""
    _customers(views)
    html = signed_in(views, "admin").get("/admin/recipe_column/").get_data(as_text=True)
    assert "col-city" in html and ">City<" in html.replace("\n", "").replace(" ", "")
    assert re.findall(r'<td class="col-city">([^<]*)</td>', html) == ["Berlin", "Hamburg", ""]


# --- filters ----------------------------------------------------------------------------------


def test_recipe_add_a_filter(views):
    """``column_filters = ["city", "created_at"]`` on a view of the customer model: the page
    answers 200 and offers Flask-Admin's filters under stable names, and each filter URL
    works, also in German, with dates typed in the MSP's time zone."""
    _customers(views)
    client = signed_in(views, "admin")
    page = client.get("/admin/recipe_filters/")
    assert page.status_code == 200
    args = _filter_args(page.get_data(as_text=True))
    assert {"city_equals", "city_contains", "created_at_between"} <= args
    assert {"created_at_in_the_last_n_days", "created_at_greater_than"} <= args
    for query, expected in [
        ("flt0_city_equals=Berlin", ["Alpha Berlin"]),
        ("flt0_city_contains=burg", ["Bravo Hamburg"]),
        ("flt0_city_not_equal=Berlin", ["Bravo Hamburg", "Charlie Invited"]),
        ("flt0_created_at_in_the_last_n_days=30", ["Bravo Hamburg", "Charlie Invited"]),
        ("flt0_created_at_greater_than=2026-11-05+09%3A30%3A00", ["Charlie Invited"]),
        (
            "flt0_created_at_between=2026-10-01+00%3A00%3A00+to+2026-11-05+09%3A00%3A00",
            ["Alpha Berlin", "Bravo Hamburg"],
        ),
        ("flt0_city_contains=a&flt1_created_at_in_the_last_n_days=30", ["Bravo Hamburg"]),
    ]:
        for language in ("en", "de"):
            response = client.get(
                f"/admin/recipe_filters/?{query}", headers={"Accept-Language": language}
            )
            assert response.status_code == 200, query
            assert _names(response.get_data(as_text=True)) == expected, (query, language)


def test_keyed_and_plain_filters_side_by_side(views):
    """Keyed filters keep their own URL names next to the ones derived from column names."""
    _customers(views)
    client = signed_in(views, "admin")
    html = client.get("/admin/recipe_mixed_filters/").get_data(as_text=True)
    assert {"status_equals", "created_in_the_last_n_days", "city_equals"} <= _filter_args(html)
    assert _names(
        client.get(
            "/admin/recipe_mixed_filters/?flt0_status_equals=active"
            "&flt1_created_in_the_last_n_days=30&flt2_city_contains=a"
        ).get_data(as_text=True)
    ) == ["Bravo Hamburg"]


@pytest.mark.parametrize(
    "query",
    [
        "flt0_created_at_in_the_last_n_days=0",
        "flt0_created_at_in_the_last_n_days=99999999999",
        "flt0_created_at_in_the_last_n_days=%D9%A3",
        "flt0_created_at_between=0001-01-01+00%3A00%3A00+to+0001-01-01+00%3A30%3A00",
        "flt0_created_at_equals=2026-02-30+00%3A00%3A00",
        "flt0_created_at_smaller_than=tomorrow",
    ],
)
def test_a_bad_date_filter_value_is_reported_never_a_500(views, query):
    _customers(views)
    response = signed_in(views, "admin").get(f"/admin/recipe_filters/?{query}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Invalid Filter Value" in html
    assert _names(html) == ["Alpha Berlin", "Bravo Hamburg", "Charlie Invited"]


def test_the_customer_list_filters_by_city_and_creation_date(views):
    """The real customer list declares "city" and "created_at" next to its keyed filters; its
    filtered export follows them, and a saved view may keep them."""
    berlin_id, hamburg_id, _invited = _customers(views)
    client = signed_in(views, "admin")
    html = client.get("/admin/customer/").get_data(as_text=True)
    assert {"status_equals", "city_contains", "created_at_in_the_last_n_days"} <= _filter_args(html)
    recent = "flt0_status_equals=active&flt1_created_at_in_the_last_n_days=30"
    assert _names(client.get(f"/admin/customer/?{recent}").get_data(as_text=True)) == [
        "Bravo Hamburg"
    ]
    exported = json.loads(client.get(f"/admin/customer/export/json/?{recent}").data)
    assert [row["id"] for row in exported] == [hamburg_id]
    token = csrf_token(client, "/admin/customer/")
    saved = client.post(
        "/admin/saved-views/save/",
        data={"csrf_token": token, "name": "Recent Berlin", "query": "flt0_city_equals=Berlin"},
    )
    assert saved.headers["Location"].endswith("?flt0_city_equals=Berlin")
    assert _names(client.get(saved.headers["Location"]).get_data(as_text=True)) == ["Alpha Berlin"]


def test_recipe_a_filter_that_holds_by_default(views):
    """``column_default_filters``: the list (and its count) shows active customers until the
    address names the status filter; ``list_count`` says how many match."""
    _customers(views)
    client = signed_in(views, "admin")
    html = client.get("/admin/recipe_default_filter/").get_data(as_text=True)
    assert _names(html) == ["Alpha Berlin", "Bravo Hamburg"]
    assert re.search(r'id="list-count"[^>]*>2 records<', html)
    html = client.get("/admin/recipe_default_filter/?flt0_status_equals=invited").get_data(
        as_text=True
    )
    assert _names(html) == ["Charlie Invited"]
    assert re.search(r'id="list-count"[^>]*>1 record<', html)


def test_a_default_filter_without_its_filter_is_refused_when_the_view_is_built():
    class Wrong(ActiveByDefaultCustomers):
        column_default_filters = {"state": "active"}

    with pytest.raises(ValueError, match="column_default_filters names state"):
        Wrong(Customer, db, endpoint="wrong_default", url="/admin/wrong_default")


def test_two_filters_with_one_url_name_are_refused_when_the_view_is_built():
    class Clash(SecureModelView):
        column_filters = [
            ChoiceFilter(Customer.city, "City", options=[("Berlin", "Berlin")], key="city"),
            "city",
        ]

    with pytest.raises(ValueError, match="city_equals"):
        Clash(Customer, db, endpoint="clash")


@pytest.mark.postgres
@pytest.mark.fresh_database
def test_date_filters_and_a_derived_export_on_postgresql(pg_app):
    """The production database compares the filters' UTC instants with its timestamptz column
    and exports the columns typed."""
    app = pg_app
    _add_views(app)
    factories.reference(app)
    _berlin, hamburg_id, invited_id = _customers(app)
    client = signed_in(app, "admin")
    for query, expected in [
        ("flt0_created_at_in_the_last_n_days=30", ["Bravo Hamburg", "Charlie Invited"]),
        ("flt0_created_at_smaller_than=2026-11-05+09%3A00%3A01", ["Alpha Berlin", "Bravo Hamburg"]),
        (
            "flt0_created_at_between=2026-11-05+09%3A00%3A00+to+2026-11-05+09%3A00%3A00",
            ["Bravo Hamburg"],
        ),
        ("flt0_city_in_list=Berlin%2CHamburg", ["Alpha Berlin", "Bravo Hamburg"]),
    ]:
        assert _names(client.get(f"/admin/recipe_filters/?{query}").get_data(as_text=True)) == (
            expected
        ), query
    rows = json.loads(
        client.get(
            "/admin/recipe_export_field/export/json/?flt0_created_at_in_the_last_n_days=30"
        ).data
    )
    assert [row["id"] for row in rows] == [hamburg_id, invited_id]
    assert rows[0]["created_at"] == "2026-11-05T08:00:00+00:00" and rows[0]["street"] == ""


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
            "/admin/recipe_export/export/json/?flt0_state_equals=finalized",
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
    assert client.get("/admin/recipe_filters/export/json/").status_code == 404


# --- bulk actions -----------------------------------------------------------------------------


def _selection(html: str) -> tuple[list[str], str]:
    """The ids of the list's checkboxes and the CSRF token of its action form."""
    ids = re.findall(r'name="rowid" class="action-checkbox" value="([^"]+)"', html)
    form = html[html.index('id="action_form"') :]
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    return ids, token


def _locked_all(app):
    ids = _customers(app)
    for customer_id in ids:
        set_locked(customer_id, True, SYSTEM, app.config["CLOCK"])
    return ids


def _unlock_events() -> int:
    return db.session.scalar(
        db.select(db.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "customer.unlock")
    )


@pytest.mark.parametrize("endpoint", ["recipe_action", "recipe_list_action"])
def test_recipe_add_a_bulk_action(views, endpoint):
    """A stock ``@action`` on a throwaway view and on the customer list (rows built in Python):
    the list shows a checkbox per row and the action in "With selected"; posting the ticked
    rows with the form's CSRF token runs one billing call per row, audited."""
    ids = _locked_all(views)
    client = signed_in(views, "billing")
    html = client.get(f"/admin/{endpoint}/").get_data(as_text=True)
    assert 'data-bulk-action="unlock"' in html and "onclick" not in html
    rows, token = _selection(html)
    assert sorted(rows) == sorted(str(i) for i in ids)
    response = client.post(
        f"/admin/{endpoint}/action/",
        data={"csrf_token": token, "action": "unlock", "rowid": rows[:2], "url": "/admin/"},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    db.session.expire_all()
    assert [db.session.get(Customer, i).locked for i in ids] == [False, False, True]
    assert _unlock_events() == 2
    assert "2 unlocked" in client.get("/admin/").get_data(as_text=True)


@pytest.mark.parametrize("endpoint", ["recipe_action", "recipe_list_action"])
def test_a_bulk_action_needs_the_csrf_token_and_an_editor(views, endpoint):
    """Without the CSRF token the request is refused (400); support (read-only) sees no
    checkboxes and is refused with 403; a refused request changes nothing."""
    ids = _locked_all(views)
    editor = signed_in(views, "admin")
    forged = editor.post(
        f"/admin/{endpoint}/action/", data={"action": "unlock", "rowid": [str(ids[0])]}
    )
    assert forged.status_code == 400
    support = signed_in(views, "support")
    html = support.get(f"/admin/{endpoint}/").get_data(as_text=True)
    assert "action-checkbox" not in html and "data-bulk-action" not in html
    token = csrf_token(support, f"/admin/{endpoint}/")
    refused = support.post(
        f"/admin/{endpoint}/action/",
        data={"csrf_token": token, "action": "unlock", "rowid": [str(i) for i in ids]},
    )
    assert refused.status_code == 403
    db.session.expire_all()
    assert all(db.session.get(Customer, i).locked for i in ids)
    assert _unlock_events() == 0


def test_a_bulk_action_reports_refused_rows_in_one_message(views):
    """A record the billing function refuses (here: one that does not exist) is named with
    the reason in one message; the others are changed."""
    ids = _locked_all(views)
    client = signed_in(views, "admin")
    _rows, token = _selection(client.get("/admin/recipe_action/").get_data(as_text=True))
    client.post(
        "/admin/recipe_action/action/",
        data={"csrf_token": token, "action": "unlock", "rowid": [str(ids[0]), "999999", "x"]},
    )
    html = client.get("/admin/").get_data(as_text=True)
    assert "1 unlocked" in html
    assert "2 selected records were not changed: This record does not exist. (999999, x)" in html


# --- the row menu registry ---------------------------------------------------------------------


def test_a_post_entry_of_the_row_menu_is_a_form_with_the_csrf_token(app, monkeypatch):
    """Row actions are data (``actions.CUSTOMER_ACTIONS``): an entry whose method is POST
    renders as a form carrying the CSRF token and the row's version, whatever its name, so a new
    POST row action is no GET link answering 405."""
    from dataclasses import replace

    from admin_views import actions, customer_rows

    factories.reference(app)
    customer = factories.customer(app, mode="self_service")
    registry = actions.CUSTOMER_ACTIONS
    posted = actions.Actions(
        registry.argument,
        registry.refusal,
        *(replace(a, method="POST") if a.key == "convert" else a for a in registry),
    )
    monkeypatch.setattr(customer_rows, "CUSTOMER_ACTIONS", posted)
    client = signed_in(app, "admin")
    html = client.get("/admin/customer/").get_data(as_text=True)
    url = f"/admin/customer/{customer.id}/convert/"
    back = "?url=%2Fadmin%2Fcustomer%2F"
    form = re.search(
        rf'<form method="post" action="{re.escape(url + back)}"><input type="hidden" '
        r'name="csrf_token" '
        r'value="([^"]+)"><input type="hidden" name="version" value="\d+">'
        r'<button type="submit" class="dropdown-item" data-action="convert">',
        html,
    )
    assert form and f'href="{url}"' not in html
    assert client.post(url, data={"csrf_token": form.group(1)}).status_code != 405


def test_a_bulk_action_without_a_permission_is_refused_when_the_app_starts(app):
    """Deny by default, loudly: a view whose ``@action`` names no permission
    (``action_permission``) is refused when it is built, instead of offering the action to
    nobody (or to a role by accident)."""

    class Unguarded(SecureModelView):
        permission = Permission.READ

        @action("unlock", lazy_gettext("Unlock"))
        def action_unlock(self, ids):
            raise AssertionError("never runs")

    with pytest.raises(ValueError, match="unlock"):
        Unguarded(Customer, db, endpoint="unguarded")
