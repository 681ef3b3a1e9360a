"""The demo mailbox: the e-mails a mail sink kept in a Maildir (``MAIL_SINK_MAILDIR``; `make run`
starts one), read for the admin's Settings → Demo mailbox. Only reads; the sink writes.
"""

from __future__ import annotations

import mailbox
import os
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

LIST_LIMIT = 500
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class SinkEntry:
    """One message as the list shows it; ``key`` is its name in the Maildir."""

    key: str
    date: datetime | None
    sender: str
    to: str
    subject: str


@dataclass(frozen=True)
class SinkMessage:
    """One message to read: its text part (None when it has none) and its attachments as
    ``(file name, size in bytes)``."""

    entry: SinkEntry
    text: str | None
    attachments: list[tuple[str, int]] = field(default_factory=list)


def _maildir(path: str) -> mailbox.Maildir | None:
    """The Maildir at ``path``, or None while the sink has not created it."""
    if not path or not all(os.path.isdir(os.path.join(path, sub)) for sub in ("new", "cur")):
        return None
    return mailbox.Maildir(path, create=False)


def _header(message: EmailMessage, name: str) -> str:
    value = message.get(name)
    return str(value) if value is not None else ""


def _entry(key: str, message: EmailMessage) -> SinkEntry:
    header = message.get("Date")
    date = getattr(header, "datetime", None)
    return SinkEntry(
        key=key,
        date=date,
        sender=_header(message, "From"),
        to=_header(message, "To"),
        subject=_header(message, "Subject"),
    )


def _parse(box: mailbox.Maildir, key: str, headers_only: bool) -> EmailMessage | None:
    try:
        with box.get_file(key) as handle:
            return BytesParser(policy=policy.default).parse(handle, headersonly=headers_only)
    except (KeyError, OSError):
        return None  # gone meanwhile


def list_messages(path: str, search: str = "") -> tuple[int, list[SinkEntry]]:
    """``(how many match, the newest LIST_LIMIT of them)``, newest first. ``search`` matches
    sender, recipients and subject (any case)."""
    box = _maildir(path)
    if box is None:
        return 0, []
    needle = search.strip().casefold()
    entries = []
    for key in box.keys():
        message = _parse(box, key, headers_only=True)
        if message is None:
            continue
        entry = _entry(key, message)
        if needle and needle not in f"{entry.sender}\n{entry.to}\n{entry.subject}".casefold():
            continue
        entries.append(entry)
    entries.sort(key=lambda e: (e.date.timestamp() if e.date else 0.0, e.key), reverse=True)
    return len(entries), entries[:LIST_LIMIT]


def _text(part: EmailMessage) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError):
        return (part.get_payload(decode=True) or b"").decode("utf-8", "replace")


def read_message(path: str, key: str) -> SinkMessage | None:
    """The message ``key`` of the Maildir, or None when there is none by that name."""
    box = _maildir(path)
    if box is None or not key or len(key) > MAX_KEY_LENGTH:
        return None
    message = _parse(box, key, headers_only=False)
    if message is None:
        return None
    body = message.get_body(preferencelist=("plain",))
    attachments = [
        (part.get_filename() or "", len(part.get_payload(decode=True) or b""))
        for part in message.iter_attachments()
    ]
    return SinkMessage(_entry(key, message), _text(body) if body else None, attachments)
