"""Erasing a customer marked for deletion (seed 3.2.9, SPEC §4 Delete).

``erase_customer`` is restartable: each step checks what is already done, so a run that was
killed half-way and started again finishes the work without repeating any of it.

1. the subscription and the additional subscriptions run to the end of the billing period
   (cancelled or ended with that end date), a pending change is withdrawn;
2. users, tags and personal data are removed; invoices keep their amounts but lose names and
   addresses (pseudonymised);
3. the confirmation e-mails are composed once (the e-mail log shows whether they were).
"""

from __future__ import annotations

from datetime import timedelta

from models import (
    ChangeState,
    EmailLog,
    Invoice,
    ScheduledChange,
    Subscription,
    SubscriptionState,
    User,
    db,
)

from . import audit
from .audit import SYSTEM
from .clock import Clock, add_months
from .customers import get_customer, refresh_summary
from .errors import DomainError
from .i18n import _
from .service_subscriptions import end_for_erasure


def deletion_notice(customer_id: int, staff_email: str, staff_language: str = "en") -> dict:
    """What the confirmation needs, captured before the data is erased: the company name and
    the recipients (the staff member and, if registered, the main user) with their language."""
    customer = get_customer(customer_id)
    recipients = [[staff_email, staff_language]] if staff_email else []
    main = db.session.scalar(
        db.select(User).where(User.customer_id == customer_id, User.is_main.is_(True))
    )
    if main is not None and main.is_registered:
        recipients.append([main.email, main.language or customer.language])
    return {"company": customer.company_name, "recipients": recipients}


def erase_customer(customer_id: int, notice: dict, clock: Clock) -> list:
    """Run (or finish) the erasure; returns the ``Outgoing`` messages still to be sent."""
    from .mail import compose

    customer = get_customer(customer_id)
    if customer.marked_for_deletion_at is None:
        raise DomainError(_("This customer is not marked for deletion."))
    if customer.erased_at is None:
        _end_subscription(customer_id, clock)
        end_for_erasure(customer_id, add_months(clock.today(), 1) - timedelta(days=1), clock)
        db.session.execute(
            db.update(ScheduledChange)
            .where(
                ScheduledChange.customer_id == customer_id,
                ScheduledChange.state == ChangeState.PENDING.value,
            )
            .values(state=ChangeState.WITHDRAWN.value)
        )
        db.session.execute(db.delete(User).where(User.customer_id == customer_id))
        label = f"Deleted customer {customer_id}"
        db.session.execute(
            db.update(Invoice)
            .where(Invoice.customer_id == customer_id)
            .values(billing_name=label, billing_address="")
        )
        customer.tags.clear()
        for name in (
            "street",
            "street2",
            "postal_code",
            "city",
            "state",
            "phone",
            "notes",
            "billing_street",
            "billing_street2",
            "billing_postal_code",
            "billing_city",
            "billing_state",
            "website",
            "industry",
        ):
            setattr(customer, name, "")
        customer.company_name = label
        customer.contact_name = label
        customer.contact_email = f"deleted-{customer_id}@invalid"
        customer.erased_at = clock.now()
        customer.updated_at = clock.now()
        refresh_summary(customer)
        audit.record(SYSTEM, "customer.erase", clock, customer_id=customer_id)
        db.session.commit()
    already = db.session.scalar(
        db.select(EmailLog.id)
        .where(EmailLog.customer_id == customer_id, EmailLog.template == "deletion_done")
        .limit(1)
    )
    if already:
        return []
    last = db.session.scalar(
        db.select(Subscription.valid_until)
        .where(Subscription.customer_id == customer_id)
        .order_by(Subscription.valid_until.desc().nulls_last())
        .limit(1)
    )
    return [
        compose(
            "deletion_done",
            address,
            language,
            clock,
            customer_id=customer_id,
            name=address,
            company=notice["company"],
            product="MSP Billing",
            final_invoice=last is not None,
            service_end=last.strftime("%d.%m.%Y") if last else "",
        )
        for address, language in notice["recipients"]
    ]


def _end_subscription(customer_id: int, clock: Clock):
    sub = db.session.scalar(
        db.select(Subscription).where(
            Subscription.customer_id == customer_id,
            Subscription.state == SubscriptionState.ACTIVE.value,
        )
    )
    if sub is None:
        return None
    end = add_months(clock.today(), 1) - timedelta(days=1)
    sub.state = SubscriptionState.CANCELLED.value
    sub.cancelled_at = clock.now()
    sub.valid_until = end
    return end
