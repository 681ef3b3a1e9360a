"""The demo's examples of the customer page's features: partners and a shared saved view, tags
and an account credit, a contact, a group and a purchase order, additional subscriptions."""

from __future__ import annotations

from billing.access.staff import find_staff
from billing.kernel.audit import SYSTEM
from billing.kernel.clock import Clock
from models import Customer, Partner, db

DISABLED_PARTNER = "Legacy Reseller GmbH"


DEMO_VIEW = (
    "Card customers with pending changes",
    "flt0_payment_method_equals=card&flt1_pending_change_equals=1",
)


def partners_and_saved_views(admin_email: str, clock: Clock) -> None:
    """A disabled partner that still owns one customer, and a saved list view shared by the
    demo admin ``admin_email`` (issue 7 items 6 and 11)."""
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
    admin = find_staff(admin_email)
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


def tags_and_credit(clock: Clock) -> None:
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


def profile_examples(clock: Clock) -> None:
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


def subscription_examples(clock: Clock) -> None:
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
