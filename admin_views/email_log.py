"""The e-mail log: every message the product sent or tried to send (SPEC §7)."""

from __future__ import annotations

from flask_babel import lazy_gettext
from markupsafe import Markup

from billing.kernel.mail import describe_failure
from billing.kernel.permissions import Permission
from models import EmailLog

from .base import SecureModelView
from .labels import EMAIL_STATE_LABELS, EMAIL_TEMPLATE_LABELS, LANGUAGE_LABELS


def _state(view, context, log, name) -> Markup:
    label, style = EMAIL_STATE_LABELS.get(log.state, (log.state, "secondary"))
    return Markup('<span class="badge badge-{}" data-state="{}">{}</span>').format(
        style, log.state, label
    )


def _subject(view, context, log, name) -> Markup:
    """The subject in the language the e-mail was written in (``lang`` for screen readers)."""
    return Markup('<span lang="{}">{}</span>').format(log.language, log.subject)


class EmailLogAdmin(SecureModelView):
    permission = Permission.READ
    can_view_details = True
    column_list = [
        "created_at",
        "recipient",
        "subject",
        "template",
        "language",
        "state",
        "sent_at",
        "error",
    ]
    column_default_sort = ("created_at", True)
    column_searchable_list = ["recipient", "subject"]
    column_filters = ["state", "template", "language"]
    column_labels = {
        "created_at": lazy_gettext("Created"),
        "recipient": lazy_gettext("To"),
        "subject": lazy_gettext("Subject"),
        "template": lazy_gettext("Template"),
        "language": lazy_gettext("Language"),
        "state": lazy_gettext("State"),
        "sent_at": lazy_gettext("Sent"),
        "error": lazy_gettext("Error"),
    }

    column_formatters = {
        "error": lambda view, context, log, name: describe_failure(log.error),
        "state": _state,
        "subject": _subject,
        "template": lambda view, context, log, name: EMAIL_TEMPLATE_LABELS.get(
            log.template, log.template
        ),
        "language": lambda view, context, log, name: LANGUAGE_LABELS.get(
            log.language, log.language
        ),
    }
    column_formatters_detail = column_formatters

    def __init__(self, database, **kwargs):
        super().__init__(EmailLog, database, **kwargs)
