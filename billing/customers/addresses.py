"""Edit address (seed 3.2.7): company address, VAT-ID and an optional billing address.

A VAT-ID is required when the primary address is outside the MSP's home country; it is checked
for format and check digits (python-stdnum) and stored in its compact form.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from stdnum import get_cc_module
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError

from billing.customers.lookup import check_version, get_customer
from billing.customers.summary import mark_updated
from billing.invoicing.payment_terms import parse_payment_term
from billing.invoicing.vat import EU_COUNTRIES
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.countries import country_name
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from models import ServiceMode, db


@dataclass
class AddressInput:
    company_name: str = ""
    street: str = ""
    street2: str = ""
    postal_code: str = ""
    city: str = ""
    state: str = ""
    country: str = ""
    phone: str = ""
    vat_id: str = ""
    use_billing_address: bool = False
    billing_street: str = ""
    billing_street2: str = ""
    billing_postal_code: str = ""
    billing_city: str = ""
    billing_state: str = ""
    billing_country: str = ""


EU_PREFIXES = (EU_COUNTRIES - {"GR"}) | {"EL", "XI"}

LIMITS = {
    "company_name": 200,
    "street": 200,
    "street2": 200,
    "postal_code": 20,
    "city": 100,
    "state": 100,
    "phone": 50,
    "billing_street": 200,
    "billing_street2": 200,
    "billing_postal_code": 20,
    "billing_city": 100,
    "billing_state": 100,
}


def normalise_vat_id(vat_id: str, country: str, home_country: str) -> str:
    """The compact VAT-ID, or "" when none is needed; DomainError (field ``vat_id``) otherwise."""
    compact = "".join(ch for ch in (vat_id or "").upper() if ch.isalnum())
    if not compact:
        if country != home_country:
            raise DomainError(
                _(
                    "A VAT-ID is required when the country is not %(home)s.",
                    home=country_name(home_country) or home_country,
                ),
                field="vat_id",
            )
        return ""
    try:
        if compact[:2] in EU_PREFIXES or country in EU_COUNTRIES:
            return eu_vat.validate(compact)
        module = get_cc_module(country.lower(), "vat")
        if module is not None:
            return module.compact(module.validate(vat_id))
        if not 4 <= len(compact) <= 20:
            raise ValidationError()
        return compact
    except ValidationError:
        raise DomainError(
            _("This VAT-ID is not valid (format or check digits)."), field="vat_id"
        ) from None


def validate_address(data: AddressInput, home_country: str) -> AddressInput:
    """Clean and check every field; the first problem raises DomainError with its field."""
    clean = AddressInput(**{f.name: getattr(data, f.name) for f in fields(AddressInput)})
    for name, limit in LIMITS.items():
        value = (getattr(clean, name) or "").strip()
        if len(value) > limit:
            raise DomainError(_("At most %(n)d characters.", n=limit), field=name)
        setattr(clean, name, value)
    if not clean.company_name:
        raise DomainError(_("Please enter the company name."), field="company_name")
    for name in ("street", "postal_code", "city"):
        if not getattr(clean, name):
            raise DomainError(_("This field is required."), field=name)
    clean.country = (clean.country or "").strip().upper()
    if country_name(clean.country) is None:
        raise DomainError(_("Please choose a country from the list."), field="country")
    clean.vat_id = normalise_vat_id(clean.vat_id, clean.country, home_country)
    if clean.use_billing_address:
        for name in ("billing_street", "billing_postal_code", "billing_city"):
            if not getattr(clean, name):
                raise DomainError(_("This field is required."), field=name)
        clean.billing_country = (clean.billing_country or "").strip().upper()
        if country_name(clean.billing_country) is None:
            raise DomainError(_("Please choose a country from the list."), field="billing_country")
    else:
        for name in (
            "billing_street",
            "billing_street2",
            "billing_postal_code",
            "billing_city",
            "billing_state",
            "billing_country",
        ):
            setattr(clean, name, "")
    return clean


def edit_address(
    customer_id: int,
    data: AddressInput,
    actor: Actor,
    clock: Clock,
    home_country: str = "DE",
    expected_version: int | None = None,
    managed_only: bool = True,
    payment_term_days: str | int | None = None,
):
    """Store a validated address (managed customers only when ``managed_only``).

    ``payment_term_days`` is the customer's own payment term from the staff form (SPEC §14):
    ``""`` returns it to the setting; None (forms without the field, such as the customer's own
    profile) leaves it alone. DomainError (field ``payment_term_days``) unless it is a whole
    number of days from 0 to 365."""
    customer = get_customer(customer_id)
    check_version(customer, expected_version)
    if managed_only and customer.service_mode != ServiceMode.MANAGED.value:
        raise DomainError(_("Only the addresses of managed customers are edited here."))
    if customer.marked_for_deletion_at is not None:
        raise DomainError(_("This customer is marked for deletion."))
    clean = validate_address(data, home_country)
    names = [f.name for f in fields(AddressInput)]
    values = {name: getattr(clean, name) for name in names}
    if payment_term_days is not None:
        names.append("payment_term_days")
        values["payment_term_days"] = parse_payment_term(
            payment_term_days, "payment_term_days", optional=True
        )
    before = {name: getattr(customer, name) for name in names}
    for name, value in values.items():
        setattr(customer, name, value)
    after = {name: getattr(customer, name) for name in names}
    changed = {k: v for k, v in after.items() if before[k] != v}
    mark_updated(customer, clock)
    audit.record(
        actor,
        "customer.edit_address",
        clock,
        customer_id=customer_id,
        before={k: before[k] for k in changed},
        after=changed,
    )
    db.session.commit()
    return customer


def address_of(customer) -> AddressInput:
    return AddressInput(**{f.name: getattr(customer, f.name) for f in fields(AddressInput)})
