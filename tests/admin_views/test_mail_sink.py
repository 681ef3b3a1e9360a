"""Settings → Demo mailbox (issue 14): the e-mails of `make run`'s mail sink, listed and readable
in the admin, only where a sink is configured (``MAIL_SINK_MAILDIR``) and only for admins."""

from __future__ import annotations

import mailbox
import re
from email.message import EmailMessage

import pytest

from tests.conftest import _build, _sqlite_url, csrf_token, make_staff, sign_in

INVOICE_PDF = b"%PDF-1.4 " + b"x" * 3000


def _message(to: str, subject: str, text: str, date: str, pdf: bool = False) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "MSP Billing <billing@msp.demo.example>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = date
    message.set_content(text)
    message.add_alternative(f"<p>{text}</p>", subtype="html")
    if pdf:
        message.add_attachment(
            INVOICE_PDF, maintype="application", subtype="pdf", filename="2026-000042.pdf"
        )
    return message


@pytest.fixture
def maildir(tmp_path):
    path = tmp_path / "maildir"
    box = mailbox.Maildir(path, create=True)
    box.add(
        _message(
            "it@acme.demo.example",
            "Your invitation to the MSP portal",
            "Set your password: http://127.0.0.1:5000/portal/invite/abc123\n\nKind regards",
            "Mon, 16 Nov 2026 09:00:00 +0100",
        )
    )
    box.add(
        _message(
            "it@bergmann.demo.example",
            "Ihre Rechnung 2026-000042 <script>alert(1)</script>",
            "Guten Tag,\n<b>anbei</b> Ihre Rechnung.",
            "Tue, 17 Nov 2026 09:00:00 +0100",
            pdf=True,
        )
    )
    return path


@pytest.fixture
def sink_app(sqlite_template, tmp_path, clock, maildir):
    from models import db

    app, ctx, _db = _build(
        _sqlite_url(sqlite_template, tmp_path), clock, MAIL_SINK_MAILDIR=str(maildir)
    )
    yield app
    db.session.remove()
    db.engine.dispose()
    ctx.pop()


def _signed_in(app, role: str):
    staff = make_staff(app, role)
    client = app.test_client()
    sign_in(client, staff.email)
    client.token = csrf_token(client, "/admin/")
    return client


def _keys(page: str) -> list[str]:
    return re.findall(r'<tr data-key="([^"]+)">', page)


def test_lists_the_messages_newest_first_and_shows_one(sink_app, maildir):
    client = _signed_in(sink_app, "admin")
    assert "/admin/mail-sink/" in client.get("/admin/").get_data(as_text=True)  # in the menu
    page = client.get("/admin/mail-sink/").get_data(as_text=True)
    assert "2 e-mails." in page and str(maildir) in page
    newest, oldest = _keys(page)
    assert page.index("Ihre Rechnung 2026-000042") < page.index("Your invitation to the MSP")
    assert "it@bergmann.demo.example" in page and "it@acme.demo.example" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page

    invoice = client.get(f"/admin/mail-sink/{newest}/").get_data(as_text=True)
    assert "&lt;b&gt;anbei&lt;/b&gt; Ihre Rechnung." in invoice and "<b>anbei" not in invoice
    assert "<script>alert(1)</script>" not in invoice
    assert "2026-000042.pdf (3 KB)" in invoice and "billing@msp.demo.example" in invoice
    invite = client.get(f"/admin/mail-sink/{oldest}/").get_data(as_text=True)
    link = "http://127.0.0.1:5000/portal/invite/abc123"
    assert f'<a href="{link}" rel="noopener noreferrer" target="_blank">{link}</a>' in invite


def test_search_and_german(sink_app):
    client = _signed_in(sink_app, "admin")
    found = client.get("/admin/mail-sink/?q=ACME").get_data(as_text=True)
    assert len(_keys(found)) == 1 and "Your invitation" in found and "1 e-mail." in found
    nothing = client.get("/admin/mail-sink/?q=nobody-here").get_data(as_text=True)
    assert "No e-mail matches this search." in nothing
    german = client.get("/admin/mail-sink/", headers={"Accept-Language": "de"}).get_data(
        as_text=True
    )
    assert "Demo-Postfach" in german and "2 E-Mails." in german and "Empfänger" in german
    key = _keys(german)[0]
    message = client.get(f"/admin/mail-sink/{key}/", headers={"Accept-Language": "de"})
    text = message.get_data(as_text=True)
    assert "Anhänge" in text and "Zurück zum Demo-Postfach" in text


def test_an_unknown_message_is_404(sink_app):
    client = _signed_in(sink_app, "admin")
    for key in ("1796592990.M1P1Q1.nohost", "..", "x" * 300):
        assert client.get(f"/admin/mail-sink/{key}/").status_code == 404, key


def test_only_admins_read_the_mailbox(sink_app):
    """The messages carry invite, registration and password reset links."""
    anonymous = sink_app.test_client().get("/admin/mail-sink/")
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous.headers["Location"]
    for role in ("billing", "support"):
        client = _signed_in(sink_app, role)
        assert client.get("/admin/mail-sink/").status_code == 403
        assert "/admin/mail-sink/" not in client.get("/admin/").get_data(as_text=True)


def test_no_mailbox_without_a_mail_sink(staff_client):
    assert staff_client.get("/admin/mail-sink/").status_code == 404
    assert "Demo mailbox" not in staff_client.get("/admin/").get_data(as_text=True)


def test_a_sink_that_has_not_started_yet_shows_an_empty_mailbox(sink_app, maildir):
    import shutil

    shutil.rmtree(maildir)
    client = _signed_in(sink_app, "admin")
    page = client.get("/admin/mail-sink/").get_data(as_text=True)
    assert "0 e-mails." in page and not _keys(page)
    assert "No e-mails yet. Invite a customer" in page, "the empty mailbox says how to fill it"
    german = client.get("/admin/mail-sink/", headers={"Accept-Language": "de"})
    assert "Noch keine E-Mails." in german.get_data(as_text=True)
