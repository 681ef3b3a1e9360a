"""``flask seed demo``: a convincing, idempotent demo covering every state of the product."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func

from billing.access.staff import create_staff, find_staff
from billing.customers import lifecycle, lookup, onboarding
from billing.customers.onboarding import NewCustomer
from billing.invoicing.drafting import IP_PURCHASE_PRICE_KEY
from billing.invoicing.invoice_settings import SELLER_NAME, save_invoice_settings
from billing.invoicing.monthend_work import Hooks
from billing.kernel.audit import SYSTEM
from billing.kernel.clock import Clock, FixedClock, add_months
from billing.kernel.settings import get_setting, set_setting
from billing.kernel.site import Site
from models import (
    Customer,
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

from .demo_cards import DemoStripe, card_payments, card_stories, charged_at_stripe
from .demo_examples import (
    partners_and_saved_views,
    profile_examples,
    subscription_examples,
    tags_and_credit,
)
from .demo_history import billing_history
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


def seed_demo(
    clock: Clock,
    stripe: DemoStripe | None = None,
    site: Site = Site(),
    mail: Hooks | None = None,
) -> dict:
    """Create demo staff, reference data and about 60 customers with six months of invoices,
    billed by a month-end run per month (in ``site``'s currency); with ``stripe``, also card
    payment (see ``card_payments``), and the month that just ended is charged at that Stripe;
    with ``mail`` (the job layer's e-mail hooks), that month's e-mails are sent.

    Running it again creates nothing new: every record is looked up by its natural key first.
    """
    seed_reference(clock)
    staff = seed_staff(clock)
    _seller_settings(clock)
    history_start = add_months(clock.today(), -HISTORY_MONTHS)
    created = _demo_customers(history_start, clock)
    cards = card_payments(stripe, clock) if stripe is not None else None
    charged_before = charged_at_stripe()
    billing_history(history_start, clock, site, charge_last_month=stripe is not None, mail=mail)
    partners_and_saved_views(DEMO_STAFF[0][0], clock)
    tags_and_credit(clock)
    profile_examples(clock)
    subscription_examples(clock)
    if cards is not None:
        cards.invoices_paid += charged_at_stripe() - charged_before
        card_stories(cards)
    return {
        "created": created,
        "staff": staff,
        "customer_password": CUSTOMER_PASSWORD,
        "cards": cards,
    }


def _seller_settings(clock: Clock) -> None:
    """The IP purchase price and the demo MSP as the seller on the invoices, unless set."""
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


def _demo_customers(history_start: date, clock: Clock) -> int:
    """The customers of ``COMPANIES`` that do not exist yet, each in the state its plan gives
    it; returns how many were created."""
    rng = random.Random(2026)
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
        joined = clock if plan.state == "invited" else _joining_clock(index, history_start, clock)
        customer = _create_demo_customer(index, company, country, email, plan, joined)
        created += 1
        customer.vat_id = vat_id
        if index % 5 == 0:
            customer.partner_id = partners[index % 2].id
        if index % 4 == 0:
            customer.tags.append(tags[index % len(tags)])
        db.session.commit()
        if plan.state != "invited":
            onboarding.register_user(lookup.main_user(customer.id).id, CUSTOMER_PASSWORD, joined)
            _follow_plan(customer.id, index, plan, history_start, clock)
    return created


def _started_on(index: int, history_start: date) -> date:
    """The month the demo customer's subscription starts: customers join over the whole
    history, so the dashboard chart shows the growth."""
    return add_months(history_start, index % HISTORY_MONTHS)


def _joining_clock(index: int, history_start: date, clock: Clock) -> Clock:
    """A clock on the day the customer was invited and registered, a few days before its
    subscription starts (so "Customer since" and the timeline fit the billing history)."""
    day = _started_on(index, history_start) - timedelta(days=5)
    instant = datetime.combine(day, time(10, 0), tzinfo=clock.tz)
    return FixedClock(min(instant, clock.now()), str(clock.tz))


def _create_demo_customer(
    index: int, company: str, country: str, email: str, plan: Plan, clock: Clock
) -> Customer:
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
    return customer


def _follow_plan(
    customer_id: int, index: int, plan: Plan, history_start: date, clock: Clock
) -> None:
    """Start the subscription of the registered customer and bring it into the state of its
    plan (a pending change, cancelled, locked or marked for deletion)."""
    started = _started_on(index, history_start)
    if index == 10:
        _redeem_demo_key(customer_id, clock, started)
    else:
        own_price = index % 11 == 5
        lifecycle.start_subscription(
            customer_id,
            plan.internal,
            plan.external,
            plan.payment,
            SYSTEM,
            clock,
            valid_from=started + timedelta(days=index % 9),
            price_basis=(PriceBasis.CUSTOMER_PRICE if own_price else PriceBasis.TIERS).value,
            unit_price=Decimal("2.75") if own_price else None,
        )
    if index in (3, 4):
        lifecycle.schedule_change(
            customer_id, max(1, plan.internal // 2), plan.external, SYSTEM, clock
        )
    if plan.state == "inactive":
        lifecycle.cancel_subscription(customer_id, SYSTEM, clock)
    elif plan.state == "locked":
        lifecycle.set_locked(customer_id, True, SYSTEM, clock)
    elif plan.state == "deleted":
        lifecycle.mark_for_deletion(customer_id, SYSTEM, clock)


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


def count_customers() -> int:
    return db.session.scalar(db.select(func.count()).select_from(Customer))
