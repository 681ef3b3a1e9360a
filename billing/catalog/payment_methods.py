"""Payment methods (seed §3.6): the four billing types and their active flag."""

from __future__ import annotations

from billing.kernel import audit
from billing.kernel.clock import Clock
from models import PaymentMethod, PaymentMethodCode, db


def ensure_payment_methods(actor, clock: Clock) -> list[PaymentMethod]:
    """Create any missing payment method rows, keeping existing flags."""
    from billing.payments.stripe_account import keys_configured

    existing = {m.code: m for m in db.session.scalars(db.select(PaymentMethod))}
    for position, code in enumerate(PaymentMethodCode.codes()):
        if code not in existing:
            # Card stays off until both Stripe keys are saved (seed 3.6.2).
            active = code != PaymentMethodCode.CARD.value or keys_configured()
            method = PaymentMethod(code=code, active=active, position=position)
            db.session.add(method)
            existing[code] = method
            audit.record(actor, "payment_method.create", clock, after={"code": code})
    db.session.commit()
    return sorted(existing.values(), key=lambda m: m.position)


def set_active(code: str, active: bool, actor, clock: Clock) -> PaymentMethod:
    """Activate or deactivate a billing type (seed 3.6.1). Card needs both Stripe keys.
    Deactivating keeps existing subscriptions on the method; it is only hidden for new ones."""
    from billing.kernel.errors import DomainError
    from billing.kernel.i18n import _
    from billing.payments.stripe_account import keys_configured

    method = db.session.get(PaymentMethod, code) if code else None
    if method is None:
        raise DomainError(_("Unknown payment method."))
    if active and code == PaymentMethodCode.CARD.value and not keys_configured():
        raise DomainError(
            _("Credit card payment needs the Stripe secret key and publishable key first.")
        )
    if method.active != active:
        method.active = active
        audit.record(
            actor,
            "payment_method.activate" if active else "payment_method.deactivate",
            clock,
            after={"code": code},
        )
        db.session.commit()
    return method


def active_codes() -> list[str]:
    return list(
        db.session.scalars(
            db.select(PaymentMethod.code)
            .where(PaymentMethod.active.is_(True))
            .order_by(PaymentMethod.position)
        )
    )
