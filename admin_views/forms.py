"""WTForms for the customer actions; validation rules themselves live in ``billing/``."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)

from billing.kernel.countries import country_choices
from extensions import CountField


class VersionedForm(FlaskForm):
    """Carries the record version the user saw, for the "changed by someone else" check."""

    version = HiddenField()

    def seen_version(self) -> int | None:
        try:
            return int(self.version.data)
        except (TypeError, ValueError):
            return None


# what the New Customer form (and Create similar) hands to billing.customers.onboarding.NewCustomer
NEW_CUSTOMER_FIELDS = (
    "company_name",
    "contact_name",
    "contact_email",
    "street",
    "postal_code",
    "city",
    "country",
    "phone",
    "language",
)


class NewCustomerForm(FlaskForm):
    company_name = StringField(lazy_gettext("Company Name"), [DataRequired(), Length(max=200)])
    street = StringField(lazy_gettext("Street"), [Optional(), Length(max=200)])
    postal_code = StringField(lazy_gettext("Postal code"), [Optional(), Length(max=20)])
    city = StringField(lazy_gettext("City"), [Optional(), Length(max=100)])
    country = SelectField(lazy_gettext("Country"), choices=country_choices, default="DE")
    phone = StringField(lazy_gettext("Phone"), [Optional(), Length(max=50)])
    language = SelectField(
        lazy_gettext("Language"),
        choices=[("en", lazy_gettext("English")), ("de", lazy_gettext("German"))],
    )
    contact_name = StringField(lazy_gettext("Contact person"), [DataRequired(), Length(max=200)])
    contact_email = EmailField(
        lazy_gettext("Contact e-mail (the login)"), [DataRequired(), Length(max=320)]
    )


class IpDistributionForm(VersionedForm):
    total_ips = CountField(lazy_gettext("Total IP's"), [InputRequired(), NumberRange(min=1)])
    internal_ips = CountField(lazy_gettext("IP's Internal"), [InputRequired(), NumberRange(min=0)])
    external_ips = CountField(lazy_gettext("IP's External"), [InputRequired(), NumberRange(min=0)])
    instantly = BooleanField(lazy_gettext("Perform action instantly"))


class AddressForm(VersionedForm):
    company_name = StringField(lazy_gettext("Company Name"), [DataRequired(), Length(max=200)])
    street = StringField(lazy_gettext("Street"), [Length(max=200)])
    street2 = StringField(lazy_gettext("Address line 2"), [Length(max=200)])
    postal_code = StringField(lazy_gettext("Postal code"), [Length(max=20)])
    city = StringField(lazy_gettext("City"), [Length(max=100)])
    state = StringField(lazy_gettext("State/Region"), [Length(max=100)])
    country = SelectField(lazy_gettext("Country"), choices=country_choices)
    phone = StringField(lazy_gettext("Phone"), [Length(max=50)])
    vat_id = StringField(lazy_gettext("VAT-ID"), [Length(max=32)])
    use_billing_address = BooleanField(lazy_gettext("Use a different billing address"))
    billing_street = StringField(lazy_gettext("Street"), [Length(max=200)])
    billing_street2 = StringField(lazy_gettext("Address line 2"), [Length(max=200)])
    billing_postal_code = StringField(lazy_gettext("Postal code"), [Length(max=20)])
    billing_city = StringField(lazy_gettext("City"), [Length(max=100)])
    billing_state = StringField(lazy_gettext("State/Region"), [Length(max=100)])
    billing_country = SelectField(
        lazy_gettext("Country"), choices=lambda: [("", "—"), *country_choices()]
    )
    payment_term_days = StringField(lazy_gettext("Payment term in days"), [Length(max=20)])


class MainUserForm(VersionedForm):
    user_id = SelectField(lazy_gettext("New main user"), coerce=str, validate_choice=False)


class ConfirmForm(VersionedForm):
    confirmation = StringField(lazy_gettext("Confirmation"), [Length(max=20)])


class LockForm(VersionedForm):
    locked = BooleanField(lazy_gettext("Account locked"))


class MailSettingsForm(FlaskForm):
    host = StringField(lazy_gettext("Host"), [Length(max=255)])
    # the stored settings give the port as a number; a form posted without it shows that
    port = StringField(
        lazy_gettext("Port"),
        [Length(max=5)],
        default="25",
        filters=[lambda value: value if value is None else str(value)],
    )
    tls_mode = SelectField(
        lazy_gettext("TLS"),
        choices=[
            ("none", lazy_gettext("None")),
            ("starttls", "STARTTLS"),
            ("ssl", lazy_gettext("SSL/TLS (implicit)")),
        ],
    )
    username = StringField(lazy_gettext("User"), [Length(max=255)])
    password = PasswordField(lazy_gettext("Password"), [Length(max=255)])
    sender_name = StringField(lazy_gettext("Sender name"), [Length(max=100)])
    sender_address = EmailField(lazy_gettext("Sender address"), [Length(max=320)])


class TestMailForm(FlaskForm):
    recipient = EmailField(
        lazy_gettext("Send a test e-mail to"), [DataRequired(), Length(max=254), Email()]
    )


class CustomerPriceForm(VersionedForm):
    unit_price = StringField(lazy_gettext("Customer price per IP"), [Length(max=20)])


class InvoiceSettingsForm(FlaskForm):
    seller_name = StringField(lazy_gettext("Company name on invoices"), [Length(max=200)])
    seller_address = TextAreaField(lazy_gettext("Address on invoices"), [Length(max=500)])
    seller_vat_id = StringField(lazy_gettext("Your VAT-ID"), [Length(max=32)])
    account_holder = StringField(lazy_gettext("Account holder"), [Length(max=200)])
    iban = StringField(lazy_gettext("IBAN"), [Length(max=42)])
    bic = StringField(lazy_gettext("BIC"), [Length(max=14)])
    bank_name = StringField(lazy_gettext("Bank"), [Length(max=100)])
    payment_term_days = StringField(
        lazy_gettext("Payment term in days"), [Length(max=20)], default="14"
    )
    ip_purchase_price = StringField(
        lazy_gettext("Purchase price per IP and month"), [Length(max=20)], default="0.00"
    )
