"""The security sweep's demo (tests/security/conftest.py): the seed plus a team member, a pending
invite, an additional subscription, a run awaiting approval, a Stripe event and an e-mail log
entry, with the ids of real records for every route argument; here with what the seed has none
of (``demo``) and its mail server pointed at the suite's SMTP sink (``demo_mail``)."""

import pytest

from billing.kernel.audit import SYSTEM
from tests.security.conftest import (  # noqa: F401 - shared fixtures
    demo_app,
    demo_shared,
    demo_template,
)


@pytest.fixture
def demo(demo_app):  # noqa: F811 - the fixture imported above
    """The demo plus what its seed has none of: a credit note, a pending decrease and a failed
    card payment, all of German customers."""
    from billing.customers import lookup as lifecycle
    from billing.invoicing.credit_notes import create_credit_note
    from billing.invoicing.finalizing import finalize_invoice
    from billing.subscriptions.distribution import change_ip_distribution
    from models import Customer, Invoice, InvoiceState, PaymentMethodCode, db

    invoice_id = db.session.scalar(
        db.select(Invoice.id)
        .where(
            Invoice.customer_id == demo_app.demo.ids["customer_id"],
            Invoice.state == InvoiceState.PAID.value,
        )
        .order_by(Invoice.id)
        .limit(1)
    )
    create_credit_note(invoice_id, "Doppelt berechnet", SYSTEM, demo_app.config["CLOCK"])
    owner = demo_app.demo.ids["customer_id"]
    current = lifecycle.current_subscription(owner)
    change_ip_distribution(
        owner,
        current.internal_ips - 1,
        current.external_ips,
        False,
        SYSTEM,
        demo_app.config["CLOCK"],
    )
    card = db.session.scalar(
        db.select(Invoice)
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(
            Customer.language == "de",
            Invoice.state == InvoiceState.DRAFT.value,
            Invoice.payment_method == PaymentMethodCode.CARD.value,
        )
        .order_by(Invoice.id)
        .limit(1)
    )
    card = finalize_invoice(card.id, demo_app.config["CLOCK"])
    # as a declined charge leaves it (billing.payments.card_charges.charge_invoice)
    card.state = InvoiceState.PAYMENT_FAILED.value
    db.session.commit()
    return demo_app


@pytest.fixture
def demo_mail(demo, smtp_sink):
    """The demo with its mail server pointed at the suite's SMTP sink."""
    from billing.kernel.mail import save_mail_settings

    save_mail_settings(
        "127.0.0.1",
        smtp_sink.port,
        "none",
        "",
        "",
        "MSP",
        "billing@msp.example",
        SYSTEM,
        demo.config["CLOCK"],
    )
    return smtp_sink
