"""Portal → Subscription lists the customer's additional subscriptions read-only (SPEC §10,
§11 Sectigo: several subscriptions per customer, suspend/enable by the provider)."""

from __future__ import annotations

import re

from billing.kernel.audit import SYSTEM
from billing.subscriptions import service_subscriptions as services
from billing.subscriptions.service_terms import ServiceInput
from models import ServiceSubscription, db
from tests import factories
from tests.portal.helpers import main_email, signed_in


def _rows(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-subscription="([^"]+)" data-state="(\w+)"', page))


def test_the_portal_lists_additional_subscriptions_read_only(app):
    """SPEC §10/§11: name, IPs, term, term end, auto-renew, state and price; no change
    buttons; the main figures stay the main subscription's."""
    factories.reference(app)
    clock = app.config["CLOCK"]
    customer = factories.customer(app, internal=10, external=2)
    hamburg = services.add_service(
        customer.id, ServiceInput("Site Hamburg", 8, 2, 12), SYSTEM, clock
    )
    services.add_service(customer.id, ServiceInput("Site Köln", 3, 0, 1, False), SYSTEM, clock)
    services.suspend_service(customer.id, hamburg.id, SYSTEM, clock)
    neighbour = factories.customer(app)
    services.add_service(neighbour.id, ServiceInput("Neighbour site", 1, 0, 1), SYSTEM, clock)
    client = signed_in(app, main_email(customer))
    page = client.get("/portal/subscription").get_data(as_text=True)
    assert _rows(page) == {"Site Köln": "active", "Site Hamburg": "suspended"}
    table = page[page.index('id="additional-subscriptions"') :]
    table = table[: table.index("</table>")]
    assert "12 months" in table and "Nov 14, 2027" in table and "since Nov 15, 2026" in table
    assert "45.00" in table and "13.50" in table and "Off" in table
    assert "<form" not in table and "<button" not in table
    figures = dict(re.findall(r'data-figure="(\w+)">([^<]*)<', page))
    assert figures["internal_ips"] == "10" and "54.00" in figures["monthly_price"]
    # German
    client.post("/portal/language", data={"csrf_token": client.token, "language": "de"})
    page = client.get("/portal/subscription").get_data(as_text=True)
    assert "Weitere Abonnements" in page and "12 Monate" in page and "Pausiert" in page


def test_a_customer_without_additional_subscriptions_sees_no_such_list(app):
    factories.reference(app)
    customer = factories.customer(app)
    client = signed_in(app, main_email(customer))
    page = client.get("/portal/subscription").get_data(as_text=True)
    assert "additional-subscriptions" not in page
    assert db.session.scalar(db.select(db.func.count()).select_from(ServiceSubscription)) == 0
