"""The customer's workflows are Flask-Admin views of their own (issue 15 item 4), not mixins
on the customer view: IP Distribution, the project-key wizard, the profile edits, the
additional subscriptions and the tools. Each is registered in ``build_admin`` under the
customer's address (the addresses staff know stay the same), guarded by the permission table,
and the row actions' registry points at its endpoints. The recipe of docs/development.md ("Add a
workflow on a customer") is performed on a throwaway view."""

from __future__ import annotations

import pytest
from flask import url_for
from flask_admin import expose

from admin_views import CUSTOMER_WORKFLOWS
from admin_views.access import endpoint_permissions
from admin_views.actions import CUSTOMER_ACTIONS
from admin_views.customer_record import CustomerWorkflowView
from admin_views.customers import CustomerAdmin
from billing.kernel.permissions import Permission
from tests import factories
from tests.conftest import make_staff, sign_in

# the address of every workflow's page or form, as staff knew it before the workflows were
# views of their own
ADDRESSES = {
    "ip_distribution.index": "/admin/customer/{id}/ip-distribution/",
    "project_key_wizard.index": "/admin/customer/{id}/project-key/",
    "customer_profile.address_view": "/admin/customer/{id}/address/",
    "customer_profile.organisation_view": "/admin/customer/{id}/organisation/",
    "customer_profile.contact_view": "/admin/customer/{id}/contacts/new/",
    "customer_profile.purchase_order_view": "/admin/customer/{id}/purchase-orders/new/",
    "customer_subscriptions.add_view": "/admin/customer/{id}/subscriptions/new/",
    "create_similar.index": "/admin/customer/{id}/similar/",
    "customer_message.index": "/admin/customer/{id}/message/",
    "customer_impersonation.index": "/admin/customer/{id}/impersonate/",
}


def _admin(app):
    (admin,) = app.extensions["admin"]
    return admin


def test_each_workflow_is_a_view_of_its_own_and_no_mixin_of_the_customer_view(app):
    views = {view.endpoint: view for view in _admin(app)._views}
    for view_class, endpoint, _address, _name in CUSTOMER_WORKFLOWS:
        view = views[endpoint]
        assert type(view) is view_class and isinstance(view, CustomerWorkflowView)
        assert view_class not in CustomerAdmin.__mro__
        assert not view.is_visible()
    for name in ("IpDistribution", "ProjectKeyWizard", "CustomerTools", "CustomerProfile"):
        assert not any(name in cls.__name__ for cls in CustomerAdmin.__mro__), name
    assert not any("ServiceSubscriptions" in c.__name__ for c in CustomerAdmin.__mro__)


def test_the_permission_table_guards_every_workflow_endpoint(app):
    needed = endpoint_permissions(app)
    endpoints = {endpoint for _view, endpoint, _address, _name in CUSTOMER_WORKFLOWS}
    guarded = {e: p for e, p in needed.items() if e.split(".")[0] in endpoints}
    assert len(guarded) >= 25
    assert all(isinstance(p, Permission) for p in guarded.values())
    assert guarded["ip_distribution.index"] == Permission.MANAGE_CUSTOMERS
    assert guarded["customer_impersonation.index"] == Permission.IMPERSONATE
    assert guarded["customer_ledger.index"] == Permission.MANAGE_BILLING
    assert guarded["team_invitations.resend_view"] == Permission.RESEND_INVITES


def test_the_row_actions_point_at_the_workflow_views(app):
    workflows = {endpoint for _view, endpoint, _address, _name in CUSTOMER_WORKFLOWS}
    by_key = {action.key: action.endpoint for action in CUSTOMER_ACTIONS}
    assert by_key["ip_distribution"] == "ip_distribution.index"
    assert by_key["add_project_key"] == "project_key_wizard.index"
    assert by_key["edit_address"] == "customer_profile.address_view"
    assert by_key["add_subscription"] == "customer_subscriptions.add_view"
    assert by_key["create_similar"] == "create_similar.index"
    pointing = {e.split(".")[0] for e in by_key.values() if not e.startswith(".")}
    assert pointing == workflows
    with app.test_request_context():
        for endpoint, address in ADDRESSES.items():
            assert url_for(endpoint, customer_id=7) == address.format(id=7)


def test_the_addresses_staff_know_open_the_workflows(app, staff_client):
    factories.reference(app)
    customer = factories.customer(app)
    for endpoint, address in ADDRESSES.items():
        response = staff_client.get(address.format(id=customer.id))
        assert response.status_code == 200, (endpoint, response.status_code)
    page = staff_client.get(f"/admin/customer/{customer.id}/ip-distribution/")
    assert b"This form changes the main subscription" in page.data
    for address, section in (
        ("", "profile"),
        ("subscriptions/", "subscriptions"),
        ("invitations/", "users"),
    ):
        response = staff_client.get(f"/admin/customer/{customer.id}/{address}")
        assert response.status_code == 302
        assert response.headers["Location"].endswith(
            f"/admin/customer/details/?id={customer.id}#{section}"
        )
    assert staff_client.get("/admin/customer/999999/ip-distribution/").status_code == 404


def test_a_workflow_refuses_a_customer_it_does_not_apply_to(app, staff_client):
    """The registry's guard answers on the workflow's own view as it did on the customer
    view: a self-service customer gets no project key, with a message on its overview."""
    factories.reference(app)
    customer = factories.customer(app, mode="self_service")
    response = staff_client.get(f"/admin/customer/{customer.id}/project-key/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/customer/details/?id={customer.id}")
    overview = staff_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "not available for this customer" in overview


# --- the recipe: a workflow on a customer as a view of its own -------------------------------


class NoteView(CustomerWorkflowView):
    """Recipe "Add a workflow on a customer": its page is the view's index; the view's
    permission guards it (a row action's page adds ``@customer_action(key)``)."""

    @expose("/", methods=("GET", "POST"))
    def index(self, customer_id: int):
        return f"A note for {self._customer(customer_id).company_name}"


@pytest.fixture
def with_note(app):
    _admin(app).add_view(
        NoteView(
            name="Note",
            endpoint="recipe_note",
            url="/admin/customer/<int:customer_id>/note",
        )
    )
    factories.reference(app)
    return app


@pytest.mark.fresh_database  # the recipe adds a view, which an app takes before its first request
@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("billing", 200), ("support", 403)])
def test_recipe_add_a_customer_workflow(with_note, role, status):
    customer = factories.customer(with_note, company="Noted GmbH")
    make_staff(with_note, role)
    client = with_note.test_client()
    assert sign_in(client, f"{role}@staff.example").status_code == 302
    response = client.get(f"/admin/customer/{customer.id}/note/")
    assert response.status_code == status
    if status == 200:
        assert response.get_data(as_text=True) == "A note for Noted GmbH"
    assert endpoint_permissions(with_note)["recipe_note.index"] == Permission.MANAGE_CUSTOMERS
    assert client.get("/admin/customer/123456/note/").status_code == (
        status if status == 403 else 404
    )
