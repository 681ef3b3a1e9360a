"""Charging an invoice to the saved card (SPEC §6, §8), booking a card payment taken elsewhere,
and refunds: each charged at most once."""

from __future__ import annotations

import logging
from datetime import timedelta

import stripe

from billing.kernel import audit
from billing.kernel.clock import Clock, lease_now
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from billing.payments import payment_failures
from billing.payments.stripe_account import client
from billing.payments.stripe_cards import ensure_stripe_customer, saved_card

logger = logging.getLogger("msp.payments")


def minor_units(amount) -> int:
    """An amount in the smallest currency unit, as Stripe counts it."""
    from decimal import Decimal

    return int((Decimal(amount) * 100).to_integral_value())


CLAIM = timedelta(minutes=2)


# the states of an off-session PaymentIntent that only the customer could move on
AWAITS_CUSTOMER = ("requires_action", "requires_payment_method")


def charge_invoice(invoice_id: int, clock: Clock, *, retry_by=None):
    """Charge the open amount of a finalized invoice to the customer's saved card, off-session.

    The guard against charging twice: the invoice is locked while its open attempt is looked
    up, created (with its idempotency key) and claimed, and that is committed before Stripe is
    called; at most one pending or succeeded attempt may exist per invoice (a database
    constraint), and only the caller holding the attempt's short claim talks to Stripe. A
    succeeded attempt is returned without calling Stripe; a pending one whose claim ran out
    (its caller died) is retried with the same idempotency key. An invoice with nothing open
    (paid, or settled by a credit note) is refused (``receivables.payment_refusal``).
    A decline marks the invoice ``payment_failed``, and so does a card whose bank wants the
    cardholder to confirm the payment (3-D Secure); a new call after that is a new attempt.
    The attempt keeps why it failed as a code of ``payment_failures``.

    ``retry_by`` (the acting staff member or customer user) asks for a retry of a failed card
    payment: only such an invoice is charged, and the request is audited with the attempt.
    """
    attempt, invoice = _claim_attempt(invoice_id, clock, retry_by)
    if invoice is None:  # charged already
        return attempt
    try:
        card = saved_card(invoice.customer_id)
        if card is None:
            return _fail_attempt(attempt, invoice, payment_failures.NO_CARD, clock)
        intent = client().v1.payment_intents.create(
            {
                "amount": minor_units(attempt.amount),
                "currency": invoice.currency.lower(),
                "customer": ensure_stripe_customer(invoice.customer_id),
                "payment_method": card,
                "off_session": True,
                "confirm": True,
                "metadata": {"msp_invoice_id": str(invoice_id)},
            },
            {"idempotency_key": attempt.idempotency_key},
        )
    except stripe.CardError as error:
        body = error.json_body if isinstance(error.json_body, dict) else {}
        reason = payment_failures.stripe_reason(body.get("error"))
        return _fail_attempt(attempt, invoice, reason, clock)
    except stripe.StripeError as error:
        from models import db

        logger.warning("charging invoice %s: Stripe not reached: %r", invoice_id, error)
        attempt.error = payment_failures.UNREACHABLE
        attempt.claimed_until = None
        attempt.updated_at = clock.now()
        db.session.commit()
        raise DomainError(_("Stripe could not be reached; the charge will be retried.")) from None
    return _record_intent(attempt, invoice, intent, clock)


