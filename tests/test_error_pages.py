"""Error pages inside the admin and portal layouts, with a way back (issue 16), and the favicon."""

from __future__ import annotations

from tests import factories
from tests.conftest import make_staff, sign_in
from tests.portal.helpers import main_email, signed_in


def test_a_missing_admin_page_is_shown_inside_the_admin_layout(staff_client):
    response = staff_client.get("/admin/no-such-screen/", headers={"Accept-Language": "de"})
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert 'data-error-status="404"' in html
    assert 'id="signed-in-as"' in html  # the admin's own navigation bar
    assert "Zurück zum Dashboard" in html
    assert 'href="/admin/"' in html


def test_a_role_refusal_is_shown_inside_the_admin_layout(app):
    make_staff(app, "support")
    client = app.test_client()
    assert sign_in(client, "support@staff.example").status_code == 302
    response = client.get("/admin/settings/mail/")
    html = response.get_data(as_text=True)
    assert response.status_code == 403
    assert 'data-error-status="403"' in html
    assert "Your role does not give access to this page." in html
    assert "Back to the dashboard" in html


def test_a_missing_portal_page_is_shown_inside_the_portal_layout(app):
    factories.reference(app)
    customer = factories.customer(app)
    client = signed_in(app, main_email(customer))
    response = client.get("/portal/no-such-page")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert 'data-error-status="404"' in html
    assert "portal-nav" in html  # the signed-in customer keeps the portal's navigation
    assert "Back to the overview" in html


def test_visitors_get_a_way_to_the_sign_in_from_a_portal_error(client):
    html = client.get("/portal/no-such-page").get_data(as_text=True)
    assert "Go to sign-in" in html
    assert 'href="/portal/login"' in html


def test_errors_outside_both_areas_keep_the_plain_page(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Back to the start page" in response.get_data(as_text=True)


def test_every_layout_names_the_favicon_and_the_browser_default_address_serves_it(
    staff_client, client
):
    assert 'rel="icon"' in staff_client.get("/admin/").get_data(as_text=True)
    assert 'rel="icon"' in client.get("/portal/login").get_data(as_text=True)
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
