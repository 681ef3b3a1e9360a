"""``flask seed demo``: a convincing, idempotent demo covering every state of the product."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func

from billing.access.staff import create_staff, find_staff
from billing.customers import lifecycle, lookup, onboarding
from billing.customers.onboarding import NewCustomer
from billing.invoicing import monthend, monthend_report, monthend_work
from billing.invoicing.drafting import IP_PURCHASE_PRICE_KEY
from billing.invoicing.invoice_payment import mark_paid
from billing.invoicing.invoice_settings import SELLER_NAME, save_invoice_settings
from billing.kernel.audit import SYSTEM
from billing.kernel.clock import Clock, FixedClock, add_months
from billing.kernel.errors import DomainError
from billing.kernel.settings import get_setting, set_setting
from billing.payments.card_charges import record_card_payment
from models import (
    Customer,
    Invoice,
    InvoiceState,
    Partner,
    PaymentMethodCode,
    PriceBasis,
    ProjectKey,
    ProjectKeyState,
    ServiceMode,
    Tag,
    User,
    db,
)

from .reference import seed_reference

DEMO_STAFF = (
    ("admin@demo.example", "admin", "Demo-Admin-2026!"),
    ("billing@demo.example", "billing", "Demo-Billing-2026!"),
    ("support@demo.example", "support", "Demo-Support-2026!"),
)
CUSTOMER_PASSWORD = "Demo-Customer-2026!"  # noqa: S105 - published demo login
HISTORY_MONTHS = 6
IP_PURCHASE_PRICE = "1.15"  # what one IP costs the MSP per month, for the dashboard's margin

COMPANIES = [
    ("Acme Logistics GmbH", "DE", ""),
    ("Bergmann Maschinenbau AG", "DE", ""),
    ("Cloudberry Software GmbH", "DE", ""),
    ("Donau Handels GmbH", "AT", "ATU13585627"),
    ("Elbe Kontor KG", "DE", ""),
    ("Fjord Analytics AB", "SE", "SE556036079301"),
    ("Greenfield Farms BV", "NL", "NL004495445B01"),
    ("Hanse Versicherungsmakler", "DE", ""),
    ("Isar Medical GmbH", "DE", ""),
    ("Jura Uhren SA", "CH", ""),
    ("Kiel Offshore Services", "DE", ""),
    ("Lumière Studios SARL", "FR", "FR40303265045"),
    ("Main-Taunus Stadtwerke", "DE", ""),
    ("Nordlicht Hotels GmbH", "DE", ""),
    ("Oderbruch Agrar eG", "DE", ""),
    ("Pfalz Weinkontor GmbH", "DE", ""),
    ("Quantum Retail Ltd", "US", ""),
    ("Rhein Chemie Handel", "DE", ""),
    ("Saale Bau GmbH", "DE", ""),
    ("Tauber Textil GmbH", "DE", ""),
    ("Unstrut Energie AG", "DE", ""),
    ("Vltava Trading s.r.o.", "CZ", ""),
    ("Weser Reederei GmbH", "DE", ""),
    ("Xanten Druck GmbH", "DE", ""),
    ("Ybbs Holz GmbH", "AT", "ATU13585627"),
    ("Zugspitz Touristik", "DE", ""),
    ("Alster Consulting", "DE", ""),
    ("Brenner Spedition", "IT", "IT00743110157"),
    ("Chiemsee Bootsbau", "DE", ""),
    ("Dresden Optik GmbH", "DE", ""),
    ("Eifel Steinwerk", "DE", ""),
    ("Flensburg Brauerei", "DE", ""),
    ("Gent Diamonds NV", "BE", "BE0411905847"),
    ("Harz Forsttechnik", "DE", ""),
    ("Ilm Akustik GmbH", "DE", ""),
    ("Jade Hafenlogistik", "DE", ""),
    ("Kaiserstuhl Kellerei", "DE", ""),
    ("Lech Kraftwerke", "DE", ""),
    ("Mosel Touristik", "DE", ""),
    ("Neckar Robotics GmbH", "DE", ""),
    ("Oste Bootsverleih", "DE", ""),
    ("Peene Solar GmbH", "DE", ""),
    ("Queich Mühle", "DE", ""),
    ("Ruhr Stahlhandel", "DE", ""),
    ("Spree Digital GmbH", "DE", ""),
    ("Toledo Ceramics SL", "ES", "ESA28015865"),
    ("Ulm Instruments", "DE", ""),
    ("Vils Elektro", "DE", ""),
    ("Wupper Werkzeuge", "DE", ""),
    ("Copenhagen Design ApS", "DK", "DK13585628"),
    ("Yukon Outdoor Inc", "CA", ""),
    ("Zwickau Automotive", "DE", ""),
    ("Ammersee Segelschule", "DE", ""),
    ("Bodensee Fischerei", "DE", ""),
    ("Cuxhaven Windpark", "DE", ""),
    ("Delmenhorst Dental", "DE", ""),
    ("Emden Werft GmbH", "DE", ""),
    ("Fulda Fördertechnik", "DE", ""),
    ("Gera Glasbau", "DE", ""),
    ("Hameln Backwaren", "DE", ""),
]
CITIES = {
    "DE": ("Berlin", "10115"),
    "AT": ("Wien", "1010"),
    "SE": ("Göteborg", "41101"),
    "NL": ("Utrecht", "3511"),
    "CH": ("Biel", "2502"),
    "FR": ("Lyon", "69001"),
    "US": ("Austin", "73301"),
    "CZ": ("Praha", "11000"),
    "IT": ("Bolzano", "39100"),
    "BE": ("Antwerpen", "2000"),
    "ES": ("Toledo", "45001"),
    "DK": ("København", "1050"),
    "CA": ("Whitehorse", "Y1A 1A1"),
}


@dataclass
class Plan:
    state: str  # active | inactive | invited | locked | deleted
    mode: str
    payment: str
    internal: int
    external: int
    language: str


def _plan(index: int, rng: random.Random) -> Plan:
    states = ["active"] * 6 + ["inactive", "invited", "locked", "active"]
    if index == 7:
        state = "deleted"
    else:
        state = states[index % len(states)]
    payments = ["invoice", "card", "invoice", "card", "free"]
    managed = index % 3 != 1 or index == 10
    mode = ServiceMode.MANAGED.value if managed else ServiceMode.SELF_SERVICE.value
    payment = payments[index % len(payments)]
    if mode == ServiceMode.SELF_SERVICE.value and payment == "invoice":
        payment = "card"
    return Plan(
        state=state,
        mode=mode,
        payment=payment,
        internal=rng.choice([5, 10, 20, 40, 60, 120, 200, 300]),
        external=rng.choice([0, 2, 5, 10, 25, 60]),
        language="de" if index % 2 == 0 else "en",
    )


def _email(company: str) -> str:
    slug = "".join(ch for ch in company.lower().split()[0] if ch.isalnum()) or "company"
    return f"it@{slug}.demo.example"


def seed_staff(clock: Clock) -> list[tuple[str, str, str]]:
    for email, role, password in DEMO_STAFF:
        if find_staff(email) is None:
            create_staff(email, role, password, clock, name=f"Demo {role}")
    return list(DEMO_STAFF)


def _tag(name: str) -> Tag:
    tag = db.session.scalar(db.select(Tag).where(Tag.name == name))
    if tag is None:
        tag = Tag(name=name)
        db.session.add(tag)
        db.session.flush()
    return tag


def _partner(name: str) -> Partner:
    partner = db.session.scalar(db.select(Partner).where(Partner.name == name))
    if partner is None:
        partner = Partner(name=name, enabled=True)
        db.session.add(partner)
        db.session.flush()
    return partner


@dataclass(frozen=True)
class DemoStripe:
    """The keys of a Stripe test account for card payments in the demo (``make run`` gives those
    of its local Stripe, which ``STRIPE_API_BASE`` points at)."""

    secret_key: str
    publishable_key: str
    webhook_secret: str


def seed_demo(clock: Clock, stripe: DemoStripe | None = None) -> dict:
    """Create demo staff, reference data and about 60 customers with six months of invoices,
    billed by a month-end run per month; with ``stripe``, also card payment (see
    ``_card_payments``), and the month that just ended is charged at that Stripe.

    Running it again creates nothing new: every record is looked up by its natural key first.
    """
    seed_reference(clock)
    staff = seed_staff(clock)
    if not get_setting(IP_PURCHASE_PRICE_KEY):
        set_setting(IP_PURCHASE_PRICE_KEY, IP_PURCHASE_PRICE, clock)
    if not get_setting(SELLER_NAME):
        save_invoice_settings(
            "Demo MSP GmbH",
            "Musterstraße 1\n10115 Berlin",
            "DE136695976",
            get_setting(IP_PURCHASE_PRICE_KEY),
            "DE",
            SYSTEM,
            clock,
            # the standard example IBAN: BIC and bank are filled in from it
            iban="DE89 3704 0044 0532 0130 00",
        )
    rng = random.Random(2026)
    today = clock.today()
    history_start = add_months(today, -HISTORY_MONTHS)
    partners = [_partner("Nordic Resellers AB"), _partner("Alpen IT Partner GmbH")]
    tags = [_tag(n) for n in ("priority", "healthcare", "public-sector", "trial-extended")]
    db.session.commit()
    _available_keys(clock)
    created = 0
    for index, (company, country, vat_id) in enumerate(COMPANIES):
        email = _email(company)
        exists = db.session.scalar(db.select(User.id).where(func.lower(User.email) == email))
        if exists:
            continue
        plan = _plan(index, rng)
        city, postal = CITIES[country]
        customer, _token = onboarding.create_customer(
            NewCustomer(
                company_name=company,
                contact_name=f"Contact {company.split()[0]}",
                contact_email=email,
                street=f"Hauptstraße {index + 1}",
                postal_code=postal,
                city=city,
                country=country,
                phone=f"+49 30 {1000 + index}",
                language=plan.language,
                service_mode=plan.mode,
            ),
            SYSTEM,
            clock,
        )
        created += 1
        customer.vat_id = vat_id
        if index % 5 == 0:
            customer.partner_id = partners[index % 2].id
        if index % 4 == 0:
            customer.tags.append(tags[index % len(tags)])
        db.session.commit()
        if plan.state == "invited":
            continue
        main = lookup.main_user(customer.id)
        onboarding.register_user(main.id, CUSTOMER_PASSWORD, clock)
        # customers join over the whole history, so the dashboard chart shows the growth
        started = add_months(history_start, index % HISTORY_MONTHS)
        if index == 10:
            _redeem_demo_key(customer.id, clock, started)
        else:
            lifecycle.start_subscription(
                customer.id,
                plan.internal,
                plan.external,
                plan.payment,
                SYSTEM,
                clock,
                valid_from=started + timedelta(days=index % 9),
                price_basis=(
                    PriceBasis.CUSTOMER_PRICE.value if index % 11 == 5 else PriceBasis.TIERS.value
                ),
                unit_price=Decimal("2.75") if index % 11 == 5 else None,
            )
        if index in (3, 4):
            lifecycle.schedule_change(
                customer.id, max(1, plan.internal // 2), plan.external, SYSTEM, clock
            )
        if plan.state == "inactive":
            lifecycle.cancel_subscription(customer.id, SYSTEM, clock)
        elif plan.state == "locked":
            lifecycle.set_locked(customer.id, True, SYSTEM, clock)
        elif plan.state == "deleted":
            lifecycle.mark_for_deletion(customer.id, SYSTEM, clock)
    cards = _card_payments(stripe, clock) if stripe is not None else None
    charged_before = _charged_at_stripe()
    _billing_history(history_start, clock, charge_last_month=stripe is not None)
    _partners_and_saved_views(clock)
    _tags_and_credit(clock)
    _profile_examples(clock)
    _subscription_examples(clock)
    if cards is not None:
        cards.invoices_paid += _charged_at_stripe() - charged_before
        _card_stories(cards)
    return {
        "created": created,
        "staff": staff,
        "customer_password": CUSTOMER_PASSWORD,
        "cards": cards,
    }


def _logins(*where) -> list[str]:
    return list(
        db.session.scalars(
            db.select(Customer.contact_email).where(*where).order_by(Customer.company_name)
        )
    )


# the customer whose card is declined: its last invoice shows "payment failed" in the portal
DECLINED_CARD_CUSTOMER = "Nordlicht Hotels GmbH"
VISA = "pm_card_visa"
DECLINED_WHEN_CHARGED = "pm_card_chargeCustomerFail"


@dataclass
class CardResult:
    """What ``_card_payments`` did, and the portal logins of its stories: customers whose card
    was declined, and self-service customers on a free trial (who add a card to go paid)."""

    cards_saved: int = 0
    invoices_paid: int = 0
    declined_logins: list[str] = field(default_factory=list)
    trial_logins: list[str] = field(default_factory=list)


def _card_payments(stripe: DemoStripe, clock: Clock) -> CardResult:
    """Card payment as an MSP would set it up: the keys saved (checked at the Stripe server like
    any keys) with the webhook secret, card payment active, a saved card for every customer who
    pays by card (a declining one for ``DECLINED_CARD_CUSTOMER``), and their open card invoices
    charged off-session the way the month-end run does. Only what is missing is done again."""
    from billing.catalog.payment_methods import set_active
    from billing.payments import card_charges, stripe_account, stripe_cards
    from models import AttemptState, Invoice, InvoiceState

    if (stripe_account.stored_secret_key(), stripe_account.stored_publishable_key()) != (
        stripe.secret_key,
        stripe.publishable_key,
    ):
        stripe_account.save_stripe_keys(stripe.secret_key, stripe.publishable_key, SYSTEM, clock)
    if stripe_account.stored_webhook_secret() != stripe.webhook_secret:
        stripe_account.save_webhook_secret(stripe.webhook_secret, SYSTEM, clock)
    set_active(PaymentMethodCode.CARD.value, True, SYSTEM, clock)
    card = PaymentMethodCode.CARD.value
    open_card_invoice = db.select(Invoice.customer_id).where(
        Invoice.payment_method == card, Invoice.state == InvoiceState.FINALIZED.value
    )
    payers = db.session.scalars(
        db.select(Customer)
        .where(
            Customer.marked_for_deletion_at.is_(None),
            (Customer.payment_method == card) | Customer.id.in_(open_card_invoice),
        )
        .order_by(Customer.company_name)
    ).all()
    result = CardResult()
    for customer in payers:
        if stripe_cards.card_on_file(customer.id) is None:
            test_card = (
                DECLINED_WHEN_CHARGED if customer.company_name == DECLINED_CARD_CUSTOMER else VISA
            )
            stripe_cards.make_default_card(customer.id, test_card)
            result.cards_saved += 1
        invoices = db.session.scalars(
            open_card_invoice.with_only_columns(Invoice.id).where(
                Invoice.customer_id == customer.id
            )
        ).all()
        for invoice_id in invoices:
            if card_charges.charge_invoice(invoice_id, clock).state == AttemptState.SUCCEEDED.value:
                result.invoices_paid += 1
    return result


def _card_stories(result: CardResult) -> None:
    """The portal logins of the card stories, once the history is billed: a declined card, and
    self-service customers on a free trial (who add a card to go paid)."""
    from models import CustomerStatus

    card = PaymentMethodCode.CARD.value
    failed = db.select(Invoice.customer_id).where(
        Invoice.payment_method == card, Invoice.state == InvoiceState.PAYMENT_FAILED.value
    )
    result.declined_logins = _logins(
        Customer.id.in_(failed), Customer.marked_for_deletion_at.is_(None)
    )
    result.trial_logins = _logins(
        Customer.service_mode == ServiceMode.SELF_SERVICE.value,
        Customer.status == CustomerStatus.ACTIVE.value,
        Customer.payment_method == PaymentMethodCode.FREE.value,
    )


def _charged_at_stripe() -> int:
    """Card payments taken at Stripe (recorded history has no PaymentIntent)."""
    from models import AttemptState, PaymentAttempt

    return db.session.scalar(
        db.select(func.count())
        .select_from(PaymentAttempt)
        .where(
            PaymentAttempt.state == AttemptState.SUCCEEDED.value,
            PaymentAttempt.payment_intent_id.is_not(None),
        )
    )


DISABLED_PARTNER = "Legacy Reseller GmbH"
DEMO_VIEW = (
    "Card customers with pending changes",
    "flt0_payment_method_equals=card&flt1_pending_change_equals=1",
)


def _partners_and_saved_views(clock: Clock) -> None:
    """A disabled partner that still owns one customer, and a saved list view shared by the
    demo admin (issue 7 items 6 and 11)."""
    from billing.customers import partners, saved_views

    if db.session.scalar(db.select(Partner.id).where(Partner.name == DISABLED_PARTNER)) is None:
        legacy = partners.create_partner(DISABLED_PARTNER, SYSTEM, clock)
        orphan = db.session.scalar(
            db.select(Customer.id)
            .where(Customer.partner_id.is_(None), Customer.marked_for_deletion_at.is_(None))
            .order_by(Customer.company_name.desc())
            .limit(1)
        )
        if orphan is not None:
            partners.assign_partner(orphan, legacy.id, SYSTEM, clock)
        partners.set_partner_enabled(legacy.id, False, SYSTEM, clock)
    admin = find_staff(DEMO_STAFF[0][0])
    name, query = DEMO_VIEW
    if admin is not None and not any(v.name == name for v in saved_views.visible_views(admin.id)):
        saved_views.save_view(
            admin.id,
            name,
            query,
            True,
            ("payment_method_equals", "pending_change_equals"),
            SYSTEM,
            clock,
        )


DEMO_CREDIT = "Goodwill for the October outage"


def _tags_and_credit(clock: Clock) -> None:
    """Tags on a few more customers and an account credit that the next month-end invoice
    uses (issue 7 items 3 and 4)."""
    from billing.customers import customer_tools
    from billing.payments import ledger
    from models import LedgerEntry

    first = db.session.scalars(
        db.select(Customer)
        .where(Customer.status == "active", Customer.service_mode == "managed")
        .order_by(Customer.company_name)
        .limit(3)
    ).all()
    for customer in first:
        names = {t.name for t in customer.tags} | {"priority"}
        customer_tools.set_tags(customer.id, sorted(names), SYSTEM, clock)
    if first and not db.session.scalar(
        db.select(LedgerEntry.id).where(LedgerEntry.description == DEMO_CREDIT)
    ):
        ledger.book_manual(first[0].id, "credit", "50.00", DEMO_CREDIT, SYSTEM, clock)


DEMO_GROUP = ("Key accounts", "region=DACH\nsla=gold", "gold")
DEMO_PO = "Framework agreement 2026"


def _profile_examples(clock: Clock) -> None:
    """A contact with billing alerts, a customer group and a purchase order that expires soon
    (issue 7 items 8–10)."""
    from datetime import timedelta

    from billing.customers import contacts, groups
    from billing.customers.contacts import ContactInput
    from billing.invoicing import purchase_orders
    from billing.invoicing.purchase_orders import PurchaseOrderInput
    from models import Contact, CustomerGroup, PurchaseOrder

    first = db.session.scalars(
        db.select(Customer)
        .where(Customer.status == "active", Customer.service_mode == "managed")
        .order_by(Customer.company_name)
        .limit(3)
    ).all()
    if not first:
        return
    name, attributes, tags = DEMO_GROUP
    group_id = db.session.scalar(db.select(CustomerGroup.id).where(CustomerGroup.name == name))
    if group_id is None:
        group_id = groups.save_group(None, name, attributes, tags, SYSTEM, clock).id
        for customer in first:
            groups.set_customer_groups(customer.id, [group_id], SYSTEM, clock)
    owner = first[0]
    if not db.session.scalar(db.select(Contact.id).where(Contact.customer_id == owner.id)):
        contacts.add_contact(
            owner.id,
            ContactInput(
                first_name="Petra",
                last_name="Buchholz",
                designation="Accounts payable",
                email="accounts@" + owner.contact_email.split("@", 1)[1],
                phone="+49 30 1234567",
                billing_alerts=True,
            ),
            SYSTEM,
            clock,
        )
    if not db.session.scalar(db.select(PurchaseOrder.id).where(PurchaseOrder.name == DEMO_PO)):
        today = clock.today()
        purchase_orders.save_purchase_order(
            owner.id,
            None,
            PurchaseOrderInput(
                name=DEMO_PO,
                annual_value="24000.00",
                start_date=(today - timedelta(days=345)).isoformat(),
                expiry_date=(today + timedelta(days=20)).isoformat(),
                renewal_date=(today + timedelta(days=20)).isoformat(),
                consumption_start_date=(today - timedelta(days=345)).isoformat(),
                consumption_base_value="2000.00",
                contract_period_days="365",
                provider_type="Direct",
                comment="Renewal under discussion",
            ),
            SYSTEM,
            clock,
        )


DEMO_SERVICES = (
    # name, internal, external, term in months, auto-renew, suspended
    ("Site Hamburg", 8, 2, 12, True, True),
    ("Site M\u00fcnchen", 4, 1, 1, False, False),
)


def _subscription_examples(clock: Clock) -> None:
    """A customer with two additional subscriptions, one suspended and one that will not
    renew (issue 7 item 5)."""
    from billing.subscriptions import service_subscriptions as services
    from billing.subscriptions import service_terms
    from models import ServiceSubscription

    owner = db.session.scalars(
        db.select(Customer)
        .where(Customer.status == "active", Customer.service_mode == "managed")
        .order_by(Customer.company_name)
        .offset(1)
        .limit(1)
    ).first()
    if owner is None or db.session.scalar(
        db.select(ServiceSubscription.id).where(ServiceSubscription.customer_id == owner.id)
    ):
        return
    for name, internal, external, term, auto_renew, suspended in DEMO_SERVICES:
        sub = services.add_service(
            owner.id,
            service_terms.ServiceInput(name, internal, external, term, auto_renew),
            SYSTEM,
            clock,
        )
        if suspended:
            services.suspend_service(owner.id, sub.id, SYSTEM, clock)


DEMO_KEYS = (
    ("DEMO-PK-0100", 50, 12, "900.00"),
    ("DEMO-PK-0250", 250, 12, "3600.00"),
    ("DEMO-PK-0500", 500, 24, "12000.00"),
)


def _available_keys(clock: Clock) -> None:
    """Keys the sales demo can redeem through the wizard."""
    from billing.subscriptions.project_keys import create_key

    for key, ips, months, price in DEMO_KEYS:
        if db.session.scalar(db.select(ProjectKey.id).where(ProjectKey.key == key)) is None:
            create_key(key, ips, months, price, SYSTEM, clock)


def _redeem_demo_key(customer_id: int, clock: Clock, started) -> None:
    key = db.session.scalar(db.select(ProjectKey).where(ProjectKey.key == "DEMO-PK-0001"))
    if key is None:
        key = ProjectKey(
            key="DEMO-PK-0001",
            ip_count=100,
            runtime_months=12,
            purchase_price=Decimal("1800.00"),
            created_at=clock.now(),
        )
        db.session.add(key)
        db.session.flush()
    key.state = ProjectKeyState.REDEEMED.value
    key.customer_id = customer_id
    key.selling_price = Decimal("2880.00")
    key.redeemed_at = clock.now()
    db.session.commit()
    sub = lifecycle.start_subscription(
        customer_id,
        80,
        20,
        PaymentMethodCode.PROJECT_KEY.value,
        SYSTEM,
        clock,
        valid_from=started,
        price_basis=PriceBasis.PROJECT_KEY.value,
        unit_price=(Decimal("2880.00") / 12 / 100),
    )
    sub.project_key_id = key.id
    sub.valid_until = add_months(started, 12) - timedelta(days=1)
    db.session.commit()


RUN_AT = time(0, 30)  # when the scheduler starts the run on the 1st
PAID_AFTER_DAYS = 12  # when the demo's bank transfers arrive


def _at(day: date, clock: Clock) -> FixedClock:
    """A clock on ``day`` at ``RUN_AT`` in the MSP's time zone, never later than now."""
    instant = datetime.combine(day, RUN_AT, tzinfo=clock.tz)
    return FixedClock(min(instant, clock.now()), str(clock.tz))