def _claim_attempt(invoice_id: int, clock: Clock, retry_by):
    """The invoice's open attempt (created with its idempotency key if there is none) claimed
    for this caller and committed, with the invoice; or a succeeded attempt and None when the
    invoice was charged already. DomainError when the invoice may not be charged now."""
    from billing.kernel.locking import lock_row
    from billing.payments.receivables import open_amount
    from models import AttemptState, Invoice, PaymentAttempt, db

    invoice = lock_row(Invoice, invoice_id)
    if invoice is None:
        db.session.rollback()
        raise DomainError(_("This invoice does not exist."))
    attempt = db.session.scalar(
        db.select(PaymentAttempt).where(
            PaymentAttempt.invoice_id == invoice_id,
            PaymentAttempt.state.in_((AttemptState.PENDING.value, AttemptState.SUCCEEDED.value)),
        )
    )
    if retry_by is None and attempt is not None and attempt.state == AttemptState.SUCCEEDED.value:
        db.session.commit()
        return attempt, None
    # the claim guards against concurrent workers: worker clock, not the business clock
    claim_now = lease_now()
    refusal = _charge_refusal(invoice, attempt, retry_by, claim_now)
    if refusal is not None:
        db.session.rollback()
        raise DomainError(refusal)
    if attempt is None:
        attempt = _new_attempt(invoice, clock, amount=open_amount(invoice))
        db.session.add(attempt)
    attempt.claimed_until = claim_now + CLAIM
    if retry_by is not None:
        audit.record(
            retry_by,
            "invoice.retry_payment",
            clock,
            customer_id=invoice.customer_id,
            after={"number": invoice.number, "attempt": attempt.idempotency_key},
        )
    db.session.commit()
    return attempt, invoice


def _charge_refusal(invoice, attempt, retry_by, claim_now) -> str | None:
    """Why the invoice may not be charged now: nothing open (``receivables.payment_refusal``),
    a retry of an invoice whose card payment did not fail, or another caller's live claim."""
    from billing.payments.receivables import payment_refusal
    from models import InvoiceState, PaymentMethodCode

    refusal = payment_refusal(invoice)
    if refusal is not None:
        return refusal
    if retry_by is not None and (
        invoice.state != InvoiceState.PAYMENT_FAILED.value
        or invoice.payment_method != PaymentMethodCode.CARD.value
    ):
        return _("Only card invoices whose payment failed can be charged again.")
    if (
        attempt is not None
        and attempt.claimed_until is not None
        and attempt.claimed_until >= claim_now
    ):
        return _("This invoice is being charged already.")
    return None


def _new_attempt(invoice, clock: Clock, **values):
    """The invoice's next payment attempt, numbered after its earlier ones; its idempotency key
    names the invoice and the number, so Stripe never takes the same attempt twice."""
    from models import PaymentAttempt, db

    number = 1 + db.session.scalar(
        db.select(db.func.count())
        .select_from(PaymentAttempt)
        .where(PaymentAttempt.invoice_id == invoice.id)
    )
    return PaymentAttempt(
        invoice_id=invoice.id,
        number=number,
        idempotency_key=f"msp-invoice-{invoice.id}-attempt-{number}",
        currency=invoice.currency,
        created_at=clock.now(),
        updated_at=clock.now(),
        **values,
    )


def _record_intent(attempt, invoice, intent, clock: Clock):
    """Book what Stripe answered: paid, refused for want of the cardholder, or pending."""
    from models import AttemptState, InvoiceState, db

    attempt.payment_intent_id = intent.id
    if intent.status in AWAITS_CUSTOMER:
        # Stripe refuses such an off-session charge with a CardError; a Stripe-compatible test
        # server leaves the intent waiting for a confirmation that nobody can give
        return _fail_attempt(attempt, invoice, payment_failures.AUTHENTICATION_REQUIRED, clock)
    attempt.claimed_until = None
    attempt.error = ""
    if intent.status == "succeeded":
        attempt.state = AttemptState.SUCCEEDED.value
        invoice.state = InvoiceState.PAID.value
        invoice.paid_at = clock.now()
        audit.record(
            audit.SYSTEM,
            "invoice.charged",
            clock,
            customer_id=invoice.customer_id,
            after={"number": invoice.number, "payment_intent": intent.id},
        )
    attempt.updated_at = clock.now()
    db.session.commit()
    return attempt


def _fail_attempt(attempt, invoice, reason: str, clock: Clock):
    """The attempt failed for ``reason`` (a code of ``payment_failures``), and so did the
    invoice's payment."""
    from models import AttemptState, InvoiceState, db

    attempt.state = AttemptState.FAILED.value
    attempt.claimed_until = None
    attempt.error = reason
    attempt.updated_at = clock.now()
    invoice.state = InvoiceState.PAYMENT_FAILED.value
    audit.record(
        audit.SYSTEM,
        "invoice.payment_failed",
        clock,
        customer_id=invoice.customer_id,
        after={"number": invoice.number, "error": reason},
    )
    db.session.commit()
    return attempt


