"""WTForms for the customer profile (organisation, contacts, groups, purchase orders); the rules
live in ``billing/``, so every field here is plain text that billing checks."""

from __future__ import annotations

from babel.numbers import list_currencies
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length

from models import AccountType, ContactUserType, PurchaseOrderStatus

from .forms import VersionedForm

ACCOUNT_TYPE_LABELS = {
    AccountType.PROSPECT.value: lazy_gettext("Prospect"),
    AccountType.CUSTOMER.value: lazy_gettext("Customer"),
    AccountType.PARTNER.value: lazy_gettext("Partner"),
}
USER_TYPE_LABELS = {
    ContactUserType.BILLING.value: lazy_gettext("Billing"),
    ContactUserType.TECHNICAL.value: lazy_gettext("Technical"),
    ContactUserType.MANAGEMENT.value: lazy_gettext("Management"),
    ContactUserType.OTHER.value: lazy_gettext("Other"),
}
PO_STATUS_LABELS = {
    PurchaseOrderStatus.ACTIVE.value: lazy_gettext("Active"),
    PurchaseOrderStatus.INACTIVE.value: lazy_gettext("Inactive"),
    PurchaseOrderStatus.EXPIRED.value: lazy_gettext("Expired"),
    PurchaseOrderStatus.IN_DISCUSSION.value: lazy_gettext("In discussion"),
}


def currency_choices():
    return [(c, c) for c in sorted(list_currencies())]


class OrganisationForm(VersionedForm):
    industry = StringField(lazy_gettext("Industry vertical"), [Length(max=100)])
    website = StringField(lazy_gettext("Website"), [Length(max=200)])
    turnover = StringField(lazy_gettext("Business turnover"), [Length(max=20)])
    turnover_currency = SelectField(
        lazy_gettext("Currency"), choices=lambda: [("", "—"), *currency_choices()]
    )
    account_type = SelectField(
        lazy_gettext("Account type"), choices=lambda: list(ACCOUNT_TYPE_LABELS.items())
    )
    street3 = StringField(lazy_gettext("Address line 3"), [Length(max=200)])
    landmark = StringField(lazy_gettext("Landmark"), [Length(max=200)])
    fax = StringField(lazy_gettext("Fax"), [Length(max=50)])
    billing_street3 = StringField(lazy_gettext("Address line 3"), [Length(max=200)])
    billing_landmark = StringField(lazy_gettext("Landmark"), [Length(max=200)])
    billing_phone = StringField(lazy_gettext("Phone"), [Length(max=50)])
    billing_fax = StringField(lazy_gettext("Fax"), [Length(max=50)])


class ContactForm(FlaskForm):
    first_name = StringField(lazy_gettext("First name"), [Length(max=100)])
    last_name = StringField(lazy_gettext("Last name"), [Length(max=100)])
    designation = StringField(lazy_gettext("Designation"), [Length(max=100)])
    email = StringField(lazy_gettext("E-mail"), [Length(max=320)])
    phone = StringField(lazy_gettext("Phone"), [Length(max=50)])
    mobile = StringField(lazy_gettext("Mobile"), [Length(max=50)])
    user_type = SelectField(
        lazy_gettext("User type"), choices=lambda: list(USER_TYPE_LABELS.items())
    )
    billing_alerts = BooleanField(lazy_gettext("Billing alerts (invoice and payment e-mails)"))


class ContactAccountsForm(FlaskForm):
    contact_ids = SelectMultipleField(lazy_gettext("Contacts"), coerce=str, validate_choice=False)


class MembershipForm(FlaskForm):
    group_ids = SelectMultipleField(lazy_gettext("Groups"), coerce=str, validate_choice=False)


class GroupForm(FlaskForm):
    name = StringField(lazy_gettext("Name"), [Length(max=100)])
    attributes = TextAreaField(lazy_gettext("Attributes (key=value, one a line)"))
    tags = StringField(lazy_gettext("Tags (comma-separated)"), [Length(max=1000)])


class PurchaseOrderForm(FlaskForm):
    name = StringField(lazy_gettext("Name"), [Length(max=200)])
    annual_value = StringField(lazy_gettext("Annual value"), [Length(max=20)])
    status = SelectField(
        lazy_gettext("Current status"), choices=lambda: list(PO_STATUS_LABELS.items())
    )
    provider_type = StringField(lazy_gettext("Provider type"), [Length(max=100)])
    start_date = StringField(lazy_gettext("Start date"), [Length(max=10)])
    expiry_date = StringField(lazy_gettext("Expiry date"), [Length(max=10)])
    renewal_date = StringField(lazy_gettext("Renewal date"), [Length(max=10)])
    consumption_start_date = StringField(lazy_gettext("Consumption start date"), [Length(max=10)])
    consumption_base_value = StringField(lazy_gettext("Consumption base value"), [Length(max=20)])
    contract_period_days = StringField(lazy_gettext("Contract period (days)"), [Length(max=6)])
    currency = SelectField(lazy_gettext("Currency"), choices=currency_choices, default="EUR")
    comment = TextAreaField(lazy_gettext("Comment"), [Length(max=2000)])
