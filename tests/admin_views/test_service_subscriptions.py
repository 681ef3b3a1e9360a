"""Additional subscriptions on the customer's Details page (SPEC §11, issue 7 item 5): add after
the price preview, suspend, enable, auto-renew, end; POST + CSRF, roles (SPEC §1), bad input."""

from __future__ import annotations

import re

from billing.kernel.audit import SYSTEM
from billing.subscriptions import service_subscriptions as services
from billing.subscriptions.service_terms import ServiceInput
from models import AuditEvent, Customer, ServiceSubscription, db
from tests import factories
from tests.conftest import csrf_token, make_staff, sign_in


def _form(token: str, **values) -> dict:
    form = {
        "csrf_token": token,
        "name": "Site Hamburg",
        "internal_ips": "8",
        "external_ips": "2",
        "term_months": "12",
        "auto_renew": "y",
    }
    form.update(values)
    return form


def _previewed(html: str) -> str:
    match = re.search(r'name="previewed" type="hidden" value="([^"]*)"', html) or re.search(
        r'id="previewed" name="previewed" type="hidden" value="([^"]*)"', html
    )
    assert match, "no preview key on the page"
    return match.group(1)


def _services() -> list[ServiceSubscription]:
    return list(db.session.scalars(db.select(ServiceSubscription)))


def test_a_subscription_is_added_only_after_its_price_was_shown(app, staff_client):
    """SPEC §11/§12: price preview first (monthly price, this month's part), then Add."""
    factories.reference(app)
    created = factories.customer(app, internal=10, external=2)
    url = f"/admin/customer/{created.id}/subscriptions/new/"
    assert staff_client.get(url).status_code == 200
    # adding without a preview only shows the price
    html = staff_client.post(url, data=_form(staff_client.token, action="add")).get_data(
        as_text=True
    )
    assert _services() == []
    assert 'data-preview="monthly_price"' in html and "45.00" in html
    # 15 November: 16 of 30 days of 45.00
    assert "€24.00" in html and "Nov 14, 2027" in html
    key = _previewed(html)
    # values changed after the preview: shown again, not added
    changed = _form(staff_client.token, action="add", previewed=key, internal_ips="9")
    assert "please check the price again" in staff_client.post(url, data=changed).get_data(
        as_text=True
    )
    assert _services() == []
    response = staff_client.post(url, data=_form(staff_client.token, action="add", previewed=key))
    assert response.status_code == 302
    [sub] = _services()
    assert (sub.name, sub.internal_ips, sub.external_ips, sub.term_months) == (
        "Site Hamburg",
        8,
        2,
        12,
    )
    details = staff_client.get(f"/admin/customer/details/?id={created.id}").get_data(as_text=True)
    assert 'data-subscription="Site Hamburg" data-state="active"' in details
    assert "2027-11-14" in details
    row = db.session.get(Customer, created.id)
    assert (row.internal_ips, row.external_ips) == (18, 4)


def test_bad_input_is_shown_on_its_field_and_nothing_is_added(app, staff_client):
    """SPEC §4: a clear message on the field, nothing changed, never a 500."""
    factories.reference(app)
    created = factories.customer(app)
    services.add_service(
        created.id, ServiceInput("Site Hamburg", 1, 0, 1), SYSTEM, app.config["CLOCK"]
    )
    url = f"/admin/customer/{created.id}/subscriptions/new/"
    cases = [
        ({"name": " "}, "name"),
        ({"name": "site hamburg"}, "name"),
        ({"internal_ips": "-1"}, "internal_ips"),
        ({"internal_ips": "0", "external_ips": "0"}, "internal_ips"),
        ({"external_ips": "many"}, "internal_ips"),
        ({"term_months": "7"}, "term_months"),
    ]
    for values, field in cases:
        for action in ("preview", "add"):
            response = staff_client.post(
                url, data=_form(staff_client.token, action=action, **{"name": "Berlin", **values})
            )
            assert response.status_code == 200, values
            assert f'data-error-for="{field}"' in response.get_data(as_text=True), values
    assert len(_services()) == 1


def test_suspend_enable_auto_renew_and_end_from_details(app, staff_client):
    """SPEC §11: each action is a POST with CSRF and the row's version; audited; the list's
    IP columns follow."""
    factories.reference(app)
    clock = app.config["CLOCK"]
    created = factories.customer(app, internal=10, external=2)
    sub = services.add_service(created.id, ServiceInput("Site Hamburg", 8, 2, 12), SYSTEM, clock)
    base = f"/admin/customer/{created.id}/subscriptions/{sub.id}/"
    token = staff_client.token

    def post(action: str, **extra):
        version = db.session.get(ServiceSubscription, sub.id).version
        return staff_client.post(
            base + action + "/", data={"csrf_token": token, "version": version, **extra}
        )

    details = staff_client.get(f"/admin/customer/details/?id={created.id}").get_data(as_text=True)
    assert "data-confirm=" in details and 'data-action="suspend"' in details
    assert post("suspend").status_code == 302
    assert db.session.get(ServiceSubscription, sub.id).state == "suspended"
    assert db.session.get(Customer, created.id).internal_ips == 10
    details = staff_client.get(f"/admin/customer/details/?id={created.id}").get_data(as_text=True)
    assert 'data-state="suspended"' in details and 'data-action="enable"' in details
    assert post("enable").status_code == 302
    assert db.session.get(ServiceSubscription, sub.id).state == "active"
    assert post("auto-renew", auto_renew="0").status_code == 302
    assert db.session.get(ServiceSubscription, sub.id).auto_renew is False
    assert post("end").status_code == 302
    assert db.session.get(ServiceSubscription, sub.id).state == "ended"
    # ended: no more actions, a further POST is refused with a message
    response = staff_client.post(
        base + "suspend/",
        data={"csrf_token": token, "version": db.session.get(ServiceSubscription, sub.id).version},
        follow_redirects=True,
    )
    assert "Only an active subscription can be suspended." in response.get_data(as_text=True)
    actions = db.session.scalars(
        db.select(AuditEvent.action).where(AuditEvent.action.like("service_subscription.%"))
    ).all()
    assert len(actions) == 5


