"""A customer's own subscription in the portal (SPEC §4 IP Distribution, §5, §10; seed 3.5).

Self-service customers change the total and the split under the staff rules of
``distribution.py`` (same preview, same "Perform action instantly"). What only applies to the
customers themselves lives here:

- only self-service customers change their subscription; managed ones see it read-only;
- a self-registered customer starts on a free trial: ``TRIAL_INTERNAL_IPS`` +
  ``TRIAL_EXTERNAL_IPS`` IPs on the ``free`` payment method for ``TRIAL_DAYS`` days (the daily
  job expires it afterwards, see ``changes.apply_due_changes``), never invoiced;
- a paid subscription is paid by card, so starting one (after the trial, or after a
  cancellation) needs card payment to be active and a card on file;
- changing the total during the trial ends the trial at once: the paid subscription starts
  today and this month's invoice bills it from today (the preview says so). A re-split at the
  same total keeps the trial.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

import stripe

from billing.catalog.pricing import average_ip_price, to_cents
from billing.catalog.selfservice import load_self_service
from billing.customers.lookup import (
    check_version,
    current_subscription,
    get_customer,
    lock_customer,
    pending_change,
)
from billing.customers.summary import (
    audit_snapshot,
    mark_updated,
    refresh_summary,
    subscription_price,
)
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from billing.kernel.locking import releasing_locks
from billing.subscriptions.distribution import (
    REACTIVATION,
    DistributionResult,
    Preview,
    change_ip_distribution,
    preview,
    self_service_allowed,
)
from models import (
    ChangeState,
    Customer,
    PaymentMethodCode,
    PriceBasis,
    ScheduledChange,
    Subscription,
    SubscriptionState,
    db,
)

TRIAL_DAYS = 30
TRIAL_INTERNAL_IPS = 4
TRIAL_EXTERNAL_IPS = 1

CARD = PaymentMethodCode.CARD.value
FREE = PaymentMethodCode.FREE.value


def is_trial(sub: Subscription | None) -> bool:
    return sub is not None and sub.payment_method == FREE


def may_change(customer: Customer) -> bool:
    """Whether the customer's users change the subscription themselves (self-service only)."""
    return self_service_allowed(customer) and customer.marked_for_deletion_at is None


def card_payment_available() -> bool:
    """Card payment is active and both Stripe keys are saved (seed 3.6)."""
    from billing.catalog.payment_methods import active_codes
    from billing.payments.stripe_account import keys_configured

    return keys_configured() and CARD in active_codes()


def start_trial(customer_id: int, actor: Actor, clock: Clock) -> Subscription | None:
    """Give a new self-service customer its free trial, ending after ``TRIAL_DAYS``; None (and
    nothing changes) when the ``free`` payment method is deactivated. Adds to the session and
    updates the list summary; the caller commits."""
    from billing.catalog.payment_methods import active_codes

    if FREE not in active_codes() or current_subscription(customer_id) is not None:
        return None
    today = clock.today()
    sub = Subscription(
        customer_id=customer_id,
        internal_ips=TRIAL_INTERNAL_IPS,
        external_ips=TRIAL_EXTERNAL_IPS,
        payment_method=FREE,
        price_basis=PriceBasis.TIERS.value,
        valid_from=today,
        valid_until=today + timedelta(days=TRIAL_DAYS - 1),
        created_at=clock.now(),
    )
    db.session.add(sub)
    db.session.flush()
    refresh_summary(get_customer(customer_id))
    audit.record(
        actor,
        "subscription.start_trial",
        clock,
        customer_id=customer_id,
        after={
            "internal_ips": TRIAL_INTERNAL_IPS,
            "external_ips": TRIAL_EXTERNAL_IPS,
            "valid_until": sub.valid_until.isoformat(),
        },
    )
    return sub


@dataclass(frozen=True)
class Overview:
    """What the portal's subscription page shows."""

    customer: Customer
    subscription: Subscription | None
    pending: ScheduledChange | None
    monthly_price: Decimal
    average_ip_price: Decimal | None
    trial_until: date | None
    may_change: bool
    needs_card: bool
    card_unavailable: bool
    article_name: str
    article_number: str


def overview(customer_id: int, language: str = "en") -> Overview:
    """The current figures, the pending change and whether the customer may change them (the
    article named for a reader of ``language``).

    When the next change starts a paid subscription: ``card_unavailable`` says that card
    payment is off (the customer cannot start one), ``needs_card`` that no card is on file yet
    (it checks Stripe only in that case)."""
    from billing.payments.stripe_cards import saved_card

    customer = get_customer(customer_id)
    sub = current_subscription(customer_id)
    settings = load_self_service()
    trial = is_trial(sub)
    # the main subscription's own figures (the list columns add additional subscriptions)
    price = Decimal("0.00") if trial or sub is None else subscription_price(sub)
    allowed = may_change(customer)
    needs_card = card_unavailable = False
    if allowed and (sub is None or trial):
        card_unavailable = not card_payment_available()
        try:
            needs_card = not card_unavailable and saved_card(customer_id) is None
        except stripe.StripeError:
            needs_card = True
    return Overview(
        customer=customer,
        subscription=sub,
        pending=pending_change(customer_id),
        monthly_price=price,
        average_ip_price=None if trial or sub is None else average_ip_price(price, sub.total_ips),
        trial_until=sub.valid_until if trial else None,
        may_change=allowed,
        needs_card=needs_card,
        card_unavailable=card_unavailable,
        article_name=settings.article_name_in(language),
        article_number=settings.article_number,
    )


