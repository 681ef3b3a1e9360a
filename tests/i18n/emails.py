"""Every e-mail of the product, composed on the demo by the function that sends it, in the
language asked for: the German sweep (test_german_sweep.py) and the greeting and signature
check (test_email_signatures.py) both read them. ``every_email`` names one scenario per template
of ``billing.kernel.mail.TEMPLATES`` (the invoice twice: invoice and credit note); a new e-mail
gets its scenario here, or both tests fail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta

from billing.kernel.audit import SYSTEM, Actor
from billing.kernel.clock import FixedClock

# the staff member the project-key notice goes to, greeted by name
STAFF = ("ops@msp.example", "Olga Ops")


def _speaking(language: str, *customer_ids: int) -> None:
    """The customers and their users read ``language`` (the recipients of their e-mails)."""
    from models import Customer, User, db

    db.session.execute(
        db.update(Customer).where(Customer.id.in_(customer_ids)).values(language=language)
    )
    db.session.execute(
        db.update(User).where(User.customer_id.in_(customer_ids)).values(language=language)
    )
    db.session.commit()
    db.session.expire_all()


def _read_in(language: str, invoice_id: int) -> int:
    from models import Invoice, db

    db.session.get(Invoice, invoice_id).language = language
    db.session.commit()
    return invoice_id


def every_email(app, language: str) -> dict[str, Callable[[], object]]:
    """Each e-mail of the product to a recipient reading ``language``: its name and the call
    that composes it (and, for the invoices, delivers it)."""
    from billing.catalog.selfservice import save_self_service
    from billing.customers import lookup as lifecycle
    from billing.customers import registration
    from billing.customers import team as team_rules
    from billing.customers.accounts import request_password_reset
    from billing.customers.addresses import AddressInput
    from billing.customers.customer_tools import send_staff_message
    from billing.customers.deletion import delete_customer, deletion_notice, erase_customer
    from billing.customers.lifecycle import DELETE_WORD
    from billing.customers.onboarding import NewCustomer, invite_customer, welcome_message
    from billing.invoicing.invoice_mail import email_invoice, payment_failed_notice
    from billing.kernel.mail import compose
    from billing.subscriptions.project_keys import expiry_notices
    from models import (
        Invoice,
        InvoiceKind,
        InvoiceState,
        PriceBasis,
        Subscription,
        SubscriptionState,
        db,
    )

    clock = app.config["CLOCK"]
    customer_id = app.demo.ids["customer_id"]
    _speaking(language, customer_id, customer_id + 2)
    main = lifecycle.main_user(customer_id)
    address = AddressInput(
        company_name="Registrierung GmbH",
        street="Hauptstraße 1",
        postal_code="10115",
        city="Berlin",
        country="DE",
    )

    def invoice(kind: str) -> int:
        query = db.select(Invoice.id).where(Invoice.language == "de", Invoice.kind == kind)
        return _read_in(language, db.session.scalar(query.order_by(Invoice.id).limit(1)))

    def failed_payment():
        failed = db.session.scalar(
            db.select(Invoice.id).where(Invoice.state == InvoiceState.PAYMENT_FAILED.value)
        )
        return payment_failed_notice(_read_in(language, failed), clock)

    def expiring():
        ends = db.session.scalar(
            db.select(db.func.min(Subscription.valid_until)).where(
                Subscription.state == SubscriptionState.ACTIVE.value,
                Subscription.price_basis == PriceBasis.PROJECT_KEY.value,
            )
        )
        before_end = datetime.combine(ends - timedelta(days=10), time(9), tzinfo=clock.tz)
        staff = [(STAFF[0], language, STAFF[1])]
        return expiry_notices(staff, FixedClock(before_end, str(clock.tz)))

    def register(email: str):
        save_self_service(True, "IP-Scanning", "IPS-1", SYSTEM, clock)
        data = registration.Registration(email, "Rita Registrierung", True, address, language)
        return registration.register(data, clock).message

    def erase():
        leaving = db.session.scalar(
            db.select(Invoice.customer_id)
            .where(Invoice.language == "de")
            .order_by(Invoice.customer_id.desc())
            .limit(1)
        )
        _speaking(language, leaving)
        delete_customer(leaving, DELETE_WORD, "ops@msp.example", language, SYSTEM, clock)
        notice = deletion_notice(leaving, "ops@msp.example", language)
        return erase_customer(leaving, notice, clock)

    return {
        "invite": lambda: invite_customer(
            NewCustomer("Neukunde GmbH", "Nina Neu", "nina@neukunde.example", language=language),
            SYSTEM,
            clock,
        ),
        "registration_done": lambda: welcome_message(main, clock),
        "password_reset": lambda: request_password_reset(main.email, clock),
        "team_invite": lambda: team_rules.invite_member(
            customer_id, "tina@team.example", "Tina Team", Actor.user(main), clock, "http://t"
        ),
        "team_invite_taken": lambda: team_rules.invite_member(
            customer_id,
            lifecycle.main_user(customer_id + 2).email,
            "Schon Vergeben",
            Actor.user(main),
            clock,
            "http://t",
        ),
        "registration_confirm": lambda: register("rita@registrierung.example"),
        "registration_exists": lambda: register(main.email),
        "staff_message": lambda: send_staff_message(
            customer_id, "Wartung am Samstag", "Wir erneuern die Scanner.", SYSTEM, clock
        ),
        "project_key_expiring": expiring,
        "invoice": lambda: email_invoice(invoice(InvoiceKind.INVOICE.value), clock),
        "credit note": lambda: email_invoice(invoice(InvoiceKind.CREDIT_NOTE.value), clock),
        "payment_failed": failed_payment,
        # the settings page's test message, as admin_views/settings.py composes it
        "test": lambda: compose("test", "ops@msp.example", language, clock, sender="admin@msp"),
        "deletion_done": erase,
    }


def deliver_all(result, clock) -> None:
    """Deliver what a scenario composed (one message, a list, or pairs ending in one); the
    invoice scenarios deliver themselves and answer True or False."""
    from billing.kernel.mail import Outgoing, deliver

    if result in (True, False):
        return
    messages = result if isinstance(result, list) else [result]
    for message in messages:
        if isinstance(message, tuple):
            message = message[-1]
        assert isinstance(message, Outgoing), message
        deliver(message, clock)