def record_card_payment(invoice_id: int, clock: Clock, payment_intent_id: str | None = None):
    """Book a card payment taken without this product's charge call (in Stripe's dashboard, or
    history brought in from before): a succeeded attempt, so the invoice is never charged
    again, and the invoice paid. Returns the attempt; a recorded payment is returned as it is.
    DomainError unless the invoice is finalized or its payment failed, or while it is being
    charged."""
    from sqlalchemy.exc import IntegrityError

    from models import AttemptState, Invoice, InvoiceState, PaymentAttempt, db

    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise DomainError(_("This invoice does not exist."))
    open_attempt = db.session.scalar(
        db.select(PaymentAttempt).where(
            PaymentAttempt.invoice_id == invoice_id,
            PaymentAttempt.state.in_((AttemptState.PENDING.value, AttemptState.SUCCEEDED.value)),
        )
    )
    if open_attempt is not None and open_attempt.state == AttemptState.SUCCEEDED.value:
        return open_attempt
    if open_attempt is not None:
        raise DomainError(_("This invoice is being charged already."))
    if invoice.state not in (InvoiceState.FINALIZED.value, InvoiceState.PAYMENT_FAILED.value):
        raise DomainError(_("Only finalized or failed invoices can be charged."))
    attempt = _new_attempt(
        invoice,
        clock,
        payment_intent_id=payment_intent_id,
        amount=invoice.gross,
        state=AttemptState.SUCCEEDED.value,
    )
    db.session.add(attempt)
    invoice.state = InvoiceState.PAID.value
    invoice.paid_at = clock.now()
    audit.record(
        audit.SYSTEM,
        "invoice.charged",
        clock,
        customer_id=invoice.customer_id,
        after={"number": invoice.number, "payment_intent": payment_intent_id, "recorded": True},
    )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise DomainError(_("This invoice is being charged already.")) from None
    return attempt


def refund(attempt_id: int, actor, clock: Clock):
    """Refund a succeeded charge in full, once.

    The attempt is claimed for the refund (succeeded → refunded, one conditional update,
    committed) before Stripe is called, so of several simultaneous requests one refunds and
    the others are told it was refunded already; should Stripe fail, the claim is undone and
    the refund can be asked for again (with the same idempotency key). The refund is audited
    on the invoice's customer, with the invoice's number."""
    from models import AttemptState, Invoice, PaymentAttempt, db

    attempt = db.session.get(PaymentAttempt, attempt_id)
    if attempt is None or attempt.state not in (
        AttemptState.SUCCEEDED.value,
        AttemptState.REFUNDED.value,
    ):
        raise DomainError(_("Only a successful payment can be refunded."))
    claimed = db.session.execute(
        db.update(PaymentAttempt)
        .where(
            PaymentAttempt.id == attempt_id,
            PaymentAttempt.state == AttemptState.SUCCEEDED.value,
        )
        .values(state=AttemptState.REFUNDED.value, updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if claimed.rowcount != 1:
        raise DomainError(_("This payment was refunded already."))
    db.session.refresh(attempt)
    try:
        client().v1.refunds.create(
            {"payment_intent": attempt.payment_intent_id},
            {"idempotency_key": f"{attempt.idempotency_key}-refund"},
        )
    except stripe.StripeError as error:
        attempt.state = AttemptState.SUCCEEDED.value
        attempt.updated_at = clock.now()
        db.session.commit()
        raise DomainError(
            _("Stripe answered with an error: %(error)s", error=error.user_message or "?")
        ) from None
    invoice = db.session.get(Invoice, attempt.invoice_id)
    audit.record(
        actor,
        "payment.refund",
        clock,
        customer_id=invoice.customer_id,
        after={
            "attempt": attempt.idempotency_key,
            "number": invoice.number,
            "amount": str(attempt.amount),
        },
    )
    db.session.commit()
    return attempt
