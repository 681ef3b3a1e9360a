"""The pages an e-mail link opens speak the language of the person it was sent to (issue 16,
"German that is German"; SPEC §7 "in the recipient's language"): the customer invite, the team
invitation, the registration confirmation and the password reset. The visitor's browser
language does not decide; a language the visitor chose in this session does."""

from __future__ import annotations

import re

import pytest

from billing.catalog.selfservice import save_self_service
from billing.customers import customers as lifecycle
from billing.customers import team as team_rules
from billing.customers.accounts import request_password_reset
from billing.customers.addresses import AddressInput
from billing.customers.customers import NewCustomer
from billing.customers.registration import Registration, register
from billing.kernel.audit import SYSTEM, Actor
from tests import factories
from tests.conftest import csrf_token
from tests.portal.helpers import link_in

PUBLIC = "http://portal.test"
# each page's heading in English and German
HEADINGS = {
    "invite": ("Activate your account", "Konto aktivieren"),
    "team": ("Activate your account", "Konto aktivieren"),
    "confirm": ("Confirm your e-mail address", "E-Mail-Adresse bestätigen"),
    "reset": ("Choose a new password", "Neues Passwort wählen"),
}
BROWSER = {"de": "en-US,en;q=0.9", "en": "de-DE,de;q=0.9"}  # the other language
N = iter(range(1, 1000))


def _invite_link(app, language: str) -> str:
    """The main user's invite of a new customer whose language is ``language``."""
    n = next(N)
    _customer, token = lifecycle.create_customer(
        NewCustomer(
            company_name=f"Link {n}",
            contact_name=f"Contact {n}",
            contact_email=f"invite{n}@link.example",
            country="DE",
            language=language,
        ),
        SYSTEM,
        app.config["CLOCK"],
    )
    return f"/portal/invite/{token}"


def _team_link(app, language: str) -> str:
    """A team invitation into a customer whose language is ``language``."""
    n = next(N)
    customer = factories.customer(app, language=language)
    main = lifecycle.main_user(customer.id)
    _invitation, message = team_rules.invite_member(
        customer.id,
        f"member{n}@link.example",
        "Mia Member",
        Actor.user(main),
        app.config["CLOCK"],
        PUBLIC,
    )
    return "/portal/invite/" + link_in(message, "/portal/invite/")


def _confirm_link(app, language: str) -> str:
    """The confirmation of a self-registration made in ``language``."""
    n = next(N)
    registered = register(
        Registration(
            email=f"rita{n}@newco.example",
            contact_name="Rita Reg",
            accept_terms=True,
            address=AddressInput(
                company_name=f"NewCo {n}",
                street="Hauptstr. 1",
                postal_code="10115",
                city="Berlin",
                country="DE",
            ),
            language=language,
        ),
        app.config["CLOCK"],
    )
    return "/portal/register/confirm/" + link_in(registered.message, "/portal/register/confirm/")


def _reset_link(app, language: str) -> str:
    """A password reset of a registered user of a customer whose language is ``language``."""
    n = next(N)
    factories.customer(app, email=f"reset{n}@link.example", language=language)
    message = request_password_reset(
        f"reset{n}@link.example", app.config["CLOCK"], public_url=PUBLIC
    )
    return "/portal/reset/" + link_in(message, "/portal/reset/")


LINKS = {"invite": _invite_link, "team": _team_link, "confirm": _confirm_link, "reset": _reset_link}


@pytest.fixture
def links(app, mail_on):
    factories.reference(app)
    save_self_service(True, "IP address scanning", "IP-SCAN-1", SYSTEM, app.config["CLOCK"])
    return app


def _language_of(page: str) -> str:
    return re.search(r'<html lang="(\w+)"', page).group(1)


def _heading(page: str) -> str:
    return re.search(r"<h1[^>]*>([^<]+)</h1>", page).group(1).strip()


@pytest.mark.parametrize("page", sorted(LINKS))
@pytest.mark.parametrize("language", ["de", "en"])
def test_a_link_opens_in_the_language_of_its_recipient(links, client, page, language):
    """A German recipient's link in an English browser is German, and the reverse."""
    url = LINKS[page](links, language)
    answer = client.get(url, headers={"Accept-Language": BROWSER[language]})
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert _language_of(html) == language
    assert _heading(html) == HEADINGS[page][language == "de"]


@pytest.mark.parametrize("page", sorted(LINKS))
def test_a_language_the_visitor_chose_wins(links, client, page):
    url = LINKS[page](links, "de")
    client.post(
        "/portal/language",
        data={"language": "en", "next": url, "csrf_token": csrf_token(client, url)},
        headers={"Accept-Language": "de"},
    )
    html = client.get(url, headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert _language_of(html) == "en" and _heading(html) == HEADINGS[page][0]


def test_a_refused_password_stays_in_the_recipients_language(links, client):
    url = _invite_link(links, "de")
    answer = client.post(
        url,
        data={"csrf_token": csrf_token(client, url), "password": "short", "password_again": "x"},
        headers={"Accept-Language": "en"},
    )
    html = answer.get_data(as_text=True)
    assert _language_of(html) == "de"
    assert "Die beiden Passwörter stimmen nicht überein." in html


def test_after_the_invite_the_sign_in_page_goes_on_in_the_recipients_language(links, client):
    url = _invite_link(links, "de")
    password = "Customer-Pass-1"
    answer = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "password": password,
            "password_again": password,
        },
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    html = answer.get_data(as_text=True)
    assert answer.request.path == "/portal/login"
    assert _language_of(html) == "de"
    assert "Ihr Konto ist aktiv. Bitte melden Sie sich an." in html
