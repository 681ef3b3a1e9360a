"""Form pieces several portal pages share; the rules behind them live in ``billing/``."""

from __future__ import annotations

from flask import flash
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.validators import Length

from billing.kernel.countries import country_choices
from billing.kernel.errors import DomainError

LANGUAGE_CHOICES = [("en", lazy_gettext("English")), ("de", lazy_gettext("German"))]


def form_error(form, error: DomainError) -> None:
    """Show a domain error on its field, or as a message when it names none."""
    field = getattr(form, error.field or "", None)
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")


class CompanyAddressForm(FlaskForm):
    """Company name, address, phone and VAT-ID (``billing.customers.addresses.AddressInput``'s
    fields)."""

    company_name = StringField(lazy_gettext("Company Name"), [Length(max=200)])
    street = StringField(lazy_gettext("Street"), [Length(max=200)])
    street2 = StringField(lazy_gettext("Address line 2"), [Length(max=200)])
    postal_code = StringField(lazy_gettext("Postal code"), [Length(max=20)])
    city = StringField(lazy_gettext("City"), [Length(max=100)])
    state = StringField(lazy_gettext("State/Region"), [Length(max=100)])
    country = SelectField(lazy_gettext("Country"), choices=country_choices)
    phone = StringField(lazy_gettext("Phone"), [Length(max=50)])
    vat_id = StringField(lazy_gettext("VAT-ID"), [Length(max=32)])


class ProfileForm(CompanyAddressForm):
    """The company profile: the address plus an optional billing address, and the record
    version the user saw (for the "changed by someone else" check)."""

    version = HiddenField()
    use_billing_address = BooleanField(lazy_gettext("Use a different billing address"))
    billing_street = StringField(lazy_gettext("Street"), [Length(max=200)])
    billing_street2 = StringField(lazy_gettext("Address line 2"), [Length(max=200)])
    billing_postal_code = StringField(lazy_gettext("Postal code"), [Length(max=20)])
    billing_city = StringField(lazy_gettext("City"), [Length(max=100)])
    billing_state = StringField(lazy_gettext("State/Region"), [Length(max=100)])
    billing_country = SelectField(
        lazy_gettext("Country"), choices=lambda: [("", "—"), *country_choices()]
    )

    def seen_version(self) -> int | None:
        try:
            return int(self.version.data)
        except (TypeError, ValueError):
            return None