def test_actions_need_post_csrf_and_the_current_version(app, staff_client):
    """SPEC §4/§13: GET is not allowed, a missing CSRF token is refused, a stale form gets the
    "changed by someone else" message, another customer's subscription answers 404."""
    factories.reference(app)
    clock = app.config["CLOCK"]
    created, other = factories.customer(app), factories.customer(app)
    sub = services.add_service(created.id, ServiceInput("Site", 1, 0, 1), SYSTEM, clock)
    base = f"/admin/customer/{created.id}/subscriptions/{sub.id}/"
    assert staff_client.get(base + "suspend/").status_code == 405
    assert staff_client.post(base + "suspend/", data={"version": sub.version}).status_code == 400
    add = f"/admin/customer/{created.id}/subscriptions/new/"
    assert staff_client.post(add, data={"name": "X", "action": "preview"}).status_code == 400
    stale = sub.version
    services.set_auto_renew(created.id, sub.id, False, SYSTEM, clock)
    response = staff_client.post(
        base + "suspend/",
        data={"csrf_token": staff_client.token, "version": stale},
        follow_redirects=True,
    )
    assert "changed by someone else" in response.get_data(as_text=True)
    foreign = f"/admin/customer/{other.id}/subscriptions/{sub.id}/suspend/"
    response = staff_client.post(foreign, data={"csrf_token": staff_client.token})
    assert response.status_code == 404
    assert db.session.get(ServiceSubscription, sub.id).state == "active"


def test_support_reads_the_subscriptions_but_cannot_change_them(app):
    """SPEC §1: support reads everything; subscriptions are changed by admin and billing."""
    factories.reference(app)
    clock = app.config["CLOCK"]
    created = factories.customer(app)
    sub = services.add_service(created.id, ServiceInput("Site Hamburg", 1, 0, 1), SYSTEM, clock)
    make_staff(app, "support")
    make_staff(app, "billing")
    client = app.test_client()
    sign_in(client, "support@staff.example")
    token = csrf_token(client, "/admin/")
    details = client.get(f"/admin/customer/details/?id={created.id}").get_data(as_text=True)
    assert 'data-subscription="Site Hamburg"' in details
    assert "add-subscription" not in details and 'data-action="suspend"' not in details
    base = f"/admin/customer/{created.id}/subscriptions/"
    assert client.get(base + "new/").status_code == 403
    for action in ("suspend", "enable", "auto-renew", "end"):
        response = client.post(
            f"{base}{sub.id}/{action}/", data={"csrf_token": token, "version": sub.version}
        )
        assert response.status_code == 403, action
    assert db.session.get(ServiceSubscription, sub.id).state == "active"
    billing = app.test_client()
    sign_in(billing, "billing@staff.example")
    response = billing.post(
        f"{base}{sub.id}/suspend/",
        data={"csrf_token": csrf_token(billing, "/admin/"), "version": sub.version},
    )
    assert response.status_code == 302
    assert db.session.get(ServiceSubscription, sub.id).state == "suspended"


def test_locked_and_deleted_customers_offer_no_new_subscriptions(app, staff_client):
    """SPEC §11 with §4: a locked customer gets no new or re-enabled subscription, a customer
    marked for deletion no change at all."""
    from billing.customers import lifecycle

    factories.reference(app)
    clock = app.config["CLOCK"]
    created = factories.customer(app)
    sub = services.add_service(created.id, ServiceInput("Site", 1, 0, 1), SYSTEM, clock)
    services.suspend_service(created.id, sub.id, SYSTEM, clock)
    lifecycle.set_locked(created.id, True, SYSTEM, clock)
    details = staff_client.get(f"/admin/customer/details/?id={created.id}").get_data(as_text=True)
    assert "add-subscription" not in details and 'data-action="enable"' not in details
    add = f"/admin/customer/{created.id}/subscriptions/new/"
    response = staff_client.post(
        add, data=_form(staff_client.token, action="preview"), follow_redirects=True
    )
    assert "not available for this customer" in response.get_data(as_text=True)
    lifecycle.set_locked(created.id, False, SYSTEM, clock)
    lifecycle.mark_for_deletion(created.id, SYSTEM, clock)
    version = db.session.get(ServiceSubscription, sub.id).version
    response = staff_client.post(
        f"/admin/customer/{created.id}/subscriptions/{sub.id}/end/",
        data={"csrf_token": staff_client.token, "version": version},
        follow_redirects=True,
    )
    assert "marked for deletion" in response.get_data(as_text=True)
    assert db.session.get(ServiceSubscription, sub.id).state == "suspended"
