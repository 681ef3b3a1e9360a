"""The customer list (issue 16): erased customers ("Deleted customer 61") are left out of the
list, its count, its exports and the dashboard's counts until the "Erased" filter asks for them;
the list says how many customers match, "about" where counting would not be cheap."""

from __future__ import annotations

import json
import re

import pytest
from flask_babel import force_locale

from admin_views.customers import count_words
from billing.customers.deletion import deletion_notice, erase_customer
from billing.infra import counting
from billing.infra.counting import ABOUT, EXACT, MORE_THAN, MatchCount
from models import Customer, db
from tests import factories


def companies(html: str) -> list[str]:
    return re.findall(r"<strong>([^<]+)</strong></a><br><small", html)


def list_count(html: str) -> tuple[str, str, str]:
    found = re.search(
        r'<p class="text-muted mb-2" id="list-count" data-count="(\d+)" '
        r'data-count-kind="(\w+)">([^<]*)</p>',
        html,
    )
    assert found, "the list says how many customers match"
    return found.groups()


@pytest.fixture
def with_erased(app):
    """Three active customers, one marked for deletion and one erased."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    for name in ("Amsel GmbH", "Buche AG", "Citrus KG"):
        factories.customer(app, company=name)
    factories.customer(app, state="deleted", company="Drossel GmbH")
    gone = factories.customer(app, state="deleted", company="Eiche GmbH")
    erase_customer(gone.id, deletion_notice(gone.id, ""), clock)
    db.session.commit()
    return db.session.get(Customer, gone.id)


def test_erased_customers_are_left_out_until_the_filter_asks(staff_client, with_erased):
    label = f"Deleted customer {with_erased.id}"
    assert with_erased.company_name == label
    default = staff_client.get("/admin/customer/").get_data(as_text=True)
    assert companies(default) == ["Amsel GmbH", "Buche AG", "Citrus KG", "Drossel GmbH"]
    assert list_count(default) == ("4", EXACT, "4 customers")
    # the default is not shown as an active filter the staff member would have to remove
    assert "flt0_erased_equals" not in default.split('id="active-filters-data"')[1][:200]

    only = staff_client.get("/admin/customer/?flt0_erased_equals=yes").get_data(as_text=True)
    assert companies(only) == [label]
    assert list_count(only) == ("1", EXACT, "1 customer")
    every = staff_client.get("/admin/customer/?flt0_erased_equals=all").get_data(as_text=True)
    assert len(companies(every)) == 5 and label in companies(every)
    hidden = staff_client.get("/admin/customer/?flt0_erased_equals=no").get_data(as_text=True)
    assert companies(hidden) == companies(default)
    # the erased customer's own page still opens, e.g. from one of its invoices
    details = staff_client.get(f"/admin/customer/details/?id={with_erased.id}")
    assert details.status_code == 200 and label in details.get_data(as_text=True)


def test_a_bogus_erased_value_is_refused_politely(staff_client, with_erased):
    response = staff_client.get("/admin/customer/?flt0_erased_equals=maybe")
    assert response.status_code == 200
    assert "Deleted customer" not in "".join(companies(response.get_data(as_text=True)))


def test_exports_follow_the_same_default(staff_client, with_erased):
    def exported(query: str = "") -> list[str]:
        response = staff_client.get(f"/admin/customer/export/json/?{query}")
        assert response.status_code == 200
        return sorted(row["company_name"] for row in json.loads(response.data))

    assert exported() == ["Amsel GmbH", "Buche AG", "Citrus KG", "Drossel GmbH"]
    assert exported("flt0_erased_equals=yes") == [with_erased.company_name]
    assert len(exported("flt0_erased_equals=all")) == 5


def test_the_dashboard_counts_leave_out_erased_customers(staff_client, with_erased):
    html = staff_client.get("/admin/").get_data(as_text=True)
    counts = dict(re.findall(r'data-status-count="(\w+)">([^<]+)<', html))
    assert counts["active"] == "3"
    assert counts["marked_for_deletion"] == "1", "Drossel only: Eiche is erased"
    listed = staff_client.get("/admin/customer/?flt0_status_equals=marked_for_deletion")
    assert companies(listed.get_data(as_text=True)) == ["Drossel GmbH"]


def test_the_erased_filter_has_a_stable_name_in_every_language(staff_client, with_erased):
    staff_client.post(
        "/admin/language/",
        data={"language": "de", "next": "/admin/customer/", "csrf_token": staff_client.token},
    )
    german = staff_client.get("/admin/customer/?flt0_erased_equals=yes").get_data(as_text=True)
    assert companies(german) == [with_erased.company_name]
    assert list_count(german)[2] == "1 Kunde"
    assert "Gelöscht" in german


def test_a_list_too_long_to_count_says_about(staff_client, with_erased, monkeypatch):
    monkeypatch.setattr(counting, "EXACT_UP_TO", 2)
    html = staff_client.get("/admin/customer/").get_data(as_text=True)
    number, kind, words = list_count(html)
    assert kind == ABOUT and words == f"about {number} customers"
    assert int(number) >= 3


def test_the_count_is_worded_and_formatted_for_the_staff_members_language(app):
    with app.test_request_context():
        with force_locale("de"):
            assert count_words(MatchCount(1_000_000, ABOUT)) == "etwa 1.000.000 Kunden"
            assert count_words(MatchCount(10_000, MORE_THAN)) == "mehr als 10.000 Kunden"
            assert count_words(MatchCount(1, EXACT)) == "1 Kunde"
            assert count_words(MatchCount(2_345, EXACT)) == "2.345 Kunden"
        with force_locale("en"):
            assert count_words(MatchCount(1_000_000, ABOUT)) == "about 1,000,000 customers"
            assert count_words(MatchCount(10_000, MORE_THAN)) == "more than 10,000 customers"
            assert count_words(MatchCount(1, EXACT)) == "1 customer"
