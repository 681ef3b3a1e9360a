"""Country names in the reader's language, sorted as a reader expects (issue 16: "German that
is German")."""

from __future__ import annotations

from billing.kernel.countries import country_choices, country_name
from tests import factories


def test_names_follow_the_language_and_unknown_codes_have_none():
    assert country_name("DE", "de") == "Deutschland"
    assert country_name("at", "de") == "Österreich"
    assert country_name("DE", "en") == "Germany"
    assert country_name("XX", "de") is None
    assert country_name("", "en") is None


def test_outside_a_request_the_names_are_english(app):
    assert country_name("DE") == "Germany"


def test_choices_are_sorted_by_the_name_in_the_language_ignoring_accents():
    names = [name for _code, name in country_choices("de")]
    assert names.index("Oman") < names.index("Österreich") < names.index("Pakistan")
    assert ("DE", "Deutschland") in country_choices("de")


def test_the_admin_address_form_speaks_german(app, staff_client):
    factories.reference(app)
    created = factories.customer(app)
    html = staff_client.get(
        f"/admin/customer/{created.id}/address/", headers={"Accept-Language": "de"}
    ).get_data(as_text=True)
    assert '<option selected value="DE">Deutschland</option>' in html or (
        'value="DE"' in html and ">Deutschland</option>" in html
    )
    assert "Bundesland/Region" in html and "Zustand" not in html
    assert "wenn das Land nicht Deutschland ist" in html
    assert ">Germany<" not in html


def test_the_customer_list_shows_country_names_in_the_staff_language(app, staff_client):
    factories.reference(app)
    factories.customer(app)
    html = staff_client.get(
        "/admin/customer/?flt0_country_equals=DE", headers={"Accept-Language": "de"}
    ).get_data(as_text=True)
    assert "Deutschland" in html and "Germany" not in html
