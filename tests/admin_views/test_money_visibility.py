"""Purchase prices and costs are for the roles the permission table gives
``Permission.SEE_FINANCIALS`` (SPEC §1, §9; issue 13 item 7): ``support`` sees no purchase
price on any screen or export (the project key list showed every key's price), ``admin`` and
``billing`` do; the dashboard, the billing data and the key screens all follow the one table."""

from __future__ import annotations

import csv
import io

import pytest

from admin_views.base import SecureModelView
from billing.kernel import permissions
from billing.kernel.audit import SYSTEM
from billing.kernel.permissions import Permission, can
from billing.subscriptions.project_keys import create_key
from models import Invoice, ProjectKey, db
from tests import factories
from tests.conftest import csrf_token, make_staff, sign_in

PRICE = "1234.56"
SHOWN = "1,234.56"  # how an English page writes it


def _client(app, role):
    client = app.test_client()
    assert sign_in(client, make_staff(app, role).email).status_code == 302
    client.token = csrf_token(client, "/admin/")
    return client


@pytest.fixture
def key(app):
    return create_key("PK-MONEY-1", "50", "12", PRICE, SYSTEM, app.config["CLOCK"])


def test_the_permission_table():
    assert can("admin", Permission.SEE_FINANCIALS) and can("billing", Permission.SEE_FINANCIALS)
    assert not can("support", Permission.SEE_FINANCIALS)
    assert not can(None, Permission.SEE_FINANCIALS) and not can("root", Permission.SEE_FINANCIALS)
    assert permissions.roles_with(Permission.SEE_FINANCIALS) == ("admin", "billing")


def test_support_sees_the_keys_without_their_purchase_price(app, key):
    page = _client(app, "support").get("/admin/project_key/").get_data(as_text=True)
    assert "PK-MONEY-1" in page
    assert "Purchase price" not in page.split('id="new-key-form"')[0]
    assert PRICE not in page and "1,234.56" not in page


@pytest.mark.parametrize("role", ["admin", "billing"])
def test_admin_and_billing_see_the_purchase_price(app, key, role):
    page = _client(app, role).get("/admin/project_key/").get_data(as_text=True)
    assert "PK-MONEY-1" in page and SHOWN in page


def test_support_cannot_sort_the_keys_by_purchase_price(app, key):
    """The column's sort link is gone, and its index names another column for support."""
    create_key("PK-MONEY-2", "10", "12", "1.00", SYSTEM, app.config["CLOCK"])
    client = _client(app, "support")
    page = client.get("/admin/project_key/").get_data(as_text=True)
    assert "purchase_price" not in page
    for sort in range(10):
        listing = client.get(f"/admin/project_key/?sort={sort}")
        assert listing.status_code == 200 and SHOWN not in listing.get_data(as_text=True)


class KeysWithExport(SecureModelView):
    """A staff developer's customised screen: the stock details view and CSV export."""

    permission = Permission.READ
    can_view_details = True
    can_export = True
    export_types = ["csv"]
    column_list = ["key", "ip_count", "purchase_price"]
    column_sortable_list = ["key", "purchase_price"]


class InvoicesWithCost(SecureModelView):
    permission = Permission.READ
    can_export = True
    column_list = ["number", "gross", "purchase_cost"]


def _add(app, view, endpoint):
    app.extensions["admin"][0].add_view(view(view_model(view), db, endpoint=endpoint))


def view_model(view):
    return Invoice if view is InvoicesWithCost else ProjectKey


@pytest.mark.fresh_database
@pytest.mark.parametrize("role", ["support", "admin"])
def test_a_customised_screen_hides_purchase_prices_in_details_and_exports(app, key, role):
    _add(app, KeysWithExport, "keys_export")
    _add(app, InvoicesWithCost, "invoices_cost")
    client = _client(app, role)
    sees = role == "admin"
    listing = client.get("/admin/keys_export/").get_data(as_text=True)
    assert ("Purchase Price" in listing) is sees and (SHOWN in listing) is sees
    details = client.get(f"/admin/keys_export/details/?id={key.id}").get_data(as_text=True)
    assert "PK-MONEY-1" in details and (SHOWN in details) is sees
    exported = client.get("/admin/keys_export/export/csv/")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[1][0] == "PK-MONEY-1" and (PRICE in rows[1]) is sees
    assert ("purchase_price" in rows[0]) is sees  # exports use stable keys, not labels
    invoices = client.get("/admin/invoices_cost/export/csv/").get_data(as_text=True)
    assert ("purchase_cost" in invoices.splitlines()[0]) is sees


def test_a_screen_may_not_search_or_filter_by_a_purchase_price(app):
    """A search or filter on the column would show every role its values."""

    class Filtered(SecureModelView):
        column_filters = ["purchase_price"]

    class Searched(SecureModelView):
        column_searchable_list = ["purchase_price"]

    for view in (Filtered, Searched):
        with pytest.raises(ValueError, match="purchase_price"):
            view(ProjectKey, db, endpoint=f"bad_{view.__name__.lower()}")


def test_every_screen_follows_the_one_table(app, key, monkeypatch):
    """Give ``support`` the permission and take it from ``billing`` in the table: the key list,
    the wizard's overview, the dashboard's money figures and the billing data follow."""
    factories.reference(app)
    table = permissions.TABLE
    monkeypatch.setitem(table, "support", table["support"] | {Permission.SEE_FINANCIALS})
    monkeypatch.setitem(table, "billing", table["billing"] - {Permission.SEE_FINANCIALS})
    support, billing = _client(app, "support"), _client(app, "billing")
    assert SHOWN in support.get("/admin/project_key/").get_data(as_text=True)
    assert SHOWN not in billing.get("/admin/project_key/").get_data(as_text=True)
    assert 'data-figure="cost.total"' in support.get("/admin/").get_data(as_text=True)
    assert 'data-figure="cost.total"' not in billing.get("/admin/").get_data(as_text=True)
    assert support.get("/admin/billing-data/csv/?month=2026-10").status_code == 200
    assert billing.get("/admin/billing-data/csv/?month=2026-10").status_code == 403
    customer = factories.customer(app)
    wizard = billing.post(
        f"/admin/customer/{customer.id}/project-key/",
        data={"csrf_token": billing.token, "step": "key", "key": "PK-MONEY-1"},
    ).get_data(as_text=True)
    assert "IP count" in wizard and "Purchase price" not in wizard
    assert PRICE not in wizard and SHOWN not in wizard
