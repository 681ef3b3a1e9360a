"""One permission table (SPEC §1; issue 15 item 3): every admin route declares the permission
it needs, the roles that have it come from ``billing.kernel.permissions.TABLE`` alone, and
docs/permissions.md is that table, generated."""

from __future__ import annotations

from pathlib import Path

from admin_views.access import endpoint_permissions, permissions_markdown
from billing.kernel import permissions
from billing.kernel.permissions import Permission
from tests import factories
from tests.conftest import csrf_token, make_staff, sign_in
from tests.security.routes import ACCESS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def test_every_admin_route_needs_the_permission_the_sweep_expects(app):
    """What the views declare (``permission``, ``@requires``, a row action's entry) is what
    the access sweep checks each role against; a route no view guards shows up here."""
    declared = endpoint_permissions(app)
    expected = {
        endpoint: access
        for endpoint, access in ACCESS.items()
        if isinstance(access, Permission) and endpoint.split(".")[0] in _admin_views(app)
    }
    assert declared == expected


def _admin_views(app) -> set[str]:
    (admin,) = app.extensions["admin"]
    return {view.endpoint for view in [admin.index_view, *admin._views]}


def test_the_docs_are_the_table(app):
    """docs/permissions.md is generated (``flask staff permissions``) from the table and the
    views, so it cannot drift from them."""
    assert DOCS.read_text(encoding="utf-8") == permissions_markdown(app), (
        "regenerate: flask staff permissions > docs/permissions.md"
    )
    assert "| `manage_settings` |" in DOCS.read_text(encoding="utf-8")


def test_changing_the_table_changes_what_a_role_may_do(app, monkeypatch):
    """Give ``support`` the settings and take its invites away, and take the money side from
    ``billing``, in the table only: screens, buttons and endpoints follow."""
    factories.reference(app)
    invited = factories.customer(app, state="invited")
    table = permissions.TABLE
    monkeypatch.setitem(
        table,
        "support",
        table["support"] - {Permission.RESEND_INVITES} | {Permission.MANAGE_SETTINGS},
    )
    monkeypatch.setitem(table, "billing", table["billing"] - {Permission.MANAGE_BILLING})
    support, billing = app.test_client(), app.test_client()
    sign_in(support, make_staff(app, "support").email)
    sign_in(billing, make_staff(app, "billing").email)
    assert support.get("/admin/settings/mail/").status_code == 200
    list_page = support.get("/admin/customer/").get_data(as_text=True)
    assert 'data-action="resend_invite"' not in list_page
    token = csrf_token(support, "/admin/")
    resend = support.post(
        f"/admin/customer/{invited.id}/resend-invite/", data={"csrf_token": token}
    )
    assert resend.status_code == 403
    assert billing.get("/admin/billing_run/").status_code == 200
    token = csrf_token(billing, "/admin/")
    start = billing.post(
        "/admin/billing_run/start/", data={"csrf_token": token, "period": "2026-10"}
    )
    assert start.status_code == 403
    assert 'id="start-run-form"' not in billing.get("/admin/billing_run/").get_data(as_text=True)


def test_a_role_outside_the_table_gets_nothing(app, monkeypatch):
    """A role the table does not list has no permission at all: not even the dashboard."""
    monkeypatch.delitem(permissions.TABLE, "support")
    client = app.test_client()
    sign_in(client, make_staff(app, "support").email)
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/customer/").status_code == 403
