"""The customer's own start page in the portal (SPEC §10): what needs the customer's attention,
each with its way forward, and what the account looks like (subscription, invoices, payment).

What needs attention, most urgent first:

- a card payment that failed (``cards.failed_card_invoices``): update the card and retry, or,
  where the customer cannot manage a card, contact the provider;
- invoices overdue (SPEC §14) that are not card charges: the amounts, due dates and, for bank
  transfers, the seller's account with the invoice number as the payment reference;
- a card that has expired, or expires this month (the next charge, on the 1st, would fail);
- a card payer without a card on file, while cards can be added;
- a free trial that ends within ``TRIAL_NOTICE_DAYS``: self-service customers choose a paid
  plan, managed ones contact their provider;
- team invitations nobody accepted yet (for information).

Team users share the main user's permissions (``customers.team``), so every user of the
customer sees the same page. It is read in a handful of queries, whatever the number of
invoices; Stripe is asked about the card only for a customer Stripe knows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from billing.catalog.pricing import load_tiers, to_cents
from billing.customers.lookup import current_subscription, get_customer, pending_change
from billing.customers.summary import subscription_price
from billing.invoicing.customer_invoices import VISIBLE_STATES
from billing.invoicing.invoice_settings import BankDetails, format_iban, seller_bank_details
from billing.invoicing.invoice_texts import asks_for_transfer
from billing.invoicing.vat import vat_treatment
from billing.kernel.clock import Clock
from billing.kernel.site import Site
from billing.payments import ledger
from billing.payments.cards import OK, card_access, known_card
from billing.payments.receivables import (
    PAYABLE_STATES,
    OpenItem,
    OpenItems,
    credited_in_full,
    open_items,
)
from billing.subscriptions.own_subscription import is_trial, may_change
from billing.subscriptions.service_subscriptions import services_of
from billing.subscriptions.service_terms import service_price
from models import (
    Customer,
    Invoice,
    InvoiceKind,
    InvoiceState,
    PaymentMethodCode,
    ScheduledChange,
    ServiceState,
    ServiceSubscription,
    Subscription,
    TeamInvitation,
    db,
)

#: a free trial ending within this many days asks the customer to choose a paid plan
TRIAL_NOTICE_DAYS = 14
HUNDRED = Decimal("100")
CARD = PaymentMethodCode.CARD.value

CREDITED = "credited"
DANGER = "danger"
WARNING = "warning"
INFO = "info"


@dataclass(frozen=True)
class Invitation:
    """A team invitation nobody accepted yet, and whether its link has expired."""

    name: str
    email: str
    expires_at: datetime
    expired: bool


@dataclass(frozen=True)
class Attention:
    """Something for the customer to act on (``level``: danger, warning, info) and its way
    forward. ``kind`` says which; only the fields of that kind are set:

    - ``card_payment_failed``: ``items``; ``self_service`` is True when the customer may
      update the card and retry (else: contact the provider);
    - ``invoices_overdue``: ``items`` and ``bank`` (None without a saved account, or when none
      of them is paid by bank transfer);
    - ``card_expired`` / ``card_expiring``: ``card``;
    - ``card_missing``: nothing more;
    - ``trial_ending``: ``until`` and ``days_left``; ``self_service`` when the customer may
      choose the paid plan (else: contact the provider);
    - ``invitations_pending``: ``invitations``.
    """

    kind: str
    level: str
    items: list[OpenItem] = field(default_factory=list)
    bank: BankDetails | None = None
    card: object | None = None
    until: date | None = None
    days_left: int | None = None
    self_service: bool = False
    invitations: list[Invitation] = field(default_factory=list)


@dataclass(frozen=True)
class SubscriptionSummary:
    """The subscription card: the main subscription (None without one), the monthly price of
    everything running (net, the VAT an invoice would add, gross), the pending change and the
    additional subscriptions that are not ended."""

    current: Subscription | None
    trial: bool
    trial_until: date | None
    payment_method: str
    net: Decimal
    vat_rate: Decimal
    vat: Decimal
    gross: Decimal
    #: "" (domestic VAT), ``reverse_charge`` or ``outside_eu`` (``invoicing.vat``)
    vat_note: str
    currency: str
    pending: ScheduledChange | None
    services: list[ServiceSubscription]
    may_change: bool


@dataclass(frozen=True)
class InvoiceSummary:
    """The invoices card: what is open (amount, count, the next due date; in the site's
    currency), the account credit and the newest invoice with its state (``credited`` when
    credit notes settled it)."""

    open_total: Decimal
    open_count: int
    next_due: date | None
    overdue_count: int
    credit: Decimal
    latest: Invoice | None
    latest_state: str
    currency: str


@dataclass(frozen=True)
class PaymentSummary:
    """The payment card: how the customer pays, and the card on file (``card_unknown`` when
    Stripe could not tell); ``access`` is ``cards.card_access``."""

    method: str
    card: object | None
    card_unknown: bool
    access: str


@dataclass(frozen=True)
class AccountOverview:
    customer: Customer
    attention: list[Attention]
    subscription: SubscriptionSummary
    invoices: InvoiceSummary
    payment: PaymentSummary


def account_overview(customer_id: int, clock: Clock, site: Site = Site()) -> AccountOverview:
    """Everything the portal's start page shows for ``customer_id``. NotFound for an unknown
    id."""
    customer = get_customer(customer_id)
    today = clock.today()
    sub = current_subscription(customer_id)
    method = sub.payment_method if sub is not None else (customer.payment_method or "")
    access = card_access(customer)
    card, card_unknown = known_card(customer)
    owed = open_items(customer_id, today, site)
    attention = [
        *_payment_attention(owed, access),
        *_card_attention(method, access, card, card_unknown, today),
        *_trial_attention(customer, sub, today),
        *_invitations(customer_id, clock.now()),
    ]
    return AccountOverview(
        customer=customer,
        attention=sorted(attention, key=lambda item: (DANGER, WARNING, INFO).index(item.level)),
        subscription=_subscription(customer, sub, method, site),
        invoices=_invoices(customer_id, owed, site),
        payment=PaymentSummary(method, card, card_unknown, access),
    )


def _failed_card_payment(item: OpenItem) -> bool:
    """As ``cards.failed_card_invoices`` selects them (open items are payable invoices)."""
    return (
        item.invoice.state == InvoiceState.PAYMENT_FAILED.value
        and item.invoice.payment_method == CARD
    )


def _payment_attention(owed: OpenItems, access: str) -> list[Attention]:
    failed = [item for item in owed.items if _failed_card_payment(item)]
    overdue = [item for item in owed.overdue if item.invoice.payment_method != CARD]
    found = []
    if failed:
        found.append(Attention("card_payment_failed", DANGER, failed, self_service=access == OK))
    if overdue:
        bank = seller_bank_details() if any(asks_for_transfer(i.invoice) for i in overdue) else None
        bank = replace(bank, iban=format_iban(bank.iban)) if bank is not None else None
        found.append(Attention("invoices_overdue", DANGER, overdue, bank=bank))
    return found


def _card_attention(
    method: str, access: str, card, card_unknown: bool, today: date
) -> list[Attention]:
    """A card payer's card: expired, expiring this month, or missing (only while the customer
    can add one here)."""
    if method != CARD or access != OK or card_unknown:
        return []
    if card is None:
        return [Attention("card_missing", WARNING)]
    expiry = (card.exp_year, card.exp_month)
    if expiry < (today.year, today.month):
        return [Attention("card_expired", DANGER, card=card)]
    if expiry == (today.year, today.month):
        return [Attention("card_expiring", WARNING, card=card)]
    return []


def _trial_attention(customer: Customer, sub: Subscription | None, today: date) -> list[Attention]:
    if not is_trial(sub) or sub.valid_until is None:
        return []
    days_left = (sub.valid_until - today).days
    if days_left >= TRIAL_NOTICE_DAYS:
        return []
    return [
        Attention(
            "trial_ending",
            WARNING,
            until=sub.valid_until,
            days_left=days_left,
            self_service=may_change(customer),
        )
    ]


def _invitations(customer_id: int, now: datetime) -> list[Attention]:
    invitations = db.session.scalars(
        db.select(TeamInvitation)
        .where(TeamInvitation.customer_id == customer_id)
        .order_by(TeamInvitation.expires_at, TeamInvitation.id)
    ).all()
    if not invitations:
        return []
    pending = [Invitation(i.name, i.email, i.expires_at, i.expires_at < now) for i in invitations]
    return [Attention("invitations_pending", INFO, invitations=pending)]


def _subscription(
    customer: Customer, sub: Subscription | None, method: str, site: Site
) -> SubscriptionSummary:
    """The monthly price of what runs: the main subscription (nothing during a trial) and the
    active additional subscriptions; VAT as the invoice adds it (``invoicing.vat``)."""
    services = [s for s in services_of(customer.id) if s.state != ServiceState.ENDED.value]
    running = [s for s in services if s.state == ServiceState.ACTIVE.value]
    trial = is_trial(sub)
    tiers = load_tiers() if (sub is not None and not trial) or running else []
    net = Decimal("0.00") if sub is None or trial else subscription_price(sub, tiers)
    for service in running:
        net += service_price(service.total_ips, customer.unit_price, tiers)
    rate, note = vat_treatment(customer.country, customer.vat_id, site.home_country)
    vat = to_cents(net * rate / HUNDRED)
    return SubscriptionSummary(
        current=sub,
        trial=trial,
        trial_until=sub.valid_until if trial else None,
        payment_method=method,
        net=net,
        vat_rate=rate,
        vat=vat,
        gross=net + vat,
        vat_note=note,
        currency=site.currency,
        pending=pending_change(customer.id),
        services=services,
        may_change=may_change(customer),
    )


def _invoices(customer_id: int, owed: OpenItems, site: Site) -> InvoiceSummary:
    latest = db.session.scalar(
        db.select(Invoice)
        .where(
            Invoice.customer_id == customer_id,
            Invoice.kind == InvoiceKind.INVOICE.value,
            Invoice.state.in_(VISIBLE_STATES),
        )
        .order_by(Invoice.period.desc(), Invoice.id.desc())
        .limit(1)
    )
    state = latest.state if latest is not None else ""
    if state in PAYABLE_STATES and latest.id not in {item.invoice.id for item in owed.items}:
        # nothing open on an unpaid invoice: credit notes settled it, as the invoice list says
        state = CREDITED if credited_in_full([latest.id]) else state
    return InvoiceSummary(
        open_total=owed.total,
        open_count=len(owed.items),
        next_due=owed.next_due,
        overdue_count=len(owed.overdue),
        credit=max(ledger.balance(customer_id), Decimal("0.00")),
        latest=latest,
        latest_state=state,
        currency=site.currency,
    )
