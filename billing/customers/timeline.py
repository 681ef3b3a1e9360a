"""A customer's timeline (SPEC §12): its audit events and e-mails, newest first, each told in
a sentence of the reader's language ("billing@demo.example raised the IPs from 15 to 40,
effective 1 January 2027"); the raw record stays with every entry."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask_babel import format_date

from billing.kernel.i18n import _, lazy_gettext, money_text
from billing.kernel.mail import describe_failure
from models import AuditEvent, EmailLog, db

# One sentence per action; ``%(actor)s`` is who did it. Actions missing here read as
# "<actor>: <action code>", so a new action is never hidden.
SENTENCES = {
    "customer.create": lazy_gettext("%(actor)s created the customer"),
    "customer.create_similar": lazy_gettext("%(actor)s created the customer from a similar one"),
    "customer.self_register": lazy_gettext("%(actor)s registered the company in the portal"),
    "customer.lock": lazy_gettext("%(actor)s locked the account"),
    "customer.unlock": lazy_gettext("%(actor)s unlocked the account"),
    "customer.convert_to_managed": lazy_gettext("%(actor)s converted the customer to managed"),
    "customer.mark_for_deletion": lazy_gettext("%(actor)s marked the customer for deletion"),
    "customer.erase": lazy_gettext("%(actor)s erased the customer's personal data"),
    "customer.resend_invite": lazy_gettext("%(actor)s sent the invitation again"),
    "customer.change_main_user": lazy_gettext("%(actor)s changed the main user"),
    "customer.edit_address": lazy_gettext("%(actor)s edited the address"),
    "customer.edit_organisation": lazy_gettext("%(actor)s edited the organisation details"),
    "customer.tags": lazy_gettext("%(actor)s changed the tags"),
    "customer.groups": lazy_gettext("%(actor)s changed the groups"),
    "customer.partner": lazy_gettext("%(actor)s changed the partner"),
    "customer.language": lazy_gettext("%(actor)s changed the language"),
    "customer.set_price": lazy_gettext("%(actor)s set the customer's price per IP"),
    "customer.message": lazy_gettext("%(actor)s sent an e-mail to the customer"),
    "subscription.cancel": lazy_gettext("%(actor)s cancelled the active subscription"),
    "subscription.expire": lazy_gettext("The subscription expired"),
    "subscription.start_trial": lazy_gettext("%(actor)s started a free trial"),
    "subscription.end_trial": lazy_gettext("%(actor)s ended the free trial"),
    "subscription.withdraw_change": lazy_gettext("%(actor)s withdrew the pending change"),
    "user.register": lazy_gettext("%(actor)s registered in the portal"),
    "user.confirm_registration": lazy_gettext("%(actor)s confirmed the registration"),
    "user.sign_in": lazy_gettext("%(actor)s signed in"),
    "user.sign_out": lazy_gettext("%(actor)s signed out"),
    "user.change_password": lazy_gettext("%(actor)s changed the password"),
    "user.password_reset": lazy_gettext("%(actor)s set a new password"),
    "user.password_reset_request": lazy_gettext("%(actor)s asked for a new password"),
    "team.invite": lazy_gettext("%(actor)s invited a team user"),
    "team.resend_invite": lazy_gettext("%(actor)s sent a team invitation again"),
    "team.revoke_invite": lazy_gettext("%(actor)s withdrew a team invitation"),
    "team.disable": lazy_gettext("%(actor)s changed a team user's access"),
    "card.save": lazy_gettext("%(actor)s saved a payment card"),
    "card.remove": lazy_gettext("%(actor)s removed a payment card"),
    "contact.add": lazy_gettext("%(actor)s added a contact"),
    "contact.edit": lazy_gettext("%(actor)s edited a contact"),
    "contact.delete": lazy_gettext("%(actor)s deleted a contact"),
    "contact.create_user": lazy_gettext("%(actor)s created a user account from a contact"),
    "project_key.redeem": lazy_gettext("%(actor)s redeemed a project key"),
    "purchase_order.add": lazy_gettext("%(actor)s added a purchase order"),
    "purchase_order.edit": lazy_gettext("%(actor)s edited a purchase order"),
    "service_subscription.add": lazy_gettext("%(actor)s added an additional subscription"),
    "service_subscription.suspend": lazy_gettext("%(actor)s suspended an additional subscription"),
    "service_subscription.enable": lazy_gettext("%(actor)s enabled an additional subscription"),
    "service_subscription.end": lazy_gettext("%(actor)s ended an additional subscription"),
    "service_subscription.renew": lazy_gettext("An additional subscription was renewed"),
    "service_subscription.expire": lazy_gettext("An additional subscription expired"),
    "service_subscription.auto_renew": lazy_gettext(
        "%(actor)s changed the automatic renewal of an additional subscription"
    ),
    "impersonation.start": lazy_gettext("%(actor)s signed in as the customer"),
    "impersonation.end": lazy_gettext("%(actor)s ended the sign-in as the customer"),
    "impersonation.expire": lazy_gettext("A sign-in as the customer expired"),
    "invoice.draft": lazy_gettext("%(actor)s drafted the invoice for %(period)s"),
    "invoice.redraft": lazy_gettext("%(actor)s drafted the invoice for %(period)s again"),
    "invoice.finalize": lazy_gettext("%(actor)s finalized invoice %(number)s"),
    "invoice.paid": lazy_gettext("Invoice %(number)s was marked paid by %(actor)s"),
    "invoice.charged": lazy_gettext("The card was charged for invoice %(number)s"),
    "invoice.payment_failed": lazy_gettext("The card payment for invoice %(number)s failed"),
    "invoice.retry_payment": lazy_gettext("%(actor)s retried the card payment"),
    "invoice.credit_note": lazy_gettext("%(actor)s issued a credit note"),
    "invoice.email": lazy_gettext("The invoice was e-mailed"),
    "invoice.download": lazy_gettext("%(actor)s downloaded an invoice PDF"),
    "ledger.credit": lazy_gettext("%(actor)s booked a credit of %(amount)s"),
    "ledger.debit": lazy_gettext("%(actor)s booked a debit of %(amount)s"),
    "payment.refund": lazy_gettext("%(actor)s refunded a payment"),
}
# events the system itself caused, told without an actor where the sentence would name one in
# its middle ("… was marked paid by The system")
BY_THE_SYSTEM = {
    "invoice.paid": lazy_gettext("Invoice %(number)s was marked paid"),
}
OUTCOMES = {
    "ok": lazy_gettext("done"),
    "sent": lazy_gettext("sent"),
    "queued": lazy_gettext("queued"),
    "failed": lazy_gettext("failed"),
    "refused": lazy_gettext("refused"),
    "error": lazy_gettext("error"),
}
PENDING = re.compile(r"^(?:(\d+)\+(\d+) IPs|(cancel)) on (\d{4}-\d{2}-\d{2})")


def customer_timeline(customer_id: int, currency: str = "EUR", limit: int = 200) -> list[dict]:
    """Audit events and e-mails of a customer, newest first, each with its ``sentence``
    (amounts in ``currency``, the site's)."""
    events = db.session.scalars(
        db.select(AuditEvent)
        .where(AuditEvent.customer_id == customer_id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
    ).all()
    mails = db.session.scalars(
        db.select(EmailLog)
        .where(EmailLog.customer_id == customer_id)
        .order_by(EmailLog.created_at.desc(), EmailLog.id.desc())
        .limit(limit)
    ).all()
    items = [
        {
            "at": e.at,
            "kind": "event",
            "action": e.action,
            "actor": e.actor_label,
            "outcome": str(OUTCOMES.get(e.outcome, e.outcome)),
            "before": e.before,
            "after": e.after,
            "reason": e.reason,
            "sentence": describe_event(e.action, e.actor_label, e.before, e.after, e.at, currency),
        }
        for e in events
    ] + [
        {
            "at": m.created_at,
            "kind": "email",
            "action": f"email.{m.template}",
            "actor": m.recipient,
            "outcome": str(OUTCOMES.get(m.state, m.state)),
            "subject": m.subject,
            "error": describe_failure(m.error),
            "sentence": _(
                "E-mail “%(subject)s” to %(recipient)s", subject=m.subject, recipient=m.recipient
            ),
        }
        for m in mails
    ]
    return sorted(items, key=lambda item: item["at"], reverse=True)[:limit]


def describe_event(
    action: str,
    actor: str,
    before: dict | None,
    after: dict | None,
    at: datetime,
    currency: str = "EUR",
) -> str:
    """One sentence for an audit event in the request's language."""
    who = _("The system") if actor in ("", "system") else actor
    before, after = before or {}, after or {}
    if action in ("subscription.change", "subscription.apply_change", "subscription.start"):
        return _ip_change(action, who, before, after, _effective(after, at))
    if action == "subscription.schedule_change":
        return _scheduled(who, after.get("pending") or "")
    sentence = SENTENCES.get(action)
    if actor in ("", "system"):
        sentence = BY_THE_SYSTEM.get(action, sentence)
    if sentence is None:
        return f"{who}: {action}"
    return str(sentence) % {
        "actor": who,
        "number": after.get("number") or _older_number(after) or before.get("number") or "",
        "period": _month(after.get("period")),
        "amount": _amount(after.get("amount"), currency),
    }


def _older_number(after: dict) -> str:
    """The invoice number that card payment events recorded under "invoice" before they
    recorded it under "number" (elsewhere "invoice" is the invoice's id)."""
    recorded = after.get("invoice")
    return recorded if isinstance(recorded, str) else ""


def _amount(recorded, currency: str) -> str:
    """A booked amount as the reader writes money ("50,00 €"); the raw value when it is no
    number (an old or foreign record)."""
    try:
        amount = Decimal(str(recorded))
    except (InvalidOperation, ValueError):
        return str(recorded or "")
    if not amount.is_finite():
        return str(recorded)
    return money_text(abs(amount), currency)


def _ips(snapshot: dict) -> tuple[int, int] | None:
    try:
        return int(snapshot["internal_ips"]), int(snapshot["external_ips"])
    except (KeyError, TypeError, ValueError):
        return None


def _split(ips: tuple[int, int]) -> str:
    return _(
        "%(total)s (%(internal)s internal, %(external)s external)",
        total=sum(ips),
        internal=ips[0],
        external=ips[1],
    )


def _effective(after: dict, at: datetime) -> date | datetime:
    """The day a subscription change took effect: the day it records (a subscription started
    with an earlier start), else the day of the event."""
    try:
        return date.fromisoformat(after["valid_from"])
    except (KeyError, TypeError, ValueError):
        return at


def _ip_change(action: str, who: str, before: dict, after: dict, effective: date | datetime) -> str:
    old, new = _ips(before), _ips(after)
    if new is None:
        return f"{who}: {action}"
    when = format_date(effective, "long")
    if old is None or sum(old) == 0 or action == "subscription.start":
        return _(
            "%(actor)s started a subscription with %(ips)s IPs, effective %(date)s",
            actor=who,
            ips=_split(new),
            date=when,
        )
    if sum(new) > sum(old):
        return _(
            "%(actor)s raised the IPs from %(before)s to %(after)s, effective %(date)s",
            actor=who,
            before=sum(old),
            after=sum(new),
            date=when,
        )
    if sum(new) < sum(old):
        return _(
            "%(actor)s lowered the IPs from %(before)s to %(after)s, effective %(date)s",
            actor=who,
            before=sum(old),
            after=sum(new),
            date=when,
        )
    return _(
        "%(actor)s re-split the IPs from %(before)s to %(after)s, effective %(date)s",
        actor=who,
        before=_split(old),
        after=_split(new),
        date=when,
    )


def _scheduled(who: str, pending: str) -> str:
    match = PENDING.match(pending)
    if match is None:
        return _("%(actor)s scheduled a change", actor=who)
    effective = format_date(date.fromisoformat(match.group(4)), "long")
    if match.group(3):
        return _(
            "%(actor)s scheduled the cancellation, effective %(date)s", actor=who, date=effective
        )
    ips = (int(match.group(1)), int(match.group(2)))
    return _(
        "%(actor)s scheduled a change to %(ips)s IPs, effective %(date)s",
        actor=who,
        ips=_split(ips),
        date=effective,
    )


def _month(period) -> str:
    try:
        return format_date(date.fromisoformat(str(period)), "MMMM yyyy")
    except ValueError:
        return str(period or "")
