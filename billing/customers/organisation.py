"""Organisation details (Aquila BillOps, SPEC §11): industry, website, turnover, account type and
the address details beyond Edit address (line 3, landmark, phone and fax).

``street`` and ``street2`` stay address lines 1 and 2 (edited with the address, seed 3.2.7);
this form adds line 3, landmark and fax for the company, and line 3, landmark, phone and fax for
the billing address.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from babel.numbers import list_currencies

from billing.customers.lookup import check_version, get_customer
from billing.customers.summary import mark_updated
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _, amount_from_text
from models import AccountType, db

MAX_TURNOVER = Decimal("999999999999.99")


@dataclass
class OrganisationInput:
    industry: str = ""
    website: str = ""
    turnover: str = ""
    turnover_currency: str = ""
    account_type: str = AccountType.CUSTOMER.value
    street3: str = ""
    landmark: str = ""
    fax: str = ""
    billing_street3: str = ""
    billing_landmark: str = ""
    billing_phone: str = ""
    billing_fax: str = ""


LIMITS = {
    "industry": 100,
    "website": 200,
    "street3": 200,
    "landmark": 200,
    "fax": 50,
    "billing_street3": 200,
    "billing_landmark": 200,
    "billing_phone": 50,
    "billing_fax": 50,
}


def _website(value: str) -> str:
    if not value:
        return ""
    if "://" not in value:
        value = f"https://{value}"
    parts = urlsplit(value)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or "." not in host or " " in value:
        raise DomainError(
            _("Please enter a web address such as https://www.example.com."), field="website"
        )
    return value


def _turnover(value: str, currency: str) -> tuple[Decimal | None, str]:
    text = (value or "").strip().replace(" ", "")
    currency = (currency or "").strip().upper()
    if not text:
        return None, ""
    try:
        amount = amount_from_text(text)
    except InvalidOperation:
        raise DomainError(
            _("Please enter an amount such as 1250000.00."), field="turnover"
        ) from None
    if not amount.is_finite() or amount < 0:
        raise DomainError(_("The amount must be 0 or more."), field="turnover")
    if amount > MAX_TURNOVER or amount != amount.quantize(Decimal("0.01")):
        raise DomainError(_("Please enter an amount such as 1250000.00."), field="turnover")
    if currency not in list_currencies():
        raise DomainError(_("Please choose a currency."), field="turnover_currency")
    return amount.quantize(Decimal("0.01")), currency


def validate_organisation(data: OrganisationInput) -> dict:
    """Clean values for the customer columns; DomainError with the field of the first problem."""
    clean: dict = {}
    for name, limit in LIMITS.items():
        value = (getattr(data, name) or "").strip()
        if len(value) > limit:
            raise DomainError(_("At most %(n)d characters.", n=limit), field=name)
        clean[name] = value
    clean["website"] = _website(clean["website"])
    if len(clean["website"]) > LIMITS["website"]:
        raise DomainError(_("At most %(n)d characters.", n=LIMITS["website"]), field="website")
    if data.account_type not in AccountType.codes():
        raise DomainError(_("Please choose an account type."), field="account_type")
    clean["account_type"] = data.account_type
    clean["turnover"], clean["turnover_currency"] = _turnover(data.turnover, data.turnover_currency)
    return clean


def organisation_of(customer) -> OrganisationInput:
    values = {f.name: getattr(customer, f.name) for f in fields(OrganisationInput)}
    values["turnover"] = "" if customer.turnover is None else f"{customer.turnover:f}"
    return OrganisationInput(**values)


def edit_organisation(
    customer_id: int,
    data: OrganisationInput,
    actor: Actor,
    clock: Clock,
    expected_version: int | None = None,
):
    """Store validated organisation details; audited as ``customer.edit_organisation``.

    Raises DomainError (with ``field``) for bad input, Conflict for a stale form, and refuses a
    customer marked for deletion. Nothing changes on an error.
    """
    customer = get_customer(customer_id)
    check_version(customer, expected_version)
    if customer.marked_for_deletion_at is not None:
        raise DomainError(_("This customer is marked for deletion."))
    clean = validate_organisation(data)
    before = {name: getattr(customer, name) for name in clean}
    for name, value in clean.items():
        setattr(customer, name, value)
    changed = {
        k: str(v) if isinstance(v, Decimal) else v for k, v in clean.items() if before[k] != v
    }
    mark_updated(customer, clock)
    audit.record(
        actor,
        "customer.edit_organisation",
        clock,
        customer_id=customer_id,
        before={
            k: str(before[k]) if isinstance(before[k], Decimal) else before[k] for k in changed
        },
        after=changed,
    )
    db.session.commit()
    return customer
