"""Erasing a customer marked for deletion (seed 3.2.9, SPEC §4 Delete).

``erase_customer`` is restartable: each step checks what is already done, so a run that was
killed half-way and started again finishes the work without repeating any of it.

1. the subscription and the additional subscriptions run to the end of the billing period
   (cancelled or ended with that end date), a pending change is withdrawn;
2. users, tags and personal data are removed; invoices keep their amounts but lose names and
   addresses (pseudonymised);
3. the confirmation e-mails are composed once per recipient (the e-mail log shows whether
   they were).

Each request is a ``CustomerErasure`` row, written together with the deletion mark. A worker
claims it with a lease before it starts; ``stalled_erasures`` finds the requests whose job was
lost (never started in time) or whose worker died (lease ran out), and the periodic sweeper
queues them again. Leases are measured on the real clock; business dates come from the clock.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func

from billing.customers.lifecycle import request_deletion
from billing.customers.lookup import get_customer
from billing.customers.summary import refresh_summary
from billing.kernel import audit
from billing.kernel.audit import SYSTEM, Actor
from billing.kernel.clock import Clock, add_months, lease_now
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from billing.subscriptions.service_subscriptions import end_for_erasure
from models import (
    ChangeState,
    Customer,
    CustomerErasure,
    EmailLog,
    ErasureState,
    Invoice,
    ScheduledChange,
    StaffUser,
    Subscription,
    SubscriptionState,
    TeamInvitation,
    User,
    db,
)

# how long a running erasure may take before it counts as stuck (one customer: seconds)
LEASE = timedelta(minutes=10)
# how long a queued erasure may wait for a worker before it is queued again
QUEUE_TIMEOUT = timedelta(minutes=15)


def deletion_notice(customer_id: int, staff_email: str, staff_language: str = "en") -> dict:
    """What the confirmation needs, captured before the data is erased: the company name and
    the recipients (the staff member and, if registered, the main user) as ``[address,
    language, name]``; the name greets them, and is empty for an address that is no staff
    member's (the greeting is neutral then)."""
    customer = get_customer(customer_id)
    recipients = []
    if staff_email:
        staff_name = db.session.scalar(
            db.select(StaffUser.name).where(func.lower(StaffUser.email) == staff_email.lower())
        )
        recipients.append([staff_email, staff_language, staff_name or ""])
    main = db.session.scalar(
        db.select(User).where(User.customer_id == customer_id, User.is_main.is_(True))
    )
    if main is not None and main.is_registered:
        recipients.append([main.email, main.language or customer.language, main.name])
    return {"company": customer.company_name, "recipients": recipients}


def delete_customer(
    customer_id: int,
    confirmation: str,
    staff_email: str,
    staff_language: str,
    actor: Actor,
    clock: Clock,
    expected_version: int | None = None,
) -> CustomerErasure:
    """Mark the customer for deletion (``request_deletion``'s checks and DomainErrors) and, in
    the same transaction, record the erasure request with its confirmation notice."""
    notice = deletion_notice(customer_id, staff_email, staff_language)
    if db.session.get(CustomerErasure, customer_id) is None:
        db.session.add(_new_erasure(customer_id, notice, clock))
    try:
        request_deletion(customer_id, confirmation, actor, clock, expected_version)
    except Exception:
        db.session.rollback()
        raise
    return db.session.get(CustomerErasure, customer_id)


def _new_erasure(customer_id: int, notice: dict, clock: Clock) -> CustomerErasure:
    return CustomerErasure(
        customer_id=customer_id,
        notice=notice,
        state=ErasureState.QUEUED.value,
        requested_at=clock.now(),
        lease_until=lease_now() + QUEUE_TIMEOUT,
    )


def request_erasure(customer_id: int, notice: dict, clock: Clock) -> CustomerErasure:
    """Record the erasure of a customer that is marked for deletion (kept if one exists)."""
    if get_customer(customer_id).marked_for_deletion_at is None:
        raise DomainError(_("This customer is not marked for deletion."))
    erasure = db.session.get(CustomerErasure, customer_id)
    if erasure is None:
        erasure = _new_erasure(customer_id, notice, clock)
        db.session.add(erasure)
        db.session.commit()
    return erasure


def pending_erasures() -> list[int]:
    """Customers marked for deletion whose data is not erased yet."""
    return list(
        db.session.scalars(
            db.select(Customer.id).where(
                Customer.marked_for_deletion_at.is_not(None), Customer.erased_at.is_(None)
            )
        )
    )


