"""Portal → Subscription (SPEC §4 IP Distribution, §5 article and prices, §10 self-service)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from billing.catalog.selfservice import save_self_service
from billing.customers import lifecycle
from billing.kernel.audit import SYSTEM
from billing.subscriptions.distribution import preview
from models import AuditEvent, Customer, ScheduledChange, db
from tests import factories
from tests.portal.helpers import main_email, signed_in


@pytest.fixture
def self_service(app):
    """A self-service customer paying by invoice: 10 internal + 2 external IPs since Nov 1."""
    factories.reference(app)
    clock = app.config["CLOCK"]
    customer = factories.customer(
        app, mode="self_service", since=clock.today().replace(day=1), company="Selfie GmbH"
    )
    return customer


def _form(client, **values) -> dict:
    page = client.get("/portal/subscription").get_data(as_text=True)
    version = re.search(r'id="version" name="version" type="hidden" value="(\d+)"', page)
    data = {"csrf_token": client.token, "version": version.group(1)}
    data.update({key: str(value) for key, value in values.items()})
    return data


def _figures(customer_id: int) -> tuple[int, int]:
    db.session.expire_all()
    customer = db.session.get(Customer, customer_id)
    return customer.internal_ips, customer.external_ips


def test_self_service_page_shows_figures_article_and_the_form(app, self_service):
    """SPEC §10, seed 3.5.2: current IPs, payment method, prices and the article."""
    clock = app.config["CLOCK"]
    save_self_service(False, "Vulnerability scanning", "VS-42", SYSTEM, clock)
    client = signed_in(app, main_email(self_service))
    page = client.get("/portal/subscription").get_data(as_text=True)
    assert "Vulnerability scanning" in page and "VS-42" in page
    figures = dict(re.findall(r'data-figure="(\w+)">([^<]*)<', page))
    customer = db.session.get(Customer, self_service.id)
    assert figures["internal_ips"] == "10" and figures["external_ips"] == "2"
    assert figures["total_ips"] == "12" and figures["payment_method"] == "Invoice"
    assert str(customer.monthly_price) in figures["monthly_price"].replace(",", "")
    assert "ip-distribution-form" in page and "ip_distribution.js" in page
    assert "/portal/subscription/preview" in page


def _article(client, language: str) -> str:
    with client.session_transaction() as session:  # the portal's language switch
        session.update(language=language, language_chosen=True)
    page = client.get("/portal/subscription")
    return re.search(r'<h2 class="h6">([^<]*)<small', page.get_data(as_text=True)).group(1).strip()


def test_the_article_is_named_in_the_reader_s_language(app, self_service):
    """The German portal names the default article in German; an article the MSP names
    itself has the German name it gives, and its own name where it gives none."""
    clock = app.config["CLOCK"]
    client = signed_in(app, main_email(self_service))
    assert _article(client, "de") == "IP-Adressen-Scan"
    save_self_service(
        False,
        "Vulnerability scanning",
        "VS-42",
        SYSTEM,
        clock,
        article_name_de="Schwachstellen-Scan",
    )
    assert _article(client, "de") == "Schwachstellen-Scan"
    assert _article(client, "en") == "Vulnerability scanning"
    save_self_service(False, "Vulnerability scanning", "VS-42", SYSTEM, clock)
    assert _article(client, "de") == "Vulnerability scanning"


def test_managed_customer_sees_figures_read_only(app):
    """SPEC §0/§10: managed customers cannot change their subscription; 'contact your provider'."""
    factories.reference(app)
    customer = factories.customer(app, mode="managed")
    client = signed_in(app, main_email(customer))
    page = client.get("/portal/subscription").get_data(as_text=True)
    assert 'data-figure="internal_ips">10<' in page
    assert "contact your provider" in page and "ip-distribution-form" not in page
    response = client.post(
        "/portal/subscription",
        data={"csrf_token": client.token, "total_ips": 50, "internal_ips": 50, "external_ips": 0},
    )
    assert response.status_code == 403
    assert (
        client.get("/portal/subscription/preview?total=5&internal=5&external=0").status_code == 404
    )
    assert _figures(customer.id) == (10, 2)


def test_preview_is_the_staff_preview(app, self_service):
    """SPEC §4: the same price effect as the staff form (new price, average, prorated)."""
    client = signed_in(app, main_email(self_service))
    response = client.get(
        "/portal/subscription/preview?total=60&internal=50&external=10&instantly=1"
    )
    assert response.status_code == 200
    plan = preview(self_service.id, 50, 10, True, app.config["CLOCK"])
    expected = plan.as_dict()
    answer = response.get_json()
    assert {key: value for key, value in answer.items() if key != "text"} == expected
    assert answer["text"]["new_price"] == f"€{plan.new_price:,}"
    assert answer["text"]["effective_date"] == "November 15, 2026"
    assert expected["kind"] == "immediate" and Decimal(expected["prorated_amount"]) > 0
    bad = client.get("/portal/subscription/preview?total=5&internal=4&external=4")
    assert bad.status_code == 400 and "add up" in bad.get_json()["error"]


def test_raising_instantly_applies_now_and_is_audited_as_the_user(app, self_service):
    """SPEC §4: an increase applies at once only with "Perform action instantly"."""
    client = signed_in(app, main_email(self_service))
    data = _form(client, total_ips=60, internal_ips=50, external_ips=10, instantly="y")
    response = client.post("/portal/subscription", data=data)
    assert response.status_code == 302
    assert _figures(self_service.id) == (50, 10)
    page = client.get("/portal/subscription").get_data(as_text=True)
    assert "The new IP distribution applies now." in page
    event = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action == "subscription.change")
    ).one()
    assert event.actor_type == "user" and event.actor_label == main_email(self_service)


def test_raising_without_instantly_is_scheduled_and_shown_pending(app, self_service):
    client = signed_in(app, main_email(self_service))
    data = _form(client, total_ips=30, internal_ips=20, external_ips=10)
    client.post("/portal/subscription", data=data)
    assert _figures(self_service.id) == (10, 2)
    change = db.session.scalars(db.select(ScheduledChange)).one()
    assert (change.internal_ips, change.external_ips) == (20, 10)
    page = client.get("/portal/subscription").get_data(as_text=True)
    assert "scheduled for December 1, 2026" in page and 'id="pending-change"' in page


def test_a_decrease_cannot_be_instant(app, self_service):
    """SPEC §4: a decrease only takes effect at the end of the booking month."""
    client = signed_in(app, main_email(self_service))
    data = _form(client, total_ips=5, internal_ips=5, external_ips=0, instantly="y")
    page = client.post("/portal/subscription", data=data).get_data(as_text=True)
    assert "untick" in page and 'data-error-for="instantly"' in page
    assert _figures(self_service.id) == (10, 2)
    assert db.session.scalars(db.select(ScheduledChange)).all() == []


def test_invalid_counts_keep_everything(app, self_service):
    client = signed_in(app, main_email(self_service))
    data = _form(client, total_ips=12, internal_ips=10, external_ips=5)
    page = client.post("/portal/subscription", data=data).get_data(as_text=True)
    assert "add up to the total" in page
    assert _figures(self_service.id) == (10, 2)


def test_a_stale_form_is_refused_with_a_clear_message(app, self_service):
    """SPEC §13 optimistic locking: the form carries the version it was built from."""
    client = signed_in(app, main_email(self_service))
    data = _form(client, total_ips=40, internal_ips=30, external_ips=10, instantly="y")
    lifecycle.schedule_change(self_service.id, 8, 2, SYSTEM, app.config["CLOCK"])
    response = client.post("/portal/subscription", data=data, follow_redirects=True)
    assert "changed in the meantime" in response.get_data(as_text=True)
    assert _figures(self_service.id) == (10, 2)


def test_staff_and_anonymous_visitors_are_sent_to_the_portal_sign_in(app, staff_client):
    anonymous = app.test_client()
    for client in (anonymous, staff_client):
        response = client.get("/portal/subscription")
        assert response.status_code == 302 and "/portal/login" in response.headers["Location"]


@pytest.mark.parametrize(
    ("language", "unavailable", "contact"),
    [
        (
            "en",
            "so you cannot start a paid subscription here yourself; your provider can set it up",
            "Please contact your provider at ",
        ),
        (
            "de",
            "daher können Sie hier selbst kein kostenpflichtiges Abonnement beginnen",
            "Bitte wenden Sie sich an Ihren Anbieter: ",
        ),
    ],
)
def test_a_trial_without_card_payment_is_told_what_to_do(
    app, mail_on, language, unavailable, contact
):
    """Issue 14: card payment is off, so the trial cannot become a paid plan in the portal. The
    page says so and names the provider's address, instead of "add a card first" pointing to
    a payment page that cannot take one."""
    factories.reference(app)
    trial = factories.customer(app, mode="self_service", payment="free", language=language)
    page = signed_in(app, main_email(trial)).get("/portal/subscription").get_data(as_text=True)
    assert 'id="card-unavailable"' in page and unavailable in page
    assert contact in page and 'href="mailto:billing@msp.example"' in page
    assert 'id="card-needed"' not in page


def test_a_free_plan_without_an_end_says_free_of_charge(app):
    """A free subscription staff started has no trial end: no "Free trial until None"."""
    factories.reference(app)
    customer = factories.customer(app, mode="self_service", payment="free")
    page = signed_in(app, main_email(customer)).get("/portal/subscription").get_data(as_text=True)
    assert "Free of charge. Changing the number of IPs starts your paid subscription" in page
    assert "None" not in page