def _ends_trial(sub: Subscription | None, internal_ips: int, external_ips: int) -> bool:
    return is_trial(sub) and internal_ips + external_ips != sub.total_ips


def preview_own_change(
    customer_id: int, internal_ips: int, external_ips: int, instantly: bool, clock: Clock
) -> Preview:
    """The staff preview; when the change ends the trial, a paid subscription that starts
    today (nothing was paid so far, so the prorated amount is the new price from today)."""
    plan = preview(customer_id, internal_ips, external_ips, instantly, clock)
    if not _ends_trial(current_subscription(customer_id), internal_ips, external_ips):
        return plan
    return replace(
        plan,
        kind=REACTIVATION,
        effective_date=clock.today(),
        current_price=Decimal("0.00"),
        prorated_amount=to_cents(plan.new_price * plan.remaining_days / plan.days_in_month),
        replaces_pending=False,
    )


def _require_card(customer_id: int) -> None:
    from billing.payments.stripe_cards import saved_card

    if not card_payment_available():
        raise DomainError(
            _("Card payment is not available at the moment. Please contact your provider.")
        )
    if saved_card(customer_id) is None:
        raise DomainError(
            _("Please add a card under Payment first; the subscription is paid by card.")
        )


@releasing_locks
def change_own_subscription(
    customer_id: int,
    internal_ips: int,
    external_ips: int,
    instantly: bool,
    actor: Actor,
    clock: Clock,
    *,
    expected_version: int | None = None,
) -> DistributionResult:
    """Change the subscription from the portal (see the module rules).

    Raises DomainError for a managed customer, a paid subscription without a card on file, and
    everything ``change_ip_distribution`` refuses; Conflict when ``expected_version`` is stale
    (the customer is locked from the check to the commit).
    """
    customer = lock_customer(customer_id)
    if not may_change(customer):
        raise DomainError(
            _("Your subscription is managed by your provider. Please contact them for changes.")
        )
    check_version(customer, expected_version)
    sub = current_subscription(customer_id)
    if sub is None or not _ends_trial(sub, internal_ips, external_ips):
        if sub is None:
            _require_card(customer_id)
        return change_ip_distribution(
            customer_id,
            internal_ips,
            external_ips,
            instantly,
            actor,
            clock,
            expected_version=expected_version,
            payment_method=CARD if sub is None else None,
        )
    if internal_ips < 0 or external_ips < 0 or internal_ips + external_ips < 1:
        raise DomainError(_("The total number of IPs must be at least 1."), field="total_ips")
    _require_card(customer_id)
    return _end_trial(customer, sub, internal_ips, external_ips, actor, clock)


def _end_trial(
    customer: Customer,
    trial: Subscription,
    internal_ips: int,
    external_ips: int,
    actor: Actor,
    clock: Clock,
) -> DistributionResult:
    plan = preview_own_change(customer.id, internal_ips, external_ips, True, clock)
    before = audit_snapshot(customer)
    today = clock.today()
    unit = customer.unit_price
    basis = PriceBasis.CUSTOMER_PRICE.value if unit is not None else PriceBasis.TIERS.value
    if trial.valid_from >= today:
        trial.internal_ips, trial.external_ips = internal_ips, external_ips
        trial.payment_method, trial.valid_until = CARD, None
        trial.price_basis, trial.unit_price = basis, unit
        paid = trial
    else:
        trial.state = SubscriptionState.EXPIRED.value
        trial.valid_until = today - timedelta(days=1)
        db.session.flush()
        paid = Subscription(
            customer_id=customer.id,
            internal_ips=internal_ips,
            external_ips=external_ips,
            payment_method=CARD,
            price_basis=basis,
            unit_price=unit,
            valid_from=today,
            created_at=clock.now(),
        )
        db.session.add(paid)
    pending = pending_change(customer.id)
    if pending is not None:
        pending.state = ChangeState.WITHDRAWN.value
    db.session.flush()
    refresh_summary(customer)
    mark_updated(customer, clock)
    audit.record(
        actor,
        "subscription.end_trial",
        clock,
        customer_id=customer.id,
        before=before,
        after={**audit_snapshot(customer), "prorated_amount": str(plan.prorated_amount)},
    )
    db.session.commit()
    return DistributionResult(plan, paid.id, None)
