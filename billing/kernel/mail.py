"""E-mail (SPEC §7): SMTP settings, composing messages in the recipient's language, the log.

Messages are rendered here, recorded in the e-mail log as ``queued`` and handed to a job that
calls ``deliver``. Templates live in ``templates/email/<language>/<name>.{subject.txt,txt,html}``;
each opens with the shared greeting (``email/_greeting.*``: the recipient's ``name`` where known,
else a neutral one) and closes with the shared signature (``email/_signature.*``: the seller's
name from Settings → Invoices, else the product's), both translated through the catalogue.
"""

from __future__ import annotations

import ipaddress
import logging
import smtplib
import socket
import ssl
from dataclasses import asdict, dataclass
from datetime import date, datetime

from email_validator import EmailNotValidError, validate_email
from flask import current_app, render_template
from flask_babel import force_locale, format_date
from flask_mail import Connection, Mail, Message

from billing.kernel import audit
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _, lazy_gettext, moment_text
from billing.kernel.secrets import decrypt, encrypt
from billing.kernel.settings import get_setting, seller_name, store_settings
from models import EmailLog, EmailState, Language, db

TLS_MODES = ("none", "starttls", "ssl")
TEMPLATES = (
    "invite",
    "registration_done",
    "deletion_done",
    "test",
    "project_key_expiring",
    "invoice",
    "payment_failed",
    "password_reset",
    "team_invite",
    "team_invite_taken",
    "registration_confirm",
    "registration_exists",
    "staff_message",
)
KEY = "mail."
logger = logging.getLogger("msp.mail")

# Why a message could not be delivered, as the e-mail log stores it: a code, never exception
# text (which can name server paths); the technical detail goes to the worker's log.
FAILURE_REASONS = {
    "not_configured": lazy_gettext("No mail server is configured (Settings → Mail)."),
    "host_refused": lazy_gettext(
        "The mail server's address is on this machine or link-local, which is not allowed."
    ),
    "unreachable": lazy_gettext("The mail server could not be reached."),
    "timeout": lazy_gettext("The mail server did not answer in time."),
    "tls": lazy_gettext("The encrypted connection to the mail server failed (check TLS mode)."),
    "authentication": lazy_gettext("The mail server refused the user name or password."),
    "sender_refused": lazy_gettext("The mail server refused the sender address."),
    "recipient_refused": lazy_gettext("The mail server refused the recipient address."),
    "server_refused": lazy_gettext("The mail server refused the message."),
    "disconnected": lazy_gettext("The mail server closed the connection."),
    "queue_unavailable": lazy_gettext("The message could not be queued (Redis unavailable)."),
    "unknown": lazy_gettext("Delivery failed; the worker log has the details."),
}


def failure_reason(error: BaseException) -> str:
    """The code in ``FAILURE_REASONS`` that says why sending failed with ``error``."""
    checks = (
        (MailNotConfigured, "not_configured"),
        (DomainError, "host_refused"),
        (smtplib.SMTPAuthenticationError, "authentication"),
        (smtplib.SMTPSenderRefused, "sender_refused"),
        (smtplib.SMTPRecipientsRefused, "recipient_refused"),
        (smtplib.SMTPServerDisconnected, "disconnected"),
        (smtplib.SMTPNotSupportedError, "tls"),
        (smtplib.SMTPException, "server_refused"),
        (ssl.SSLError, "tls"),
        (TimeoutError, "timeout"),
        (socket.timeout, "timeout"),
        (OSError, "unreachable"),
    )
    for kind, code in checks:
        if isinstance(error, kind):
            return code
    return "unknown"


def describe_failure(reason: str) -> str:
    """The readable, translated sentence for a stored failure reason (older entries that hold
    other text read as the generic reason)."""
    return str(FAILURE_REASONS.get(reason, FAILURE_REASONS["unknown"])) if reason else ""


class MailNotConfigured(RuntimeError):
    """Sending was attempted without mail settings."""


@dataclass
class MailSettings:
    host: str = ""
    port: int = 25
    tls_mode: str = "none"
    username: str = ""
    password: str = ""
    sender_name: str = ""
    sender_address: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.host and self.sender_address)

    @property
    def sender(self) -> tuple[str, str]:
        return (self.sender_name, self.sender_address)


def _app_config():
    """The running app's configuration, for mail alone among the kernel's modules."""
    # Mail is the app's transport: its fallback server (``MAIL_*``), the operator's permission
    # for mail hosts on this machine, and the product's name and address that every message
    # shows belong to the running app, whose Jinja templates ``compose`` renders anyway.
    return current_app.config


