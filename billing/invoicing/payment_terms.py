"""Payment terms and due dates (SPEC §14).

An invoice is due ``payment term`` days after the day it was finalized, counted on the calendar
of the MSP's time zone. The term is the customer's own (``Customer.payment_term_days``) where
staff set one, else the setting ``invoice.payment_term_days`` (Settings → Invoices, default 14).
A due date that falls on a Saturday or Sunday moves to the next Monday. Public holidays are not
taken into account: the well-kept holiday library would pin an older ``python-dateutil`` than
the one the product runs on, and a few days' grace on a holiday harms nobody.

Finalization stores the term and the due date on the invoice (``Invoice.payment_term_days``,
``Invoice.due_date``), so a later change of the setting or of the customer's term leaves issued
invoices alone and dunning can query the due date.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from billing.kernel.settings import get_setting
from billing.kernel.site import Site
from models import Customer, Invoice, InvoiceKind, db

PAYMENT_TERM_KEY = "invoice.payment_term_days"
DEFAULT_PAYMENT_TERM_DAYS = 14
MAX_PAYMENT_TERM_DAYS = 365
SATURDAY = 5


def parse_payment_term(value, field: str, *, optional: bool = False) -> int | None:
    """The payment term in whole days from form input (``"30"``, ``30``).

    With ``optional``, an empty value gives None (the customer follows the setting). DomainError
    on ``field`` for anything but a whole number from 0 to 365."""
    text = "" if value is None else str(value).strip()
    if not text:
        if optional:
            return None
        raise DomainError(_("Please enter the payment term in days."), field=field)
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_PAYMENT_TERM_DAYS:
        raise DomainError(
            _(
                "The payment term must be a whole number of days from 0 to %(max)d.",
                max=MAX_PAYMENT_TERM_DAYS,
            ),
            field=field,
        )
    return int(text)


def setting_payment_term() -> int:
    """The payment term of Settings → Invoices (14 days until one is saved)."""
    value = get_setting(PAYMENT_TERM_KEY)
    return int(value) if value.isascii() and value.isdigit() else DEFAULT_PAYMENT_TERM_DAYS


def payment_terms_of(customer_ids: Iterable[int]) -> dict[int, int]:
    """The payment term of each of ``customer_ids``: its own where set, else the setting's."""
    ids = set(customer_ids)
    default = setting_payment_term()
    terms = dict.fromkeys(ids, default)
    if ids:
        own = db.session.execute(
            db.select(Customer.id, Customer.payment_term_days).where(
                Customer.id.in_(ids), Customer.payment_term_days.is_not(None)
            )
        )
        terms.update({customer_id: days for customer_id, days in own})
    return terms


def business_day(day: date) -> date:
    """``day``, or the Monday after it when it is a Saturday or a Sunday."""
    weekday = day.weekday()
    return day + timedelta(days=7 - weekday) if weekday >= SATURDAY else day


def due_on(issued: date, term_days: int) -> date:
    """The due date of an invoice issued on ``issued`` (the MSP's calendar) with ``term_days``."""
    return business_day(issued + timedelta(days=term_days))


def due_date(invoice: Invoice, site: Site = Site()) -> date | None:
    """When ``invoice`` is due: the date stored at finalization; for a draft, the date it would
    get if it had been finalized on the day it was drafted in ``site``'s time zone (what its
    preview shows). None for a credit note, which is never due."""
    if invoice.kind != InvoiceKind.INVOICE.value:
        return None
    if invoice.due_date is not None:
        return invoice.due_date
    issued = (invoice.finalized_at or invoice.created_at).astimezone(ZoneInfo(site.timezone))
    return due_on(issued.date(), invoice_payment_term(invoice))


def invoice_payment_term(invoice: Invoice) -> int:
    """The payment term ``invoice`` was (or, as a draft, would be) issued with."""
    if invoice.payment_term_days is not None:
        return invoice.payment_term_days
    return payment_terms_of([invoice.customer_id])[invoice.customer_id]
