"""E-mailing invoices with their PDF (SPEC §8.5) and the notice of a failed card payment (§6).

Both messages go to the customer's contact, and to the contacts subscribed to billing alerts
(SPEC §11), in the invoice's language and are recorded in the e-mail log like every other
message (SPEC §7).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import or_

from billing.customers.contacts import billing_alert_recipients
from billing.invoicing.invoice_pdf import invoice_filename, render_invoice_pdf, seller_details
from billing.invoicing.invoice_settings import format_iban
from billing.invoicing.invoice_texts import credit_effect_text, date_label, money, period_label
from billing.invoicing.payment_terms import due_date
from billing.kernel import audit
from billing.kernel.audit import SYSTEM, Actor
from billing.kernel.clock import Clock, lease_now
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from billing.kernel.mail import Outgoing, compose, deliver
from billing.kernel.site import Site
from models import Customer, Invoice, InvoiceKind, InvoiceState, PaymentMethodCode, db

NOT_MAILED = (InvoiceState.DRAFT.value, InvoiceState.VOID.value)


def _load(invoice_id: int) -> tuple[Invoice, Customer | None]:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound(_("This invoice does not exist."))
    return invoice, db.session.get(Customer, invoice.customer_id)


def _context(invoice: Invoice, customer: Customer, site: Site) -> dict:
    credit = invoice.kind == InvoiceKind.CREDIT_NOTE.value
    corrected = (
        db.session.get(Invoice, invoice.corrects_invoice_id)
        if invoice.corrects_invoice_id
        else None
    )
    return {
        "company": invoice.billing_name or customer.company_name,
        "number": invoice.number,
        "period": period_label(invoice.period, invoice.language),
        # a credit note's amounts are negative; its e-mail names the sum credited
        "amount": money(abs(invoice.gross), invoice.currency, invoice.language),
        "card": invoice.payment_method == PaymentMethodCode.CARD.value,
        "credit": credit,
        # what the credit note did: settled the open invoice, became account credit, or both
        "effect": credit_effect_text(invoice) if credit else "",
        "corrects": corrected.number if corrected else "",
        # the transfer request: by the due date fixed at finalization, to the seller's account
        "due": "" if credit else date_label(due_date(invoice, site), invoice.language),
        "iban": format_iban(seller_details(site)["iban"]),
    }


def email_invoice(invoice_id: int, clock: Clock, site: Site = Site()) -> bool:
    """Send invoice (or credit note) ``invoice_id`` with its PDF attached to the customer's
    contact address and its billing-alert contacts, once.

    Returns False and sends nothing when the invoice was e-mailed already, is a draft or void,
    or the customer's data was erased. Delivery is synchronous (the caller is a job with
    retries): when it fails the exception propagates and ``emailed_at`` stays empty, so the
    next attempt sends it. Raises NotFound for an unknown invoice.
    """
    invoice, customer = _load(invoice_id)
    if invoice.emailed_at is not None or invoice.state in NOT_MAILED:
        return False
    if customer is None or customer.erased_at is not None:
        return False
    if not _claim(invoice.id):
        return False
    try:
        attachment = (
            invoice_filename(invoice),
            "application/pdf",
            render_invoice_pdf(invoice.id, site),
        )
        for recipient, name in _recipients(customer):
            message = compose(
                "invoice",
                recipient,
                invoice.language,
                clock,
                customer_id=customer.id,
                invoice_id=invoice.id,
                name=name,
                **_context(invoice, customer, site),
            )
            deliver(replace(message, attachments=(attachment,)), clock)
    except Exception:
        db.session.rollback()
        _release(invoice.id)
        raise
    invoice = db.session.get(Invoice, invoice_id)
    invoice.emailed_at = clock.now()
    invoice.email_claimed_until = None
    audit.record(
        SYSTEM,
        "invoice.email",
        clock,
        customer_id=invoice.customer_id,
        after={"number": invoice.number},
    )
    db.session.commit()
    return True


def request_resend(invoice_id: int, actor: Actor, clock: Clock) -> Invoice:
    """Let invoice (or credit note) ``invoice_id`` be e-mailed once more, as staff asked:
    ``email_invoice`` then sends it again (the caller queues that job). Audited.

    NotFound for an unknown invoice; DomainError for a draft or void invoice, a customer whose
    data was erased, or an invoice whose e-mail is being sent at this moment.
    """
    invoice, customer = _load(invoice_id)
    if invoice.state in NOT_MAILED:
        raise DomainError(_("Drafts and void invoices are not e-mailed."))
    if customer is None or customer.erased_at is not None:
        raise DomainError(_("The customer's data was erased; the invoice is not e-mailed."))
    if invoice.email_claimed_until is not None and invoice.email_claimed_until > lease_now():
        raise DomainError(_("The invoice is being e-mailed at this moment."))
    invoice.emailed_at = None
    invoice.email_claimed_until = None
    audit.record(
        actor,
        "invoice.resend_email",
        clock,
        customer_id=invoice.customer_id,
        after={"number": invoice.number},
    )
    db.session.commit()
    return invoice


CLAIM = timedelta(minutes=10)


def _claim(invoice_id: int) -> bool:
    """Take the invoice for sending, in its own committed statement: a second worker running
    the same job at the same moment finds it claimed and sends nothing. A claim left by a
    worker that died runs out after ``CLAIM`` (on the worker clock, like the run's lease)."""
    now = lease_now()
    claimed = db.session.execute(
        db.update(Invoice)
        .where(
            Invoice.id == invoice_id,
            Invoice.emailed_at.is_(None),
            or_(Invoice.email_claimed_until.is_(None), Invoice.email_claimed_until < now),
        )
        .values(email_claimed_until=now + CLAIM)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return claimed == 1


def _release(invoice_id: int) -> None:
    """Give the claim back after a failed delivery, so the job's retry can send it."""
    db.session.execute(
        db.update(Invoice)
        .where(Invoice.id == invoice_id, Invoice.emailed_at.is_(None))
        .values(email_claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _recipients(customer: Customer) -> list[tuple[str, str]]:
    """(address, name) of the customer's contact, then of its billing-alert contacts: each is
    greeted by their own name."""
    return [
        (customer.contact_email, customer.contact_name),
        *billing_alert_recipients(customer.id, exclude=customer.contact_email),
    ]


def payment_failed_notices(invoice_id: int, clock: Clock, site: Site = Site()) -> list[Outgoing]:
    """``payment_failed_notice`` for the customer's contact and each billing-alert contact."""
    first = payment_failed_notice(invoice_id, clock, site)
    if first is None:
        return []
    invoice, customer = _load(invoice_id)
    return [first] + [
        compose(
            "payment_failed",
            recipient,
            invoice.language,
            clock,
            customer_id=customer.id,
            invoice_id=invoice.id,
            link=f"{site.public_url}/portal/",
            name=name,
            **_context(invoice, customer, site),
        )
        for recipient, name in _recipients(customer)[1:]
    ]


def payment_failed_notice(invoice_id: int, clock: Clock, site: Site = Site()) -> Outgoing | None:
    """Compose the e-mail telling the customer that charging invoice ``invoice_id`` to the
    saved card failed, with a link to the portal to update the card; send it through the
    mail job. None when the invoice is not in ``payment_failed`` or the customer was erased.
    Raises NotFound for an unknown invoice.
    """
    invoice, customer = _load(invoice_id)
    if invoice.state != InvoiceState.PAYMENT_FAILED.value:
        return None
    if customer is None or customer.erased_at is not None:
        return None
    return compose(
        "payment_failed",
        customer.contact_email,
        invoice.language,
        clock,
        customer_id=customer.id,
        invoice_id=invoice.id,
        link=f"{site.public_url}/portal/",
        name=customer.contact_name,
        **_context(invoice, customer, site),
    )