def stalled_erasures() -> list[int]:
    """Customers whose erasure is not done and whose job was lost or whose worker died."""
    now = lease_now()
    return list(
        db.session.scalars(
            db.select(CustomerErasure.customer_id)
            .where(
                CustomerErasure.state != ErasureState.DONE.value,
                CustomerErasure.lease_until.is_(None) | (CustomerErasure.lease_until < now),
            )
            .order_by(CustomerErasure.customer_id)
        )
    )


def requeue_erasure(customer_id: int) -> bool:
    """Hand a stalled erasure out again (the caller queues the job); False when it is done or
    a live worker holds it."""
    now = lease_now()
    result = db.session.execute(
        db.update(CustomerErasure)
        .where(
            CustomerErasure.customer_id == customer_id,
            CustomerErasure.state != ErasureState.DONE.value,
            CustomerErasure.lease_until.is_(None) | (CustomerErasure.lease_until < now),
        )
        .values(state=ErasureState.QUEUED.value, lease_until=now + QUEUE_TIMEOUT, lease_owner="")
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _claim(customer_id: int, owner: str) -> bool:
    """Take the erasure: a queued one always, a running one only once its lease ran out."""
    now = lease_now()
    result = db.session.execute(
        db.update(CustomerErasure)
        .where(
            CustomerErasure.customer_id == customer_id,
            (CustomerErasure.state == ErasureState.QUEUED.value)
            | (
                (CustomerErasure.state == ErasureState.RUNNING.value)
                & (CustomerErasure.lease_until.is_(None) | (CustomerErasure.lease_until < now))
            ),
        )
        .values(
            state=ErasureState.RUNNING.value,
            lease_until=now + LEASE,
            lease_owner=owner,
            attempts=CustomerErasure.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def finish_erasure(customer_id: int, owner: str, clock: Clock) -> None:
    """The confirmations are queued: the request is done (unless ``owner`` lost its lease)."""
    db.session.execute(
        db.update(CustomerErasure)
        .where(CustomerErasure.customer_id == customer_id, CustomerErasure.lease_owner == owner)
        .values(state=ErasureState.DONE.value, lease_until=None, finished_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def new_owner() -> str:
    return uuid.uuid4().hex


def erase_customer(customer_id: int, notice: dict | None, clock: Clock, *, owner: str = "") -> list:
    """Run (or finish) the erasure; returns the ``Outgoing`` messages still to be sent (none
    when the request is done or another live worker holds it).

    Without a recorded request (a job queued before requests were recorded) one is recorded
    with ``notice``. The caller sends the messages, then calls ``finish_erasure``.
    """
    from billing.kernel.mail import compose

    customer = get_customer(customer_id)
    if customer.marked_for_deletion_at is None:
        raise DomainError(_("This customer is not marked for deletion."))
    erasure = request_erasure(customer_id, notice or deletion_notice(customer_id, ""), clock)
    notice = erasure.notice
    if not _claim(customer_id, owner or new_owner()):
        return []
    # one erasure at a time, whatever the leases say: the second waits here and finds it done
    customer = db.session.scalar(
        db.select(Customer)
        .where(Customer.id == customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if customer.erased_at is None:
        _end_subscription(customer_id, clock)
        end_for_erasure(customer_id, add_months(clock.today(), 1) - timedelta(days=1), clock)
        _erase_personal_data(customer, clock)
    # commits the erasure, or ends the lock when it was done already
    db.session.commit()
    composed = set(
        db.session.scalars(
            db.select(EmailLog.recipient).where(
                EmailLog.customer_id == customer_id, EmailLog.template == "deletion_done"
            )
        )
    )
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
            # notices recorded before they named the recipients greet neutrally
            name=name[0] if name else "",
            company=notice["company"],
            final_invoice=last is not None,
            service_end=last or "",
        )
        for address, language, *name in notice["recipients"]
        if address not in composed
    ]


def _erase_personal_data(customer, clock: Clock) -> None:
    """Remove users, tags and personal data, pseudonymise the invoices (not committed)."""
    customer_id = customer.id
    db.session.execute(
        db.update(ScheduledChange)
        .where(
            ScheduledChange.customer_id == customer_id,
            ScheduledChange.state == ChangeState.PENDING.value,
        )
        .values(state=ChangeState.WITHDRAWN.value)
    )
    db.session.execute(db.delete(User).where(User.customer_id == customer_id))
    db.session.execute(db.delete(TeamInvitation).where(TeamInvitation.customer_id == customer_id))
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