def _env_settings() -> MailSettings:
    config = _app_config()
    sender = config.get("MAIL_DEFAULT_SENDER") or ""
    name, address = config["PRODUCT_NAME"], sender
    if "<" in sender and sender.endswith(">"):
        name, address = sender[: sender.index("<")].strip(), sender[sender.index("<") + 1 : -1]
    tls = (
        "ssl"
        if config.get("MAIL_USE_SSL")
        else "starttls"
        if config.get("MAIL_USE_TLS")
        else "none"
    )
    return MailSettings(
        host=config.get("MAIL_SERVER") or "",
        port=int(config.get("MAIL_PORT") or 25),
        tls_mode=tls,
        username=config.get("MAIL_USERNAME") or "",
        password=config.get("MAIL_PASSWORD") or "",
        sender_name=name or config["PRODUCT_NAME"],
        sender_address=address,
    )


def load_mail_settings() -> MailSettings:
    """Settings saved in the admin, or the ``MAIL_*`` environment variables as a fallback."""
    host = get_setting(KEY + "host")
    if not host:
        return _env_settings()
    stored = get_setting(KEY + "password")
    return MailSettings(
        host=host,
        port=int(get_setting(KEY + "port", "25")),
        tls_mode=get_setting(KEY + "tls_mode", "none"),
        username=get_setting(KEY + "username"),
        password=decrypt(stored) if stored else "",
        sender_name=get_setting(KEY + "sender_name") or _app_config()["PRODUCT_NAME"],
        sender_address=get_setting(KEY + "sender_address"),
    )


def mail_configured() -> bool:
    return load_mail_settings().configured


