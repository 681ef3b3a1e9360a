"""The e-mail log reads like a product: a failure says why in words (never exception text or a
server path) and times are local, in the staff member's language (issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime

from billing.kernel.mail import failure_reason
from models import EmailLog, db


def _log(error: str, state: str = "failed") -> EmailLog:
    entry = EmailLog(
        created_at=datetime(2026, 11, 15, 9, 30, tzinfo=UTC),
        recipient="anna@customer.example",
        subject="Your invitation",
        template="invite",
        language="en",
        state=state,
        error=error,
    )
    db.session.add(entry)
    db.session.commit()
    return entry


def test_a_failed_delivery_reads_as_a_reason_in_the_staff_language(staff_client):
    _log("unreachable")
    english = staff_client.get("/admin/email_log/").get_data(as_text=True)
    assert "The mail server could not be reached." in english
    german = staff_client.get("/admin/email_log/", headers={"Accept-Language": "de"}).get_data(
        as_text=True
    )
    assert "Der Mailserver war nicht erreichbar." in german


def test_older_entries_with_exception_text_show_no_path_or_python(staff_client):
    _log("SMTPDataError: (451, b'FileNotFoundError: /srv/msp/instance/maildir/tmp/1')")
    html = staff_client.get("/admin/email_log/").get_data(as_text=True)
    assert "/srv/msp" not in html and "SMTPDataError" not in html
    assert "Delivery failed; the worker log has the details." in html


def test_times_are_local_and_formatted_by_the_language(staff_client):
    _log("", state="sent")
    english = staff_client.get("/admin/email_log/").get_data(as_text=True)
    assert "Nov 15, 2026, 10:30\u202fAM" in english  # 09:30 UTC is 10:30 in Berlin
    assert "2026-11-15" not in english
    german = staff_client.get("/admin/email_log/", headers={"Accept-Language": "de"}).get_data(
        as_text=True
    )
    assert "15.11.2026, 10:30" in german and "10:30:00" not in german


def test_each_kind_of_smtp_failure_has_its_reason():
    import smtplib
    import ssl

    assert failure_reason(ConnectionRefusedError(111, "refused")) == "unreachable"
    assert failure_reason(TimeoutError()) == "timeout"
    assert failure_reason(ssl.SSLError()) == "tls"
    assert failure_reason(smtplib.SMTPAuthenticationError(535, b"no")) == "authentication"
    assert failure_reason(smtplib.SMTPRecipientsRefused({})) == "recipient_refused"
    assert failure_reason(smtplib.SMTPDataError(451, b"x")) == "server_refused"
    assert failure_reason(ValueError("odd")) == "unknown"
