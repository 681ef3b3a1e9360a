"""The seller's bank account in Settings → Invoices (issue 16, SPEC §15 "the seller's IBAN"):
IBAN and BIC checked with schwifty, the BIC against the IBAN's country and bank, messages in
English and German on the field at fault."""

from __future__ import annotations

import pytest

from billing.invoicing.invoice_settings import (
    format_iban,
    load_invoice_settings,
    save_invoice_settings,
    validate_bank_details,
)
from billing.kernel.audit import SYSTEM
from billing.kernel.errors import DomainError

COMMERZBANK = "DE89 3704 0044 0532 0130 00"


def _bank(iban=COMMERZBANK, bic="", bank_name="", holder=""):
    return validate_bank_details(iban, bic, bank_name, holder, "Nordlicht IT GmbH")


def test_a_german_iban_is_stored_compact_and_its_bank_filled_in():
    """SEPA needs no BIC; where schwifty knows the bank, BIC and name are filled in, and the
    account holder is the seller."""
    details = _bank(iban="de89 3704 0044 0532 0130 00")

    assert details.iban == "DE89370400440532013000"
    assert format_iban(details.iban) == COMMERZBANK
    assert (details.bic, details.bank_name) == ("COBADEFFXXX", "Commerzbank")
    assert details.account_holder == "Nordlicht IT GmbH"


def test_what_staff_enter_wins_over_the_registry():
    details = _bank(bic="coba deff", bank_name="Commerzbank Hamburg", holder="Nordlicht Billing")

    assert (details.bic, details.bank_name) == ("COBADEFF", "Commerzbank Hamburg")
    assert details.account_holder == "Nordlicht Billing"


def test_a_sepa_iban_of_an_unknown_bank_needs_no_bic():
    details = _bank(iban="CH93 0076 2011 6238 5295 7")

    assert (details.iban, details.bic) == ("CH9300762011623852957", "")


def test_no_account_at_all_is_allowed():
    details = _bank(iban="")

    assert (details.iban, details.bic, details.bank_name) == ("", "", "")


@pytest.mark.parametrize(
    ("values", "field", "english", "german"),
    [
        (
            {"iban": "DE89 3704 0044 0532 0130 01"},
            "iban",
            "This IBAN is not valid (check digits, length or format).",
            "Diese IBAN ist ungültig (Prüfziffer, Länge oder Format).",
        ),
        (
            {"iban": "DE89 3704 0044"},
            "iban",
            "This IBAN is not valid (check digits, length or format).",
            "Diese IBAN ist ungültig (Prüfziffer, Länge oder Format).",
        ),
        (
            {"iban": "DE٨٩ 3704 0044 0532 0130 00"},
            "iban",
            "This IBAN is not valid (check digits, length or format).",
            "Diese IBAN ist ungültig (Prüfziffer, Länge oder Format).",
        ),
        (
            {"bic": "COBADEF"},
            "bic",
            "This BIC is not valid: it has 8 or 11 characters, such as COBADEFFXXX.",
            "Diese BIC ist ungültig: Sie hat 8 oder 11 Zeichen, etwa COBADEFFXXX.",
        ),
        (
            {"bic": "BNPAFRPP"},
            "bic",
            "The BIC (country: France) does not match the IBAN (country: Germany).",
            "Die BIC (Land: Frankreich) passt nicht zur IBAN (Land: Deutschland).",
        ),
        (
            {"bic": "DEUTDEFF"},
            "bic",
            "This BIC does not belong to the bank of the IBAN (Commerzbank, BIC COBADEFFXXX).",
            "Diese BIC gehört nicht zur Bank der IBAN (Commerzbank, BIC COBADEFFXXX).",
        ),
        (
            {"iban": "BR18 0036 0305 0000 1000 9795 493C 1"},
            "bic",
            "Please enter the BIC: an IBAN from outside the SEPA area needs one.",
            "Bitte geben Sie die BIC ein: Eine IBAN außerhalb des SEPA-Raums braucht sie.",
        ),
        (
            {"iban": "", "bic": "COBADEFF"},
            "iban",
            "Please enter the IBAN of this account.",
            "Bitte geben Sie die IBAN dieses Kontos ein.",
        ),
    ],
)
@pytest.mark.parametrize("language", ["en", "de"])
def test_bad_bank_details_are_refused_on_their_field_in_both_languages(
    app, values, field, english, german, language
):
    # one language per test: Flask-Babel keeps the first request's locale for the app context
    with app.test_request_context(headers={"Accept-Language": language}):
        with pytest.raises(DomainError) as refused:
            _bank(**values)
    message = german if language == "de" else english
    assert (refused.value.field, refused.value.message) == (field, message)


def test_a_non_sepa_iban_with_its_bic_is_accepted():
    details = _bank(iban="BR18 0036 0305 0000 1000 9795 493C 1", bic="CEFXBRSP")

    assert (details.iban, details.bic) == ("BR1800360305000010009795493C1", "CEFXBRSP")


def test_the_bank_account_and_payment_term_are_saved_together(app):
    clock = app.config["CLOCK"]
    save_invoice_settings(
        "Nordlicht IT GmbH",
        "Hafenstraße 7\n20457 Hamburg",
        "",
        "1.15",
        "DE",
        SYSTEM,
        clock,
        iban=COMMERZBANK,
        payment_term_days=" 30 ",
    )
    settings = load_invoice_settings()

    assert settings.iban == "DE89370400440532013000"
    assert (settings.bic, settings.bank_name) == ("COBADEFFXXX", "Commerzbank")
    assert settings.account_holder == "Nordlicht IT GmbH"
    assert settings.payment_term_days == 30


@pytest.mark.parametrize("term", ["", "abc", "-1", "366", "1.5", "²"])
def test_a_payment_term_must_be_whole_days_up_to_a_year(app, term):
    with pytest.raises(DomainError) as refused:
        save_invoice_settings(
            "Nordlicht IT GmbH",
            "Hafenstraße 7",
            "",
            "1.15",
            "DE",
            SYSTEM,
            app.config["CLOCK"],
            payment_term_days=term,
        )
    assert refused.value.field == "payment_term_days"
    assert load_invoice_settings().seller_name == ""
