"""Stripe's webhook events (SPEC §6): verified, stored once, and applied to the payment attempt
they are about."""

from __future__ import annotations

import json

import stripe

from billing.kernel import audit
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from billing.kernel.locking import lock_row
from billing.payments import payment_failures
from billing.payments.card_charges import minor_units
from billing.payments.stripe_account import stored_webhook_secret


def receive_webhook(payload: bytes, signature: str, clock: Clock):
    """Verify and store a webhook event, then process it once.

    Raises DomainError for a missing secret, a bad signature or a malformed payload (the
    endpoint answers 400). Returns the stored event; a replayed id is not processed again,
    also when Stripe delivers it twice at the same moment (the event id is the primary key:
    the second insert fails and answers with the stored event).
    """
    from sqlalchemy.exc import IntegrityError

    from models import StripeEvent, db

    secret = stored_webhook_secret()
    if not secret:
        raise DomainError("webhook secret not configured")
    try:
        event = stripe.Webhook.construct_event(payload, signature or "", secret)
    except (ValueError, stripe.SignatureVerificationError):
        raise DomainError("invalid signature or payload") from None
    existing = db.session.get(StripeEvent, event.id)
    if existing is not None:
        return existing
    stored = StripeEvent(
        id=event.id, type=event.type, payload=payload.decode("utf-8"), received_at=clock.now()
    )
    db.session.add(stored)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return db.session.get(StripeEvent, event.id)
    return process_event(stored.id, clock)


HANDLED = ("payment_intent.succeeded", "payment_intent.payment_failed")


def _same_charge(attempt, intent: dict) -> bool:
    """An intent found only through its metadata must also match the attempt's amount and the
    customer's Stripe id (another system on the same Stripe account may use the same ids)."""
    from models import Customer, Invoice, db

    invoice = db.session.get(Invoice, attempt.invoice_id)
    customer = db.session.get(Customer, invoice.customer_id) if invoice else None
    return (
        customer is not None
        and intent.get("customer") == customer.stripe_customer_id
        and intent.get("amount") == minor_units(attempt.amount)
    )


def process_event(event_id: str, clock: Clock):
    """Apply a stored event (also the admin's Replay). Unknown types are marked ignored.

    The invoice is locked while its state is decided, so a webhook, a staff member marking it
    paid and a retried charge see each other's result; an event never takes back a payment
    (a failure reported late, after a retry or a bank transfer paid the invoice, only marks
    its own attempt), and every change of the invoice is audited."""
    from models import EventState, StripeEvent, db

    stored = db.session.get(StripeEvent, event_id)
    if stored is None:
        raise DomainError(_("This event does not exist."))
    try:
        data = json.loads(stored.payload)["data"]["object"]
        if stored.type not in HANDLED:
            stored.state = EventState.IGNORED.value
        else:
            _apply(stored.type, data, clock)
            stored.state = EventState.PROCESSED.value
        stored.error = ""
    except (KeyError, TypeError, ValueError, DomainError) as error:
        db.session.rollback()
        stored = db.session.get(StripeEvent, event_id)
        stored.state = EventState.FAILED.value
        stored.error = str(getattr(error, "message", error))[:2000]
    stored.processed_at = clock.now()
    db.session.commit()
    return stored


def _attempt_of(data: dict):
    """The payment attempt the event's payment intent belongs to, else DomainError."""
    from models import AttemptState, PaymentAttempt, db

    attempt = db.session.scalar(
        db.select(PaymentAttempt).where(PaymentAttempt.payment_intent_id == data["id"])
    )
    if attempt is not None:
        return attempt
    # Stripe may send the event before the charging call has stored the intent's id: find
    # the open attempt through the invoice id put in the metadata.
    invoice_id = int((data.get("metadata") or {}).get("msp_invoice_id", 0))
    attempt = db.session.scalar(
        db.select(PaymentAttempt).where(
            PaymentAttempt.invoice_id == invoice_id,
            PaymentAttempt.state.in_((AttemptState.PENDING.value, AttemptState.SUCCEEDED.value)),
        )
    )
    if attempt is None or not _same_charge(attempt, data):
        raise DomainError(f"no payment attempt for {data['id']}")
    attempt.payment_intent_id = data["id"]
    return attempt


def _apply(kind: str, data: dict, clock: Clock) -> None:
    """The event's outcome on its attempt and, where it changes it, the attempt's invoice."""
    from models import AttemptState, Invoice, InvoiceState

    attempt = _attempt_of(data)
    invoice = lock_row(Invoice, attempt.invoice_id)
    changed = None
    if kind == "payment_intent.succeeded":
        attempt.state = AttemptState.SUCCEEDED.value
        if invoice.state != InvoiceState.PAID.value:
            invoice.state = InvoiceState.PAID.value
            invoice.paid_at = clock.now()
            changed = "invoice.charged"
    elif attempt.state != AttemptState.SUCCEEDED.value:
        attempt.state = AttemptState.FAILED.value
        if data.get("last_payment_error"):
            attempt.error = payment_failures.stripe_reason(data["last_payment_error"])
        if invoice.state == InvoiceState.FINALIZED.value:
            invoice.state = InvoiceState.PAYMENT_FAILED.value
            changed = "invoice.payment_failed"
    attempt.updated_at = clock.now()
    if changed:
        audit.record(
            audit.SYSTEM,
            changed,
            clock,
            customer_id=invoice.customer_id,
            after={"number": invoice.number, "payment_intent": data["id"], "by": "webhook"},
        )
