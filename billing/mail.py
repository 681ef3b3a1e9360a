"""E-mail (SPEC §7): SMTP settings, composing messages in the recipient's language, the log.

Messages are rendered here, recorded in the e-mail log as ``queued`` and handed to a job that
calls ``deliver``. Templates live in ``templates/email/<language>/<name>.{subject.txt,txt,html}``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from email_validator import EmailNotValidError, validate_email
from flask import current_app, render_template
from flask_mail import Connection, Mail, Message

from models import EmailLog, EmailState, Language, db

from . import audit
from .clock import Clock
from .errors import DomainError
from .i18n import _
from .secrets import decrypt, encrypt
from .settings import get_setting

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


@dataclass
class MailSettings:
    host: str = ""
    port: int = 25
    tls_mode: str = "none"
    username: str = ""
    password: str = ""
    sender_name: str = "MSP Billing"
    sender_address: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.host and self.sender_address)

    @property
    def sender(self) -> tuple[str, str]:
        return (self.sender_name, self.sender_address)


def _env_settings() -> MailSettings:
    config = current_app.config
    sender = config.get("MAIL_DEFAULT_SENDER") or ""
    name, address = "MSP Billing", sender
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
        sender_name=name or "MSP Billing",
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
        sender_name=get_setting(KEY + "sender_name", "MSP Billing"),
        sender_address=get_setting(KEY + "sender_address"),
    )


def mail_configured() -> bool:
    return load_mail_settings().configured


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

    Raises DomainError (with ``field``) on a missing host, a port outside 1–65535, an unknown
    TLS mode or an invalid sender address; nothing is stored then.
    """
    from models import Setting

    host = (host or "").strip()
    if not host or any(ch.isspace() for ch in host):
        raise DomainError(_("Please enter the mail server's host name."), field="host")
    try:
        port_no = int(str(port).strip())
    except ValueError:
        raise DomainError(_("The port must be a number from 1 to 65535."), field="port") from None
    if not 1 <= port_no <= 65535:
        raise DomainError(_("The port must be a number from 1 to 65535."), field="port")
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
        "sender_name": (sender_name or "").strip() or "MSP Billing",
        "sender_address": sender,
    }
    if password:
        values["password"] = encrypt(password)
    now = clock.now()
    for name, value in values.items():
        row = db.session.get(Setting, KEY + name)
        if row is None:
            db.session.add(Setting(key=KEY + name, value=value, updated_at=now))
        else:
            row.value, row.updated_at = value, now
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
    **context,
) -> Outgoing:
    """Render ``template`` in ``language`` and record it in the e-mail log as queued."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown e-mail template {template}")
    if language not in Language.codes():
        language = Language.EN.value
    context.setdefault("public_url", current_app.config["PUBLIC_URL"])
    base = f"email/{language}/{template}"
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
    )
    db.session.add(log)
    db.session.commit()
    return Outgoing(log.id, recipient, subject, text, html)


def deliver(message: Outgoing, clock: Clock, final_attempt: bool = True) -> None:
    """Send over SMTP and mark the log entry sent. On failure the entry records the error
    (``failed`` on the final attempt) and the exception propagates so the job is retried."""
    log = db.session.get(EmailLog, message.log_id)
    settings = load_mail_settings()
    try:
        if not settings.configured:
            raise RuntimeError("no mail server is configured")
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
        if log is not None:
            log.error = f"{type(error).__name__}: {error}"[:2000]
            log.state = EmailState.FAILED.value if final_attempt else EmailState.QUEUED.value
            db.session.commit()
        raise
    if log is not None:
        log.state = EmailState.SENT.value
        log.sent_at = clock.now()
        log.error = ""
        db.session.commit()


def mark_undeliverable(log_id: int, error: str) -> None:
    """The message could not even be queued (e.g. Redis unreachable)."""
    log = db.session.get(EmailLog, log_id)
    if log is not None:
        log.state = EmailState.FAILED.value
        log.error = error[:2000]
        db.session.commit()