def _local_address(host: str, port: int) -> str | None:
    """The first address ``host`` is or resolves to that is this machine's (loopback, or the
    unspecified address, which reaches it too), link-local (a cloud's metadata service among
    them) or multicast; None when there is none, or when the name does not resolve."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    for *_kind, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        mapped = getattr(address, "ipv4_mapped", None)
        checked = mapped or address
        if (
            checked.is_loopback
            or checked.is_link_local
            or checked.is_unspecified
            or checked.is_multicast
        ):
            return str(address)
    return None


def check_mail_host(host: str, port: int) -> None:
    """Refuse a mail server on this machine or a link-local address, checking every address
    its name resolves to, unless the operator allows it (``MAIL_ALLOW_LOCAL_HOSTS``, e.g. for
    a local mail sink). A name that does not resolve passes: delivery checks again.

    Raises DomainError (field ``host``).
    """
    if _app_config().get("MAIL_ALLOW_LOCAL_HOSTS"):
        return
    address = _local_address(host, port)
    if address is not None:
        raise DomainError(
            _(
                "The mail server %(host)s points to this machine or a link-local address "
                "(%(address)s), which is not allowed. Enter the mail server's address in your "
                "network; the operator can allow local addresses with MAIL_ALLOW_LOCAL_HOSTS.",
                host=host,
                address=address,
            ),
            field="host",
        )


def save_mail_settings(
    host: str,
    port: str | int,
    tls_mode: str,
    username: str,
    password: str | None,
    sender_name: str,
    sender_address: str,
    actor,
    clock: Clock,
) -> MailSettings:
    """Validate and store the SMTP settings. An empty ``password`` keeps the stored one.

    Raises DomainError (with ``field``) on a missing host, a host on this machine or a
    link-local address (``check_mail_host``), a port outside 1–65535, an unknown TLS mode or an
    invalid sender address; nothing is stored then.
    """

    host = (host or "").strip()
    if not host or any(ch.isspace() for ch in host):
        raise DomainError(_("Please enter the mail server's host name."), field="host")
    try:
        port_no = int(str(port).strip())
    except ValueError:
        raise DomainError(_("The port must be a number from 1 to 65535."), field="port") from None
    if not 1 <= port_no <= 65535:
        raise DomainError(_("The port must be a number from 1 to 65535."), field="port")
    check_mail_host(host, port_no)
    if tls_mode not in TLS_MODES:
        raise DomainError(_("Unknown TLS mode."), field="tls_mode")
    try:
        sender = validate_email(sender_address.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise DomainError(
            _("Please enter a valid sender address."), field="sender_address"
        ) from None
    before = {k: v for k, v in asdict(load_mail_settings()).items() if k != "password"}
    values = {
        "host": host,
        "port": str(port_no),
        "tls_mode": tls_mode,
        "username": (username or "").strip(),
        "sender_name": (sender_name or "").strip() or _app_config()["PRODUCT_NAME"],
        "sender_address": sender,
    }
    if password:
        values["password"] = encrypt(password)
    store_settings({KEY + name: value for name, value in values.items()}, clock)
    after = {k: v for k, v in values.items() if k != "password"}
    after["password_changed"] = bool(password)
    audit.record(actor, "settings.mail", clock, before=before, after=after)
    db.session.commit()
    return load_mail_settings()


@dataclass(frozen=True)
class Outgoing:
    """A rendered message waiting to be delivered; ``log_id`` is its e-mail log entry.
    ``attachments`` holds ``(filename, content_type, data)`` triples."""

    log_id: int
    recipient: str
    subject: str
    text: str
    html: str
    attachments: tuple[tuple[str, str, bytes], ...] = ()


def compose(
    template: str,
    recipient: str,
    language: str,
    clock: Clock,
    *,
    customer_id: int | None = None,
    invoice_id: int | None = None,
    **context,
) -> Outgoing:
    """Render ``template`` in ``language`` and record it in the e-mail log as queued, under
    ``customer_id`` and the invoice it is about (``invoice_id``) where it has them.

    ``context`` fills the template; ``name`` is the recipient's name for the greeting (a
    person's name, never their address; left out or empty, the greeting is neutral). The
    product's name (``product``) and address (``public_url``) are added unless given; the
    signature (``signature``) always comes from the settings (``seller_name``).
    """
    if template not in TEMPLATES:
        raise ValueError(f"unknown e-mail template {template}")
    if language not in Language.codes():
        language = Language.EN.value
    context.setdefault("public_url", _app_config()["PUBLIC_URL"])
    context.setdefault("product", _app_config()["PRODUCT_NAME"])
    context["signature"] = seller_name(_app_config()["PRODUCT_NAME"])
    base = f"email/{language}/{template}"
    with force_locale(language):  # dates and amounts in the templates: the recipient's format
        for key, value in context.items():
            if isinstance(value, datetime):
                context[key] = moment_text(value)  # in the MSP's time zone
            elif isinstance(value, date):
                context[key] = format_date(value, "long")
        subject = " ".join(render_template(f"{base}.subject.txt", **context).split())
        text = render_template(f"{base}.txt", **context)
        html = render_template(f"{base}.html", **context)
    log = EmailLog(
        created_at=clock.now(),
        recipient=recipient,
        subject=subject[:300],
        template=template,
        language=language,
        customer_id=customer_id,
        invoice_id=invoice_id,
    )
    db.session.add(log)
    db.session.commit()
    return Outgoing(log.id, recipient, subject, text, html)


def deliver(message: Outgoing, clock: Clock, final_attempt: bool = True) -> None:
    """Send over SMTP and mark the log entry sent. On failure the entry records the error
    (``failed`` on the final attempt) and the exception propagates so the job is retried. A
    mail server saved in the admin is checked again (``check_mail_host``): its name may
    resolve elsewhere now."""
    log = db.session.get(EmailLog, message.log_id)
    settings = load_mail_settings()
    try:
        if not settings.configured:
            raise MailNotConfigured("no mail server is configured")
        if get_setting(KEY + "host"):
            check_mail_host(settings.host, settings.port)
        state = Mail().init_mail(
            {
                "MAIL_SERVER": settings.host,
                "MAIL_PORT": settings.port,
                "MAIL_USE_TLS": settings.tls_mode == "starttls",
                "MAIL_USE_SSL": settings.tls_mode == "ssl",
                "MAIL_USERNAME": settings.username or None,
                "MAIL_PASSWORD": settings.password or None,
                "MAIL_DEFAULT_SENDER": settings.sender,
                "MAIL_SUPPRESS_SEND": False,
            }
        )
        mail = Message(
            subject=message.subject,
            recipients=[message.recipient],
            body=message.text,
            html=message.html,
            sender=settings.sender,
        )
        for filename, content_type, data in message.attachments:
            mail.attach(filename, content_type, data)
        with Connection(state) as connection:
            connection.send(mail)
    except Exception as error:
        logger.warning("e-mail %s not delivered: %r", message.log_id, error)
        if log is not None:
            log.error = failure_reason(error)
            log.state = EmailState.FAILED.value if final_attempt else EmailState.QUEUED.value
            db.session.commit()
        raise
    if log is not None:
        log.state = EmailState.SENT.value
        log.sent_at = clock.now()
        log.error = ""
        db.session.commit()


def mark_undeliverable(log_id: int, reason: str = "queue_unavailable") -> None:
    """The message could not even be queued (e.g. Redis unreachable)."""
    log = db.session.get(EmailLog, log_id)
    if log is not None:
        log.state = EmailState.FAILED.value
        log.error = reason
        db.session.commit()
