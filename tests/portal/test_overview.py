"""Portal → Overview, the start page (SPEC §10, §14): what needs the customer's attention, each
with its way forward, and the account at a glance, in English and German
(``billing.reporting.account_overview``)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from babel.dates import format_date
from babel.numbers import format_currency
from sqlalchemy import event

from billing.catalog.payment_methods import set_active
from billing.customers import lifecycle
from billing.customers.summary import subscription_price
from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.invoicing.invoice_settings import save_invoice_settings
from billing.kernel.audit import SYSTEM
from billing.payments import card_charges, stripe_cards
from billing.subscriptions import service_subscriptions, service_terms
from billing.subscriptions.distribution import change_ip_distribution
from billing.subscriptions.own_subscription import start_trial
from models import Invoice, db
from tests import factories
from tests.conftest import berlin, csrf_token
from tests.i18n.german import visible_text
from tests.portal.helpers import MEMBER_PASSWORD, add_member, main_email, signed_in
from tests.support.cards import stripe_on

LOCALES = {"en": "en", "de": "de_DE"}
ATTENTION = 'id="attention"'


def money(amount: Decimal, language: str) -> str:
    """As the visible text shows it (a space where the page has a no-break space)."""
    return format_currency(amount, "EUR", locale=LOCALES[language]).replace("\xa0", " ")


def long_date(day, language: str) -> str:
    return format_date(day, "long", locale=LOCALES[language])


def overview(app, customer, email: str | None = None, password: str | None = None):
    """The start page and its visible text (of its ``<main>``), signed in as the customer's
    main user (or as ``email``), in the customer's language."""
    client = signed_in(app, email or main_email(customer), *([password] if password else []))
    response = client.get("/portal/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    return page, visible_text("<main" + page.split("<main", 1)[1])


def _finalized(app, customer) -> Invoice:
    clock = app.config["CLOCK"]
    invoice = draft_invoice(customer.id, clock.today().replace(day=1), clock)
    return finalize_invoice(invoice.id, clock)


def _declined(app, customer) -> Invoice:
    """A card invoice whose charge the card declined (as the month-end run leaves it)."""
    stripe_cards.make_default_card(customer.id, "pm_card_chargeCustomerFail")
    invoice = _finalized(app, customer)
    assert card_charges.charge_invoice(invoice.id, app.config["CLOCK"]).state == "failed"
    return invoice


@pytest.fixture
def card_payments(app, localstripe):
    factories.reference(app)
    stripe_on(app, localstripe)


@pytest.mark.parametrize(
    ("language", "failed", "button"),
    [
        ("en", "The card payment of invoice {number} ({amount}) failed.", "Update card and retry"),
        (
            "de",
            "Die Kartenzahlung der Rechnung {number} ({amount}) ist fehlgeschlagen.",
            "Karte aktualisieren und erneut versuchen",
        ),
    ],
)
def test_a_declined_card_payment_is_the_first_thing_with_its_way_forward(
    app, card_payments, language, failed, button
):
    customer = factories.customer(app, mode="self_service", payment="card", language=language)
    invoice = _declined(app, customer)
    page, text = overview(app, customer)
    alert = failed.format(number=invoice.number, amount=money(invoice.gross, language))
    heading = "Subscription" if language == "en" else "Abonnement"
    assert alert in text and text.index(button) < text.index(heading), "the alert comes first"
    assert f'id="update-card-and-retry" href="/portal/payment?retry=1">{button}</a>' in page
    # the card on file and the open amount, in the customer's language
    assert "Visa ···· 0341" in text
    assert money(invoice.gross, language) in text
    if language == "en":
        assert "open in 1 invoice" in text and "Payment failed" in text
    else:
        assert "offen in 1 Rechnung" in text and "Zahlung fehlgeschlagen" in text


def test_a_team_member_sees_the_same_start_page(app, card_payments, mail_on):
    """Team users share the main user's permissions (seed 3.1): billing is not hidden."""
    customer = factories.customer(app, mode="managed", payment="card")
    invoice = _declined(app, customer)
    member = add_member(app, customer, "member@overview.example")
    _page, text = overview(app, customer, member.email, MEMBER_PASSWORD)
    assert f"The card payment of invoice {invoice.number}" in text
    assert "Update card and retry" in text and "Visa ···· 0341" in text


def test_without_card_payment_a_failed_payment_says_whom_to_contact(app, card_payments, mail_on):
    """Card payment switched off after the failure: no "Update card and retry" (its page could
    not take a card), the provider's address instead."""
    customer = factories.customer(app, mode="self_service", payment="card")
    invoice = _declined(app, customer)
    set_active("card", False, SYSTEM, app.config["CLOCK"])
    page, text = overview(app, customer)
    assert f"The card payment of invoice {invoice.number}" in text
    assert "Update card and retry" not in text
    assert "Please contact your provider at billing@msp.example." in text


@pytest.fixture
def bank_account(app):
    save_invoice_settings(
        "Nordlicht IT GmbH",
        "Hafenstraße 7\n20457 Hamburg",
        "",
        "1.15",
        "DE",
        SYSTEM,
        app.config["CLOCK"],
        iban="DE89 3704 0044 0532 0130 00",
    )


@pytest.mark.parametrize(
    ("language", "overdue", "reference", "count"),
    [
        (
            "en",
            "Invoice {number} over {amount} was due on {date}.",
            "Payment reference",
            "1 invoice is overdue",
        ),
        (
            "de",
            "Die Rechnung {number} über {amount} war am {date} fällig.",
            "Verwendungszweck",
            "1 Rechnung ist überfällig",
        ),
    ],
)
def test_an_overdue_bank_transfer_shows_amount_due_date_and_where_to_pay(
    app, clock, bank_account, language, overdue, reference, count
):
    """SPEC §14: overdue = the business date after the due date with an amount open. The
    alert names the seller's account and the invoice number as the payment reference."""
    factories.reference(app)
    customer = factories.customer(app, payment="invoice", language=language)
    invoice = _finalized(app, customer)
    _page, text = overview(app, customer)
    assert ATTENTION not in _page, "not overdue on the day it is issued"
    clock.instant = berlin(invoice.due_date.year, invoice.due_date.month, invoice.due_date.day, 18)
    assert ATTENTION not in overview(app, customer)[0], "not overdue on its due date"
    clock.instant = clock.instant + timedelta(days=1)
    page, text = overview(app, customer)
    assert ATTENTION in page
    expected = overdue.format(
        number=invoice.number,
        amount=money(invoice.gross, language),
        date=long_date(invoice.due_date, language),
    )
    assert expected in text
    # the account as machine words (translate="no"), the invoice number as the reference
    assert '<dd translate="no">DE89 3704 0044 0532 0130 00</dd>' in page
    assert '<dd translate="no">COBADEFFXXX</dd>' in page
    assert f'<dt>{reference}</dt><dd translate="no">{invoice.number}</dd>' in page
    assert f'href="/portal/invoices/{invoice.id}/pdf"' in page
    assert count in text


def test_an_overdue_invoice_without_a_saved_account_asks_to_pay(app, clock, mail_on):
    factories.reference(app)
    customer = factories.customer(app, payment="invoice")
    invoice = _finalized(app, customer)
    clock.instant = clock.instant + timedelta(days=30)
    page, text = overview(app, customer)
    assert f"Invoice {invoice.number} over" in text and 'id="bank-details"' not in page
    assert "Please pay as soon as possible." in text
    assert "Please contact your provider at billing@msp.example." in text


@pytest.mark.parametrize(
    ("language", "ends", "choose"),
    [
        ("en", "Your free trial ends on {date}.", "Choose a paid plan"),
        ("de", "Ihre kostenlose Testphase endet am {date}.", "Kostenpflichtiges Abonnement wählen"),
    ],
)
def test_a_trial_that_ends_soon_leads_to_a_paid_plan(app, clock, language, ends, choose):
    factories.reference(app)
    customer = factories.customer(app, state="registered", mode="self_service", language=language)
    trial = start_trial(customer.id, SYSTEM, clock)
    db.session.commit()
    page, text = overview(app, customer)
    assert ATTENTION not in page, "a month ahead is no reason for an alert"
    until = long_date(trial.valid_until, language)
    assert (f"Free trial until {until}" if language == "en" else f"Testphase bis {until}") in text
    clock.instant = clock.instant + timedelta(days=20)
    page, text = overview(app, customer)
    assert ends.format(date=until) in text
    assert f'id="choose-paid-plan" href="/portal/subscription">{choose}</a>' in page


def test_a_managed_customers_ending_trial_says_whom_to_contact(app, clock, mail_on):
    factories.reference(app)
    customer = factories.customer(app, state="registered", mode="managed")
    start_trial(customer.id, SYSTEM, clock)
    db.session.commit()
    clock.instant = clock.instant + timedelta(days=25)
    page, text = overview(app, customer)
    assert "Your free trial ends on" in text and "choose-paid-plan" not in page
    assert "Please contact your provider at billing@msp.example." in text


def test_a_card_payer_without_a_card_and_a_card_that_runs_out(app, clock, card_payments):
    customer = factories.customer(app, mode="self_service", payment="card")
    page, text = overview(app, customer)
    assert "Your subscription is paid by card, but no card is saved." in text
    assert '<a class="btn btn-sm btn-warning" href="/portal/payment">Add a card</a>' in page
    stripe_cards.make_default_card(customer.id, "pm_card_visa")  # expires 12/2030
    page, text = overview(app, customer)
    assert ATTENTION not in page and "Nothing needs your attention." in text
    assert "Visa ···· 4242\nexpires 12/2030" in text
    clock.instant = berlin(2030, 12, 3, 9, 0)
    _page, text = overview(app, customer)
    assert "Your card Visa ···· 4242 expires at the end of this month." in text
    clock.instant = berlin(2031, 1, 3, 9, 0)
    _page, text = overview(app, customer)
    assert "Your card Visa ···· 4242 expired at the end of 12/2030." in text


def test_invitations_nobody_accepted_yet(app, clock, mail_on):
    factories.reference(app)
    customer = factories.customer(app)
    invitation = add_member(app, customer, "new@overview.example", "Nina New", register=False)
    page, text = overview(app, customer)
    assert "These team invitations have not been accepted yet:" in text
    until = long_date(invitation.expires_at.astimezone(clock.tz).date(), "en")
    assert f"Nina New (new@overview.example) · invited until {until}" in text
    assert '<a class="btn btn-sm btn-outline-dark" href="/portal/team">Team</a>' in page
    clock.instant = clock.instant + timedelta(days=8)
    _page, text = overview(app, customer)
    assert "Nina New (new@overview.example) · the invitation has expired" in text


@pytest.mark.parametrize(
    ("language", "all_clear"),
    [("en", "Nothing needs your attention."), ("de", "Es gibt nichts zu erledigen.")],
)
def test_a_customer_with_nothing_to_do(app, language, all_clear):
    factories.reference(app)
    customer = factories.customer(app, payment="invoice", language=language)
    page, text = overview(app, customer)
    assert ATTENTION not in page and "alert-danger" not in page and "alert-warning" not in page
    assert all_clear in text
    no_invoices = "There are no invoices yet." if language == "en" else "noch keine Rechnungen"
    assert no_invoices in text


@pytest.mark.parametrize(
    ("language", "refused", "signed_out"),
    [
        (
            "en",
            "Your company&#39;s account is locked, so you cannot sign in. Please contact your "
            "provider at billing@msp.example.",
            "You have been signed out because your company&#39;s account is locked. Please "
            "contact your provider at billing@msp.example.",
        ),
        (
            "de",
            "Das Konto Ihres Unternehmens ist gesperrt, daher können Sie sich nicht anmelden. "
            "Bitte wenden Sie sich an Ihren Anbieter: billing@msp.example.",
            "Sie wurden abgemeldet, weil das Konto Ihres Unternehmens gesperrt ist. Bitte wenden "
            "Sie sich an Ihren Anbieter: billing@msp.example.",
        ),
    ],
)
def test_a_locked_customer_is_told_what_to_do_instead_of_the_start_page(
    app, mail_on, language, refused, signed_out
):
    """SPEC §4 Lock: no user of a locked customer reaches the start page; the sign-in and an
    ended session say so, with the provider's address to write to."""
    factories.reference(app)
    customer = factories.customer(app, language=language)
    client = signed_in(app, main_email(customer))
    assert client.get("/portal/").status_code == 200
    lifecycle.set_locked(customer.id, True, SYSTEM, app.config["CLOCK"])
    ended = client.get("/portal/", follow_redirects=True)
    assert ended.request.path == "/portal/login"
    assert signed_out in ended.get_data(as_text=True)
    headers = {"Accept-Language": language}
    page = client.post(
        "/portal/login",
        data={
            "csrf_token": csrf_token(client, "/portal/login"),
            "email": main_email(customer),
            "password": "Customer-Pass-1",
        },
        headers=headers,
    ).get_data(as_text=True)
    assert refused in page and 'id="attention"' not in page


@pytest.mark.parametrize(
    ("language", "price", "vat", "pending"),
    [
        (
            "en",
            "{net} per month (net)",
            "plus 19% VAT ({vat}) = {gross}",
            "Changes to 8 + 2 IPs on {date}.",
        ),
        (
            "de",
            "{net} pro Monat (netto)",
            "zzgl. 19 % USt. ({vat}) = {gross}",
            "Ändert sich am {date} auf 8 + 2 IPs.",
        ),
    ],
)
def test_the_subscription_card(app, clock, language, price, vat, pending):
    """IPs, the monthly price of all that runs (net, and the VAT the invoice adds), the payment
    method, the pending change and the additional subscriptions."""
    factories.reference(app)
    customer = factories.customer(app, mode="self_service", language=language)
    service_subscriptions.add_service(
        customer.id, service_terms.ServiceInput("Site Kiel", 3, 1, 12), SYSTEM, clock
    )
    result = change_ip_distribution(customer.id, 8, 2, False, SYSTEM, clock)
    _page, text = overview(app, customer)
    net = subscription_price(lifecycle.current_subscription(customer.id)) + Decimal("18.00")
    tax = (net * Decimal("0.19")).quantize(Decimal("0.01"))
    assert price.format(net=money(net, language)) in text
    assert vat.format(vat=money(tax, language), gross=money(net + tax, language)) in text
    assert pending.format(date=long_date(result.preview.effective_date, language)) in text
    internal = "internal" if language == "en" else "interne"
    assert f"10 {internal} + 2" in text and f"Site Kiel: 3 {internal} + 1" in text


def _statements(app, client) -> list[str]:
    statements = []

    def record(_conn, _cursor, statement, _params, _context, _many):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert client.get("/portal/").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    # the queries the page reads (not the test's savepoints around the request)
    return [statement for statement in statements if statement.startswith("SELECT")]


def test_the_start_page_reads_a_handful_of_queries_however_many_invoices(app, clock):
    """No query per invoice: six months of invoices, open, overdue and paid, cost what one
    does."""
    factories.reference(app)
    customer = factories.customer(app, payment="invoice", since=berlin(2026, 5, 1, 0).date())
    first = _finalized(app, customer)
    client = signed_in(app, main_email(customer))
    one = _statements(app, client)
    for month in range(5, 10):
        invoice = draft_invoice(customer.id, first.period.replace(month=month), clock)
        finalize_invoice(invoice.id, clock)
    more = _statements(app, client)
    assert len(more) == len(one), "\n".join(more)
    assert len(one) <= 15, "\n".join(one)
