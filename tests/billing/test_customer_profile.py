"""Issue 7 items 7–10 (SPEC §11, Aquila BillOps): organisation details, contacts with billing
alerts and user accounts, customer groups, purchase orders on invoices."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing.customers import contacts, groups
from billing.customers.onboarding import accept_invite
from billing.customers.organisation import OrganisationInput, edit_organisation
from billing.invoicing import purchase_orders
from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.invoicing.invoice_mail import email_invoice, payment_failed_notices
from billing.kernel.audit import SYSTEM, Actor
from billing.kernel.errors import DomainError
from models import AuditEvent, Contact, Customer, Invoice, TeamInvitation, db
from tests import factories
from tests.conftest import make_staff


@pytest.fixture
def billing(app):
    factories.reference(app)
    return app


def _order(**kw) -> purchase_orders.PurchaseOrderInput:
    data = {
        "name": "PO-2026",
        "annual_value": "12000.00",
        "start_date": "2026-01-01",
        "expiry_date": "2026-12-31",
        "currency": "EUR",
    }
    data.update(kw)
    return purchase_orders.PurchaseOrderInput(**data)


def test_organisation_details_are_validated_and_audited(billing):
    """Item 7: website, turnover ≥ 0 with a currency, account type; bad input changes nothing."""
    clock = billing.config["CLOCK"]
    created = factories.customer(billing)
    for bad, field in (
        (OrganisationInput(website="not a url"), "website"),
        (OrganisationInput(turnover="-1", turnover_currency="EUR"), "turnover"),
        (OrganisationInput(turnover="12x"), "turnover"),
        (OrganisationInput(turnover="10", turnover_currency=""), "turnover_currency"),
        (OrganisationInput(account_type="vip"), "account_type"),
    ):
        with pytest.raises(DomainError) as error:
            edit_organisation(created.id, bad, SYSTEM, clock)
        assert error.value.field == field
    saved = edit_organisation(
        created.id,
        OrganisationInput(
            industry="Healthcare",
            website="www.example.com",
            turnover="2500000",
            turnover_currency="eur",
            account_type="partner",
            street3="Building C",
            billing_fax="+49 30 1234",
        ),
        SYSTEM,
        clock,
    )
    assert saved.website == "https://www.example.com"
    assert saved.turnover == Decimal("2500000.00") and saved.turnover_currency == "EUR"
    assert saved.account_type == "partner" and saved.street3 == "Building C"
    event = db.session.scalar(
        db.select(AuditEvent).where(AuditEvent.action == "customer.edit_organisation")
    )
    assert event.after["industry"] == "Healthcare"


def test_contacts_with_billing_alerts_get_the_invoice_once_each(billing, mail_on):
    """Item 8: the contact address plus each billing-alert contact, one message each."""
    clock = billing.config["CLOCK"]
    created = factories.customer(billing, since=date(2026, 11, 1))
    contacts.add_contact(
        created.id,
        contacts.ContactInput(first_name="Ada", email="ada@customer.example", billing_alerts=True),
        SYSTEM,
        clock,
    )
    contacts.add_contact(
        created.id,
        contacts.ContactInput(first_name="Bob", email="bob@customer.example"),
        SYSTEM,
        clock,
    )
    with pytest.raises(DomainError) as error:
        contacts.add_contact(
            created.id,
            contacts.ContactInput(first_name="Ada", email="ADA@customer.example"),
            SYSTEM,
            clock,
        )
    assert error.value.field == "email"
    invoice = finalize_invoice(draft_invoice(created.id, date(2026, 11, 1), clock).id, clock)
    assert email_invoice(invoice.id, clock) is True
    assert email_invoice(invoice.id, clock) is False
    contact = db.session.get(Customer, created.id)
    greetings = {
        rs[0]: message.get_body(("plain",)).get_content().splitlines()[0]
        for rs, message in mail_on.messages
    }
    # each is greeted by their own name
    assert greetings == {
        contact.contact_email: f"Hello {contact.contact_name},",
        "ada@customer.example": "Hello Ada,",
    }


def test_payment_failed_notice_goes_to_billing_alert_contacts(billing):
    clock = billing.config["CLOCK"]
    created = factories.customer(billing, since=date(2026, 11, 1))
    contacts.add_contact(
        created.id,
        contacts.ContactInput(first_name="Ada", email="ada@customer.example", billing_alerts=True),
        SYSTEM,
        clock,
    )
    invoice = finalize_invoice(draft_invoice(created.id, date(2026, 11, 1), clock).id, clock)
    invoice.state = "payment_failed"
    db.session.commit()
    messages = payment_failed_notices(invoice.id, clock)
    assert [m.recipient for m in messages][1:] == ["ada@customer.example"]


def test_create_user_accounts_invites_the_selected_contacts(billing, mail_on):
    clock = billing.config["CLOCK"]
    created = factories.customer(billing)
    ada = contacts.add_contact(
        created.id,
        contacts.ContactInput(first_name="Ada", email="ada@customer.example"),
        SYSTEM,
        clock,
    )
    result = contacts.create_user_accounts(created.id, [ada.id], SYSTEM, clock)
    [(contact, message)] = result.invited
    assert contact.id == ada.id and message.recipient == "ada@customer.example"
    invitation = db.session.scalar(db.select(TeamInvitation))
    assert (invitation.customer_id, invitation.email) == (created.id, "ada@customer.example")
    again = contacts.create_user_accounts(created.id, [ada.id], SYSTEM, clock)
    assert again.invited == [] and [r for _c, r in again.skipped] == ["invited already"]
    link = message.text.split("/portal/invite/")[1].split()[0]
    user, _welcome = accept_invite(link, "Ada-Password-1", "Ada-Password-1", clock)
    assert user.customer_id == created.id and user.is_registered
    assert db.session.get(Contact, ada.id).user_id == user.id, "linked once it accepts"
    third = contacts.create_user_accounts(created.id, [ada.id], SYSTEM, clock)
    assert [r for _c, r in third.skipped] == ["already a user"]
    with pytest.raises(DomainError):
        contacts.create_user_accounts(created.id, [], SYSTEM, clock)


def test_create_user_accounts_stops_at_the_invitation_limit(billing, mail_on):
    """Issue 13 item 5: a staff member's invitations count against their limit; the contacts
    beyond it are skipped with the reason, the others are invited (and their e-mails sent)."""
    clock = billing.config["CLOCK"]
    created = factories.customer(billing)
    ids = [
        contacts.add_contact(
            created.id,
            contacts.ContactInput(first_name=f"C{n}", email=f"c{n}@customer.example"),
            SYSTEM,
            clock,
        ).id
        for n in range(31)
    ]
    staff = Actor.staff(make_staff(billing, "billing"))
    result = contacts.create_user_accounts(created.id, ids, staff, clock)
    assert len(result.invited) == 30
    [(contact, reason)] = result.skipped
    assert contact.id == ids[-1] and reason.startswith("Too many invitations from this account")


def test_groups_attributes_tags_membership_and_delete(billing):
    """Item 9."""
    clock = billing.config["CLOCK"]
    first, second = factories.customer(billing), factories.customer(billing)
    group = groups.save_group(None, "Gold", "region=EU\ntier = 1", "vip, eu", SYSTEM, clock)
    assert group.attributes == {"region": "EU", "tier": "1"}
    assert sorted(t.name for t in group.tags) == ["eu", "vip"]
    for bad, field in (("region", "attributes"), ("a=1\na=2", "attributes")):
        with pytest.raises(DomainError) as error:
            groups.save_group(None, "Silver", bad, "", SYSTEM, clock)
        assert error.value.field == field
    with pytest.raises(DomainError) as error:
        groups.save_group(None, "gold", "", "", SYSTEM, clock)
    assert error.value.field == "name"
    groups.set_customer_groups(first.id, [group.id], SYSTEM, clock)
    groups.set_customer_groups(second.id, [group.id], SYSTEM, clock)
    assert groups.member_count(group.id) == 2
    assert groups.delete_group(group.id, SYSTEM, clock) == 2
    assert db.session.get(Customer, first.id) is not None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"expiry_date": "2025-12-31"}, "expiry_date"),
        ({"expiry_date": "2026-01-01"}, "expiry_date"),
        ({"consumption_start_date": "2025-12-01"}, "consumption_start_date"),
        ({"annual_value": "-5"}, "annual_value"),
        ({"consumption_base_value": "-1"}, "consumption_base_value"),
        ({"name": ""}, "name"),
        ({"status": "gone"}, "status"),
        ({"start_date": "31.01.2026"}, "start_date"),
        ({"contract_period_days": "0"}, "contract_period_days"),
        ({"currency": "XXY"}, "currency"),
    ],
)
def test_purchase_order_validation(billing, changes, field):
    """Item 10: expiry after start, consumption not before start, values ≥ 0."""
    created = factories.customer(billing)
    with pytest.raises(DomainError) as error:
        purchase_orders.save_purchase_order(
            created.id, None, _order(**changes), SYSTEM, billing.config["CLOCK"]
        )
    assert error.value.field == field
    assert purchase_orders.purchase_orders(created.id) == []


def test_the_covering_purchase_order_is_on_the_invoice(billing):
    """Item 10: the active PO with start ≤ period ≤ expiry is stored on the draft."""
    clock = billing.config["CLOCK"]
    created = factories.customer(billing, since=date(2026, 11, 1))
    purchase_orders.save_purchase_order(
        created.id, None, _order(name="Old", status="inactive"), SYSTEM, clock
    )
    order = purchase_orders.save_purchase_order(created.id, None, _order(), SYSTEM, clock)
    invoice = draft_invoice(created.id, date(2026, 11, 1), clock)
    assert db.session.get(Invoice, invoice.id).purchase_order_id == order.id


def test_expiring_purchase_orders(billing):
    clock = billing.config["CLOCK"]
    created = factories.customer(billing)
    today = clock.today()
    soon = purchase_orders.save_purchase_order(
        created.id,
        None,
        _order(
            start_date="2020-01-01",
            expiry_date=date.fromordinal(today.toordinal() + 10).isoformat(),
        ),
        SYSTEM,
        clock,
    )
    purchase_orders.save_purchase_order(
        created.id,
        None,
        _order(
            name="Later",
            start_date="2020-01-01",
            expiry_date=date.fromordinal(today.toordinal() + 60).isoformat(),
        ),
        SYSTEM,
        clock,
    )
    assert [o.id for o in purchase_orders.expiring_orders(clock)] == [soon.id]
