"""Test data built through the domain functions, like any user would."""

from __future__ import annotations

from itertools import count

from billing.customers import lifecycle, lookup, onboarding
from billing.customers.onboarding import NewCustomer
from billing.kernel.audit import SYSTEM
from seed.reference import seed_reference

_seq = count(1)


def reference(app) -> None:
    seed_reference(app.config["CLOCK"])


def customer(
    app,
    *,
    state: str = "active",
    internal: int = 10,
    external: int = 2,
    payment: str = "invoice",
    company: str | None = None,
    email: str | None = None,
    country: str = "DE",
    mode: str = "managed",
    language: str = "en",
    since=None,
):
    """A customer in ``state``: invited | active | inactive | locked | deleted."""
    clock = app.config["CLOCK"]
    n = next(_seq)
    created, _token = onboarding.create_customer(
        NewCustomer(
            company_name=company or f"Company {n}",
            contact_name=f"Contact {n}",
            contact_email=email or f"contact{n}@customer.example",
            country=country,
            service_mode=mode,
            language=language,
        ),
        SYSTEM,
        clock,
    )
    if state == "invited":
        return created
    main = lookup.main_user(created.id)
    onboarding.register_user(main.id, "Customer-Pass-1", clock)
    if state != "registered":
        lifecycle.start_subscription(
            created.id, internal, external, payment, SYSTEM, clock, valid_from=since
        )
    if state == "inactive":
        lifecycle.cancel_subscription(created.id, SYSTEM, clock)
    elif state == "locked":
        lifecycle.set_locked(created.id, True, SYSTEM, clock)
    elif state == "deleted":
        lifecycle.mark_for_deletion(created.id, SYSTEM, clock)
    return created
