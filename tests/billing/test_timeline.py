"""The customer timeline in words, in the reader's language, with the raw record one click
away (issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_babel import refresh

from billing.customers.timeline import describe_event
from tests import factories

AT = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # 1 January 2027 in Berlin


def _de(app, *args):
    with app.test_request_context(headers={"Accept-Language": "de"}):
        refresh()  # the test's app context is shared: forget the language of the last call
        return describe_event(*args)


def _en(app, *args):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        refresh()
        return describe_event(*args)


def _snapshot(internal: int, external: int) -> dict:
    return {"status": "active", "internal_ips": internal, "external_ips": external}


def test_a_raise_names_who_from_and_to_and_the_local_date(app):
    args = ("subscription.change", "billing@demo.example", _snapshot(10, 5), _snapshot(30, 10), AT)
    assert _en(app, *args) == (
        "billing@demo.example raised the IPs from 15 to 40, effective January 1, 2027"
    )
    assert _de(app, *args) == (
        "billing@demo.example hat die IPs von 15 auf 40 erhöht, gültig ab 1. Januar 2027"
    )


def test_a_decrease_and_a_re_split_read_differently(app):
    lower = _en(app, "subscription.apply_change", "system", _snapshot(30, 10), _snapshot(10, 5), AT)
    assert lower.startswith("The system lowered the IPs from 40 to 15")
    split = _de(app, "subscription.change", "a@b.example", _snapshot(10, 5), _snapshot(12, 3), AT)
    assert "neu aufgeteilt" in split and "15 (10 intern, 5 extern)" in split


def test_a_scheduled_change_names_its_effective_date_in_words(app):
    after = {"pending": "150+25 IPs on 2027-01-01"}
    text = _de(app, "subscription.schedule_change", "anna@x.example", None, after, AT)
    assert text == (
        "anna@x.example hat eine Änderung auf 175 (150 intern, 25 extern) IPs geplant, "
        "gültig ab 1. Januar 2027"
    )
    assert "2027-01-01" not in text


def test_a_subscription_started_earlier_names_its_own_start(app):
    """A subscription entered today that started on 1 September says so, not today's date."""
    after = {**_snapshot(200, 25), "valid_from": "2026-09-01"}
    text = _de(app, "subscription.start", "system", _snapshot(0, 0), after, AT)
    assert text.endswith("gültig ab 1. September 2026"), text
    assert _en(app, "subscription.start", "a@b.example", None, _snapshot(5, 5), AT).endswith(
        "effective January 1, 2027"
    ), "an older record without its start: the day of the event"


def test_a_subscription_entered_with_an_earlier_start_is_told_with_it(app):
    from datetime import date

    from billing.customers.timeline import customer_timeline

    customer = factories.customer(app, since=date(2026, 9, 1))
    with app.test_request_context(headers={"Accept-Language": "en"}):
        refresh()
        told = [item["sentence"] for item in customer_timeline(customer.id)]
    assert any(s.endswith("effective September 1, 2026") for s in told), told


def test_a_payment_the_system_recorded_reads_without_an_actor(app):
    after = {"number": "2026-000078"}
    assert _de(app, "invoice.paid", "system", None, after, AT) == (
        "Rechnung 2026-000078 wurde als bezahlt markiert"
    )
    assert _en(app, "invoice.paid", "system", None, after, AT) == (
        "Invoice 2026-000078 was marked paid"
    )
    assert _en(app, "invoice.paid", "billing@demo.example", None, after, AT) == (
        "Invoice 2026-000078 was marked paid by billing@demo.example"
    )


def test_an_action_without_a_sentence_still_shows(app):
    assert _en(app, "something.new", "x@y.example", None, None, AT) == "x@y.example: something.new"


def test_the_details_page_tells_the_timeline_in_words_with_the_record_behind(app, staff_client):
    factories.reference(app)
    customer = factories.customer(app)
    html = staff_client.get(
        f"/admin/customer/details/?id={customer.id}", headers={"Accept-Language": "de"}
    ).get_data(as_text=True)
    timeline = html[html.index('id="timeline"') :]
    assert "hat den Kunden angelegt" in timeline
    assert "<summary>Datensatz</summary>" in timeline
    assert "customer.create" in timeline  # the raw record, one click away
    assert "{&#39;" not in timeline  # no Python dicts
