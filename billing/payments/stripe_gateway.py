"""The Stripe gateway (SPEC §6): keys, and the one place that talks to Stripe.

The secret key (ApiKey) is stored encrypted and never shown again; the publishable key (Public
Access Key) is stored as is. ``STRIPE_API_BASE`` points the client at another server (tests use
a local Stripe-compatible server).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import stripe
from flask import current_app

from billing.kernel import audit
from billing.kernel.clock import Clock, lease_now
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from billing.kernel.secrets import decrypt, encrypt, mask
from billing.kernel.settings import get_setting

SECRET_KEY = "stripe.secret_key"  # noqa: S105 - the setting's name, not a key
PUBLISHABLE_KEY = "stripe.publishable_key"
SECRET_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")
PUBLISHABLE_PREFIXES = ("pk_test_", "pk_live_")


def client(secret: str | None = None) -> stripe.StripeClient:
    secret = secret or stored_secret_key()
    if not secret:
        raise DomainError(_("No Stripe secret key is configured."))
    base = current_app.config.get("STRIPE_API_BASE") or None
    return stripe.StripeClient(
        secret,
        base_addresses={"api": base} if base else None,
        max_network_retries=2,
    )


def stored_secret_key() -> str:
    token = get_setting(SECRET_KEY)
    return decrypt(token) if token else ""


def stored_publishable_key() -> str:
    return get_setting(PUBLISHABLE_KEY)


def keys_configured() -> bool:
    return bool(get_setting(SECRET_KEY) and get_setting(PUBLISHABLE_KEY))


def check_key_formats(secret: str, publishable: str) -> None:
    """Catch keys pasted into the wrong box before asking Stripe."""
    if secret and secret.startswith(PUBLISHABLE_PREFIXES):
        raise DomainError(
            _("This is a publishable key; the ApiKey field needs the secret key (sk_…)."),
            field="secret_key",
        )
    if secret and not secret.startswith(SECRET_PREFIXES):
        raise DomainError(
            _("A Stripe secret key starts with sk_test_ or sk_live_."), field="secret_key"
        )
    if not publishable.startswith(PUBLISHABLE_PREFIXES):
        raise DomainError(
            _("A Stripe publishable key starts with pk_test_ or pk_live_."),
            field="publishable_key",
        )
    if secret and secret.split("_")[1] != publishable.split("_")[1]:
        raise DomainError(
            _("Both keys must be test keys or both live keys."), field="publishable_key"
        )


def verify_secret_key(secret: str) -> None:
    """Ask Stripe whether it accepts ``secret``; DomainError with the reason otherwise."""
    try:
        client(secret).v1.customers.list({"limit": 1})
    except stripe.AuthenticationError:
        raise DomainError(_("Stripe refused this secret key."), field="secret_key") from None
    except stripe.PermissionError:
        raise DomainError(
            _("This key lacks the permissions the product needs."), field="secret_key"
        ) from None
    except stripe.APIConnectionError:
        raise DomainError(
            _("Stripe could not be reached; the keys were not saved. Please try again.")
        ) from None
    except stripe.StripeError as error:
        raise DomainError(
            _("Stripe answered with an error: %(error)s", error=error.user_message or "?")
        ) from None


def save_stripe_keys(secret: str, publishable: str, actor, clock: Clock) -> None:
    """Check and store the keys; an empty ``secret`` keeps the stored one (audited, masked)."""
    from models import Setting, db

    secret = (secret or "").strip()
    publishable = (publishable or "").strip()
    if not secret and not get_setting(SECRET_KEY):
        raise DomainError(_("Please enter the secret key (ApiKey)."), field="secret_key")
    check_key_formats(secret or stored_secret_key(), publishable)
    verify_secret_key(secret or stored_secret_key())
    values = {PUBLISHABLE_KEY: publishable}
    if secret:
        values[SECRET_KEY] = encrypt(secret)
    for key, value in values.items():
        row = db.session.get(Setting, key)
        if row is None:
            db.session.add(Setting(key=key, value=value, updated_at=clock.now()))
        else:
            row.value, row.updated_at = value, clock.now()
    audit.record(
        actor,
        "settings.stripe",
        clock,
        after={
            "publishable_key": publishable,
            "secret_key": mask(secret) if secret else "unchanged",
        },
    )
    db.session.commit()


WEBHOOK_SECRET = "stripe.webhook_secret"  # noqa: S105 - the setting's name, not a secret


def ensure_stripe_customer(customer_id: int) -> str:
    """The Stripe customer id of ``customer_id``, created at Stripe on first use."""
    from billing.customers.lookup import get_customer
    from models import db

    customer = get_customer(customer_id)
    if customer.stripe_customer_id:
        return customer.stripe_customer_id
    created = client().v1.customers.create(
        {
            "name": customer.company_name,
            "email": customer.contact_email,
            "metadata": {"msp_customer_id": str(customer.id)},
        }
    )
    customer.stripe_customer_id = created.id
    db.session.commit()
    return created.id


def create_setup_intent(customer_id: int) -> str:
    """A SetupIntent for saving a card for later off-session charges; returns its client
    secret for Stripe.js."""
    stripe_id = ensure_stripe_customer(customer_id)
    intent = client().v1.setup_intents.create(
        {
            "customer": stripe_id,
            "usage": "off_session",
            "payment_method_types": ["card"],
        }
    )
    return intent.client_secret


def saved_card(customer_id: int) -> str | None:
    """The id of the card that will be charged (see ``card_on_file``), or None."""
    card = card_on_file(customer_id)
    return card.id if card else None


def attach_card(customer_id: int, payment_method_id: str) -> None:
    stripe_id = ensure_stripe_customer(customer_id)
    client().v1.payment_methods.attach(payment_method_id, {"customer": stripe_id})


STRIPE_JS = "https://js.stripe.com/v3/"


def stripe_js_url() -> str:
    """Where the portal loads Stripe.js from: Stripe's own address, or the same path on the
    server ``STRIPE_API_BASE`` points at (a Stripe-compatible test server serves its own)."""
    base = (current_app.config.get("STRIPE_API_BASE") or "").rstrip("/")
    return f"{base}/js.stripe.com/v3/" if base else STRIPE_JS


# What Stripe.js needs besides the page's own origin (Stripe's published CSP requirements):
# its script, the frames of the card fields and 3-D Secure, and its API.
STRIPE_CSP_SOURCES = {
    "script-src": ("https://js.stripe.com", "https://*.js.stripe.com"),
    "frame-src": ("https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"),
    "connect-src": ("https://api.stripe.com",),
}


def csp_sources() -> dict[str, tuple[str, ...]]:
    """The Content-Security-Policy sources of the page that loads Stripe.js: Stripe's hosts, or
    only the origin of the server ``STRIPE_API_BASE`` points at (it serves Stripe.js and API)."""
    base = (current_app.config.get("STRIPE_API_BASE") or "").strip()
    if not base:
        return STRIPE_CSP_SOURCES
    parts = urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}"
    return {directive: (origin,) for directive in STRIPE_CSP_SOURCES}


@dataclass(frozen=True)
class CardInfo:
    """What the customer sees of a saved card (Stripe keeps the number)."""

    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


def _id(field) -> str | None:
    """The id of an expandable Stripe field (an id string or an expanded object)."""
    return field if isinstance(field, str) or field is None else field.id


def _card_info(method) -> CardInfo:
    card = method.card
    return CardInfo(
        id=method.id,
        brand=str(card.brand or ""),
        last4=str(card.last4 or ""),
        exp_month=int(card.exp_month or 0),
        exp_year=int(card.exp_year or 0),
    )


def _cards(stripe_customer_id: str) -> list:
    return list(
        client()
        .v1.payment_methods.list({"customer": stripe_customer_id, "type": "card", "limit": 100})
        .data
    )


def card_on_file(customer_id: int) -> CardInfo | None:
    """The card that will be charged: the customer's default card at Stripe, else the first
    card saved for it; None without a Stripe customer or card."""
    from billing.customers.lookup import get_customer

    customer = get_customer(customer_id)
    if not customer.stripe_customer_id:
        return None
    cards = _cards(customer.stripe_customer_id)
    if not cards:
        return None
    settings = client().v1.customers.retrieve(customer.stripe_customer_id).invoice_settings
    default_id = _id(settings.default_payment_method) if settings else None
    chosen = next((c for c in cards if c.id == default_id), cards[0])
    return _card_info(chosen)


def confirmed_setup_card(customer_id: int, setup_intent_id: str, payment_method_id: str) -> str:
    """The card of a SetupIntent the customer confirmed in the browser, checked at Stripe: the
    intent belongs to this customer, succeeded, and saved ``payment_method_id``. DomainError
    otherwise (a forged or foreign id is refused)."""
    stripe_id = ensure_stripe_customer(customer_id)
    refused = DomainError(_("The card could not be confirmed. Please enter it again."))
    if not (setup_intent_id or "").startswith("seti_") or not (payment_method_id or "").startswith(
        "pm_"
    ):
        raise refused
    try:
        intent = client().v1.setup_intents.retrieve(setup_intent_id)
    except stripe.InvalidRequestError:
        raise refused from None
    method_id = _id(intent.payment_method)
    if intent.customer != stripe_id or intent.status != "succeeded":
        raise refused
    if method_id != payment_method_id:
        raise refused
    return method_id


def make_default_card(customer_id: int, payment_method_id: str) -> CardInfo:
    """Attach the card to the customer's Stripe customer (unless it is already), make it the
    default for charges, and detach every other card: one card on file at a time."""
    stripe_id = ensure_stripe_customer(customer_id)
    api = client().v1
    method = api.payment_methods.retrieve(payment_method_id)
    owner = _id(method.customer)
    if owner not in (None, stripe_id):
        raise DomainError(_("The card could not be confirmed. Please enter it again."))
    try:
        if owner is None:
            method = api.payment_methods.attach(payment_method_id, {"customer": stripe_id})
    except stripe.CardError as error:
        raise DomainError(error.user_message or _("Your card was declined.")) from None
    api.customers.update(stripe_id, {"invoice_settings": {"default_payment_method": method.id}})
    for other in _cards(stripe_id):
        if other.id != method.id:
            api.payment_methods.detach(other.id)
    return _card_info(method)


def remove_cards(customer_id: int) -> int:
    """Detach every saved card of the customer and clear the default; returns how many."""
    from billing.customers.lookup import get_customer

    customer = get_customer(customer_id)
    if not customer.stripe_customer_id:
        return 0
    api = client().v1
    cards = _cards(customer.stripe_customer_id)
    api.customers.update(
        customer.stripe_customer_id, {"invoice_settings": {"default_payment_method": ""}}
    )
    for card in cards:
        api.payment_methods.detach(card.id)
    return len(cards)


def _cents(amount) -> int:
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

    ``retry_by`` (the acting staff member or customer user) asks for a retry of a failed card
    payment: only such an invoice is charged, and the request is audited with the attempt.
    """
    from billing.kernel.locking import lock_row
    from billing.payments.receivables import open_amount, payment_refusal
    from models import AttemptState, Invoice, InvoiceState, PaymentAttempt, PaymentMethodCode, db

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
        return attempt
    refusal = payment_refusal(invoice)
    if (
        refusal is None
        and retry_by is not None
        and (
            invoice.state != InvoiceState.PAYMENT_FAILED.value
            or invoice.payment_method != PaymentMethodCode.CARD.value
        )
    ):
        refusal = _("Only card invoices whose payment failed can be charged again.")
    # the claim guards against concurrent workers: worker clock, not the business clock
    claim_now = lease_now()
    if (
        refusal is None
        and attempt is not None
        and (attempt.claimed_until is not None and attempt.claimed_until >= claim_now)
    ):
        refusal = _("This invoice is being charged already.")
    if refusal is not None:
        db.session.rollback()
        raise DomainError(refusal)
    if attempt is None:
        number = 1 + db.session.scalar(
            db.select(db.func.count())
            .select_from(PaymentAttempt)
            .where(PaymentAttempt.invoice_id == invoice_id)
        )
        attempt = PaymentAttempt(
            invoice_id=invoice_id,
            number=number,
            idempotency_key=f"msp-invoice-{invoice_id}-attempt-{number}",
            amount=open_amount(invoice),
            currency=invoice.currency,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
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
    try:
        card = saved_card(invoice.customer_id)
        if card is None:
            return _fail_attempt(attempt, invoice, _("No card is saved for this customer."), clock)
        intent = client().v1.payment_intents.create(
            {
                "amount": _cents(attempt.amount),
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
        return _fail_attempt(attempt, invoice, error.user_message or str(error), clock)
    except stripe.StripeError as error:
        attempt.error = f"{type(error).__name__}: {error.user_message or error}"[:2000]
        attempt.claimed_until = None
        attempt.updated_at = clock.now()
        db.session.commit()
        raise DomainError(_("Stripe could not be reached; the charge will be retried.")) from None
    attempt.payment_intent_id = intent.id
    if intent.status in AWAITS_CUSTOMER:
        # Stripe refuses such an off-session charge with a CardError; a Stripe-compatible test
        # server leaves the intent waiting for a confirmation that nobody can give
        return _fail_attempt(
            attempt,
            invoice,
            _(
                "The card's bank asks the cardholder to confirm this payment (3-D Secure), "
                "which an automatic charge cannot do."
            ),
            clock,
        )
    attempt.claimed_until = None
    if intent.status == "succeeded":
        attempt.state = AttemptState.SUCCEEDED.value
        invoice.state = InvoiceState.PAID.value
        invoice.paid_at = clock.now()
        audit.record(
            audit.SYSTEM,
            "invoice.charged",
            clock,
            customer_id=invoice.customer_id,
            after={"invoice": invoice.number, "payment_intent": intent.id},
        )
    attempt.updated_at = clock.now()
    db.session.commit()
    return attempt


def _fail_attempt(attempt, invoice, message: str, clock: Clock):
    from models import AttemptState, InvoiceState, db

    attempt.state = AttemptState.FAILED.value
    attempt.claimed_until = None
    attempt.error = message[:2000]
    attempt.updated_at = clock.now()
    invoice.state = InvoiceState.PAYMENT_FAILED.value
    audit.record(
        audit.SYSTEM,
        "invoice.payment_failed",
        clock,
        customer_id=invoice.customer_id,
        after={"invoice": invoice.number, "error": message[:200]},
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
    number = 1 + db.session.scalar(
        db.select(db.func.count())
        .select_from(PaymentAttempt)
        .where(PaymentAttempt.invoice_id == invoice_id)
    )
    attempt = PaymentAttempt(
        invoice_id=invoice_id,
        number=number,
        idempotency_key=f"msp-invoice-{invoice_id}-attempt-{number}",
        payment_intent_id=payment_intent_id,
        amount=invoice.gross,
        currency=invoice.currency,
        state=AttemptState.SUCCEEDED.value,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    db.session.add(attempt)
    invoice.state = InvoiceState.PAID.value
    invoice.paid_at = clock.now()
    audit.record(
        audit.SYSTEM,
        "invoice.charged",
        clock,
        customer_id=invoice.customer_id,
        after={"invoice": invoice.number, "payment_intent": payment_intent_id, "recorded": True},
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
    the refund can be asked for again (with the same idempotency key)."""
    from models import AttemptState, PaymentAttempt, db

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
    audit.record(actor, "payment.refund", clock, after={"attempt": attempt.idempotency_key})
    db.session.commit()
    return attempt


def stored_webhook_secret() -> str:
    token = get_setting(WEBHOOK_SECRET)
    return decrypt(token) if token else ""


def save_webhook_secret(secret: str, actor, clock: Clock) -> None:
    from models import Setting, db

    secret = (secret or "").strip()
    if not secret.startswith("whsec_"):
        raise DomainError(_("A webhook signing secret starts with whsec_."), field="webhook_secret")
    row = db.session.get(Setting, WEBHOOK_SECRET)
    if row is None:
        db.session.add(Setting(key=WEBHOOK_SECRET, value=encrypt(secret), updated_at=clock.now()))
    else:
        row.value, row.updated_at = encrypt(secret), clock.now()
    audit.record(actor, "settings.stripe_webhook", clock, after={"secret": mask(secret)})
    db.session.commit()


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
        and intent.get("amount") == _cents(attempt.amount)
    )


def process_event(event_id: str, clock: Clock):
    """Apply a stored event (also the admin's Replay). Unknown types are marked ignored."""
    import json

    from models import (
        AttemptState,
        EventState,
        Invoice,
        InvoiceState,
        PaymentAttempt,
        StripeEvent,
        db,
    )

    stored = db.session.get(StripeEvent, event_id)
    if stored is None:
        raise DomainError(_("This event does not exist."))
    try:
        data = json.loads(stored.payload)["data"]["object"]
        if stored.type not in HANDLED:
            stored.state = EventState.IGNORED.value
        else:
            attempt = db.session.scalar(
                db.select(PaymentAttempt).where(PaymentAttempt.payment_intent_id == data["id"])
            )
            if attempt is None:
                # Stripe may send the event before the charging call has stored the intent's
                # id: find the open attempt through the invoice id put in the metadata.
                invoice_id = int((data.get("metadata") or {}).get("msp_invoice_id", 0))
                attempt = db.session.scalar(
                    db.select(PaymentAttempt).where(
                        PaymentAttempt.invoice_id == invoice_id,
                        PaymentAttempt.state.in_(
                            (AttemptState.PENDING.value, AttemptState.SUCCEEDED.value)
                        ),
                    )
                )
                if attempt is None or not _same_charge(attempt, data):
                    raise DomainError(f"no payment attempt for {data['id']}")
                attempt.payment_intent_id = data["id"]
            invoice = db.session.get(Invoice, attempt.invoice_id)
            if stored.type == "payment_intent.succeeded":
                attempt.state = AttemptState.SUCCEEDED.value
                if invoice.state != InvoiceState.PAID.value:
                    invoice.state = InvoiceState.PAID.value
                    invoice.paid_at = clock.now()
            elif attempt.state != AttemptState.SUCCEEDED.value:
                attempt.state = AttemptState.FAILED.value
                invoice.state = InvoiceState.PAYMENT_FAILED.value
            attempt.updated_at = clock.now()
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
