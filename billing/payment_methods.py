"""Payment methods (seed §3.6): the four billing types and their active flag."""

from __future__ import annotations

from models import PaymentMethod, PaymentMethodCode, db

from . import audit
from .clock import Clock


def ensure_payment_methods(actor, clock: Clock) -> list[PaymentMethod]:
    """Create any missing payment method rows (active), keeping existing flags."""
    existing = {m.code: m for m in db.session.scalars(db.select(PaymentMethod))}
    for position, code in enumerate(PaymentMethodCode.codes()):
        if code not in existing:
            method = PaymentMethod(code=code, active=True, position=position)
            db.session.add(method)
            existing[code] = method
            audit.record(actor, "payment_method.create", clock, after={"code": code})
    db.session.commit()
    return sorted(existing.values(), key=lambda m: m.position)