def _billing_history(history_start: date, clock: Clock, charge_last_month: bool = False) -> None:
    """Each month since ``history_start`` billed as the product bills it: the month-end run on
    the 1st drafts, finalizes and charges (the demo's card payments are recorded as taken, no
    e-mail is sent; with ``charge_last_month`` the month that just ended is charged at Stripe
    to the saved cards), and bank transfers arrive within the payment term, except for the
    month that just ended. A month whose run exists is left as it is."""
    from billing.payments.card_charges import charge_invoice

    period = history_start.replace(day=1)
    last = monthend.last_closed_period(clock)
    while period <= last:
        run_clock = _at(add_months(period, 1), clock)
        try:
            started = monthend.start_run(period, SYSTEM, run_clock, auto_finalize=True)
        except DomainError:
            period = add_months(period, 1)
            continue
        charge = charge_invoice if charge_last_month and period == last else record_card_payment
        monthend_work.work(started.run_id, run_clock, monthend_work.Hooks(charge=charge))
        if period < last:
            paid_clock = _at(add_months(period, 1) + timedelta(days=PAID_AFTER_DAYS), clock)
            for invoice_id in db.session.scalars(
                monthend_report.run_invoices(started.run_id).where(
                    Invoice.state == InvoiceState.FINALIZED.value
                )
            ).all():
                mark_paid(invoice_id, SYSTEM, paid_clock)
        period = add_months(period, 1)


def count_customers() -> int:
    return db.session.scalar(db.select(func.count()).select_from(Customer))
