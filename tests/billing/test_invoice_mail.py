"""E-mailing invoices with the PDF attached (SPEC §8.5, §7) and the failed-payment notice
(SPEC §6), delivered to a real SMTP sink."""

from __future__ import annotations

from datetime import date

import pytest

from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.invoicing.invoice_mail import email_invoice, payment_failed_notice
from billing.kernel.mail import deliver
from models import AuditEvent, Customer, EmailLog, Invoice, db
from tests import factories


@pytest.fixture
def billing(app):
    factories.reference(app)
    return app


def _invoice(app, *, finalize=True, **customer):
    clock = app.config["CLOCK"]
    created = factories.customer(app, since=date(2026, 11, 1), **customer)
    invoice = draft_invoice(created.id, date(2026, 11, 1), clock)
    return finalize_invoice(invoice.id, clock) if finalize else invoice


def _contact(invoice: Invoice) -> str:
    return db.session.get(Customer, invoice.customer_id).contact_email


def test_the_invoice_arrives_with_its_pdf_attached(billing, mail_on):
    """SPEC §8.5: every finalized invoice is e-mailed with the PDF attached."""
    clock = billing.config["CLOCK"]
    invoice = _invoice(billing, language="en")

    assert email_invoice(invoice.id, clock) is True

    [(recipients, message)] = mail_on.messages
    assert recipients == [_contact(invoice)]
    assert message["Subject"] == f"Your invoice {invoice.number} for November 2026"
    body = message.get_body(("plain",)).get_content()
    assert invoice.number in body and f"€{invoice.gross:,.2f}" in body
    assert "Please transfer the amount by Nov 30, 2026, quoting the invoice number." in body
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"invoice-{invoice.number}.pdf"
    assert attachment.get_content().startswith(b"%PDF")

    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).emailed_at == clock.now()
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "invoice.email"))
    assert event.customer_id == invoice.customer_id and event.after == {"number": invoice.number}
    log = db.session.scalar(db.select(EmailLog).where(EmailLog.template == "invoice"))
    assert log.state == "sent" and log.recipient == _contact(invoice)


def test_a_second_call_sends_nothing(billing, mail_on):
    """SPEC §8 (restartable run): an invoice is e-mailed once."""
    clock = billing.config["CLOCK"]
    invoice = _invoice(billing)
    assert email_invoice(invoice.id, clock) is True

    assert email_invoice(invoice.id, clock) is False
    assert len(mail_on.messages) == 1
    assert db.session.query(EmailLog).filter_by(template="invoice").count() == 1


def test_a_draft_is_not_mailed(billing, mail_on):
    """SPEC §8.5: invoices are e-mailed when finalized, not before."""
    invoice = _invoice(billing, finalize=False)

    assert email_invoice(invoice.id, billing.config["CLOCK"]) is False
    assert mail_on.messages == []
    assert db.session.get(Invoice, invoice.id).emailed_at is None


def test_no_mail_to_an_erased_customer(billing, mail_on):
    """SPEC §4 (erasure): nobody is written to after the personal data is gone."""
    clock = billing.config["CLOCK"]
    invoice = _invoice(billing)
    db.session.get(Customer, invoice.customer_id).erased_at = clock.now()
    db.session.commit()

    assert email_invoice(invoice.id, clock) is False
    assert mail_on.messages == []


def test_a_failed_delivery_leaves_the_invoice_unsent_for_the_retry(billing, smtp_sink):
    """SPEC §7: mail is retried; the invoice only counts as e-mailed once it was delivered."""
    clock = billing.config["CLOCK"]
    invoice = _invoice(billing)

    with pytest.raises(RuntimeError, match="no mail server"):
        email_invoice(invoice.id, clock)
    db.session.rollback()
    assert db.session.get(Invoice, invoice.id).emailed_at is None
    assert db.session.scalar(db.select(EmailLog.state)) == "failed"

    billing.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_sink.port)
    billing.config["MAIL_DEFAULT_SENDER"] = "MSP <billing@msp.example>"
    assert email_invoice(invoice.id, clock) is True
    assert len(smtp_sink.messages) == 1


def test_german_invoice_mail(billing, mail_on):
    """SPEC §7: the e-mail in the recipient's language, card payers are told it is charged."""
    invoice = _invoice(billing, language="de", payment="card")
    email_invoice(invoice.id, billing.config["CLOCK"])

    [(_, message)] = mail_on.messages
    assert message["Subject"] == f"Ihre Rechnung {invoice.number} für November 2026"
    body = message.get_body(("plain",)).get_content()
    assert "hinterlegten Karte abgebucht" in body
    amount = f"{invoice.gross:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    assert f"{amount}\xa0€" in body
    html = message.get_body(("html",)).get_content()
    assert '<html lang="de">' in html and invoice.number in html


def test_payment_failed_notice_links_to_the_portal(billing, mail_on):
    """SPEC §6: a failed card payment is made visible to the customer, with the way to fix it."""
    clock = billing.config["CLOCK"]
    invoice = _invoice(billing, language="en", payment="card")
    assert payment_failed_notice(invoice.id, clock) is None

    db.session.get(Invoice, invoice.id).state = "payment_failed"
    db.session.commit()
    message = payment_failed_notice(invoice.id, clock)

    assert message.recipient == _contact(invoice)
    assert message.subject == f"Payment for invoice {invoice.number} failed"
    assert f"{billing.config['PUBLIC_URL']}/portal/" in message.text
    assert f"€{invoice.gross:,.2f}" in message.text and "Update card" in message.html
    deliver(message, clock)
    [(_, sent)] = mail_on.messages
    assert sent["Subject"] == message.subject and not list(sent.iter_attachments())


@pytest.mark.fresh_database
def test_two_workers_sending_the_same_invoice_at_once_send_it_once(pg_app, smtp_sink):
    """SPEC §8.5 (restartable run): when two mail workers run the same job at the same moment
    on PostgreSQL, the customer gets the invoice once; the other worker finds it claimed."""
    import threading

    from billing.kernel.audit import SYSTEM
    from billing.kernel.mail import save_mail_settings

    clock = pg_app.config["CLOCK"]
    factories.reference(pg_app)
    save_mail_settings(
        "127.0.0.1", smtp_sink.port, "none", "", "", "MSP", "billing@msp.example", SYSTEM, clock
    )
    invoice_id = _invoice(pg_app).id
    db.session.remove()
    start, results, errors = threading.Barrier(2), [], []

    def worker():
        with pg_app.app_context():
            try:
                start.wait()
                results.append(email_invoice(invoice_id, clock))
            except Exception as error:  # pragma: no cover - reported below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sorted(results) == [False, True]
    assert len(smtp_sink.messages) == 1
    invoice = db.session.get(Invoice, invoice_id)
    assert invoice.emailed_at is not None and invoice.email_claimed_until is None


def test_a_claim_left_by_a_dead_worker_runs_out(billing, mail_on):
    """SPEC §8.5: a worker that died while sending does not keep the invoice from being sent
    for ever; once its claim has run out, the next attempt sends it."""
    from datetime import UTC, datetime, timedelta

    clock = billing.config["CLOCK"]
    invoice = _invoice(billing)
    invoice.email_claimed_until = datetime.now(UTC) + timedelta(minutes=5)
    db.session.commit()
    assert email_invoice(invoice.id, clock) is False
    assert mail_on.messages == []

    invoice = db.session.get(Invoice, invoice.id)
    invoice.email_claimed_until = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    assert email_invoice(invoice.id, clock) is True
    assert len(mail_on.messages) == 1
