"""Billing → Stripe events: the webhook inbox with processing state and Replay (SPEC §12)."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from markupsafe import Markup

from billing.kernel.errors import DomainError
from billing.kernel.permissions import Permission
from billing.payments.stripe_webhooks import process_event
from models import EventState, StripeEvent

from .auth import clock, requires, staff_can
from .base import SecureModelView

STATE_LABELS = {
    EventState.RECEIVED.value: lazy_gettext("received"),
    EventState.PROCESSED.value: lazy_gettext("processed"),
    EventState.IGNORED.value: lazy_gettext("ignored"),
    EventState.FAILED.value: lazy_gettext("failed"),
}


def _code(view, context, event, name) -> Markup:
    """Stripe's own words (the event's id, its type, its payload) are codes, not text."""
    return Markup("<code>{}</code>").format(getattr(event, name))


class StripeEventAdmin(SecureModelView):
    permission = Permission.READ
    list_template = "admin/stripe_event_list.html"
    can_view_details = True
    column_list = ["id", "type", "state", "received_at", "processed_at", "error"]
    column_details_list = ["id", "type", "state", "received_at", "processed_at", "error", "payload"]
    column_default_sort = ("received_at", True)
    column_filters = ["state", "type"]
    column_searchable_list = ["id", "type"]
    column_labels = {
        "id": lazy_gettext("Event"),
        "type": lazy_gettext("Type"),
        "state": lazy_gettext("State"),
        "received_at": lazy_gettext("Received"),
        "processed_at": lazy_gettext("Processed"),
        "error": lazy_gettext("Error"),
        "payload": lazy_gettext("Payload"),
    }
    column_formatters = {
        "id": _code,
        "type": _code,
        "payload": _code,
        "state": lambda view, context, event, name: STATE_LABELS.get(event.state, event.state),
    }

    def __init__(self, database, **kwargs):
        super().__init__(StripeEvent, database, **kwargs)

    def render(self, template, **kwargs):
        kwargs["replay_form"] = FlaskForm()
        kwargs["can_replay"] = staff_can(Permission.MANAGE_BILLING)
        return super().render(template, **kwargs)

    @expose("/replay/<event_id>/", methods=("POST",))
    @requires(Permission.MANAGE_BILLING)
    def replay_view(self, event_id: str):
        if not FlaskForm().validate_on_submit():
            abort(400)
        try:
            event = process_event(event_id, clock())
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(
                _(
                    "Event %(id)s processed again: %(state)s.",
                    id=event.id,
                    state=STATE_LABELS.get(event.state, event.state),
                ),
                "success" if event.state != "failed" else "error",
            )
        return redirect(url_for(".index_view"))
