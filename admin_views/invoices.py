"""Billing → Invoices: every invoice and credit note, its PDF, credit notes, bank payments and
card retries (SPEC §8). Finalized invoices are never edited; corrections are credit notes."""

from __future__ import annotations

from datetime import date

from flask import Response, abort, flash, g, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_babel import format_currency, format_date, lazy_gettext, ngettext
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from markupsafe import Markup
from redis.exceptions import RedisError
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from billing.invoicing.credit_notes import create_credit_note
from billing.invoicing.drafting import redraft_invoice
from billing.invoicing.invoice_facts import invoice_history
from billing.invoicing.invoice_mail import request_resend
from billing.invoicing.invoice_payment import mark_paid, retry_payment
from billing.kernel.errors import DomainError
from billing.kernel.i18n import month_text
from billing.kernel.permissions import Permission
from billing.payments.payment_failures import describe as describe_payment_failure
from billing.payments.receivables import available_actions, credited_in_full, refusal
from jobs.invoices import queue_invoice_email
from models import Invoice, db

from .actions import INVOICE_ACTIONS, RecordActions
from .auth import clock, site, staff_actor
from .badges import invoice_badge
from .base import SecureModelView
from .customers import ChoiceFilter
from .filters import InLastDaysFilter
from .labels import (
    ATTEMPT_STATE_LABELS,
    EMAIL_STATE_LABELS,
    EMAIL_TEMPLATE_LABELS,
    PAYMENT_LABELS,
)
from .labels import INVOICE_KIND_LABELS as KIND_LABELS
from .labels import INVOICE_STATE_LABELS as STATE_LABELS
from .navigation import return_url, with_highlight

#: the words the details page shows for stored codes (admin/_customer_macros.html's ``badge``)
DETAIL_LABELS = {
    "payment": PAYMENT_LABELS,
    "attempt_state": ATTEMPT_STATE_LABELS,
    "email_state": EMAIL_STATE_LABELS,
    "email_template": EMAIL_TEMPLATE_LABELS,
}


class CreditNoteForm(FlaskForm):
    reason = TextAreaField(
        lazy_gettext("Reason"),
        validators=[
            DataRequired(message=lazy_gettext("Please give a reason for the credit note.")),
            Length(max=500),
        ],
    )


def _period_options():
    periods = db.session.scalars(
        db.select(Invoice.period).distinct().order_by(Invoice.period.desc()).limit(120)
    )
    return [(p.isoformat(), month_text(p)) for p in periods]


def _money(view, context, model, name):
    return format_currency(getattr(model, name), model.currency)


def _number(view, context, model, name):
    label = model.number or _("draft")
    return Markup('<a href="{}">{}</a>').format(view.record_link(model.id), label)


def _customer(view, context, model, name):
    return Markup('<a href="{}">{}</a>').format(
        url_for("customer.details_view", id=model.customer_id), model.billing_name
    )


def _state(view, context, model, name):
    return invoice_badge(model.state, model.id in g.get("credited_invoices", ()))


def _heading(invoice: Invoice) -> str:
    """The invoice's name on its page and in the browser tab: its type and number, or for a
    draft (not numbered yet) the customer and month."""
    if invoice.number:
        return f"{KIND_LABELS.get(invoice.kind, invoice.kind)} {invoice.number}"
    return _(
        "Draft for %(name)s, %(month)s",
        name=invoice.billing_name,
        month=month_text(invoice.period),
    )


def _resend_email(invoice_id: int) -> None:
    """Let billing allow the invoice to be e-mailed again, then queue its e-mail job; a queue
    that is down refuses the row like a domain rule would (it can be resent later)."""
    request_resend(invoice_id, staff_actor(), clock())
    try:
        queue_invoice_email(invoice_id)
    except RedisError as error:
        raise DomainError(_("The e-mail could not be queued; please try again later.")) from error


class PeriodFilter(ChoiceFilter):
    def validate(self, value) -> bool:
        try:
            date.fromisoformat(value)
        except (TypeError, ValueError):
            return False
        return True

    def apply(self, query, value, alias=None):
        return query.filter(Invoice.period == date.fromisoformat(value))


invoice_action = INVOICE_ACTIONS.endpoint


class InvoiceAdmin(RecordActions, SecureModelView):
    permission = Permission.READ
    action_permission = Permission.MANAGE_BILLING
    # only drafts are ever removed: by a redraft, or by the month's run drafting again
    gone_message = lazy_gettext(
        "This draft does not exist (any more); it may have been drafted again already."
    )
    list_template = "admin/invoice_list.html"
    details_template = "admin/invoice_details.html"
    can_view_details = True
    column_list = [
        "number",
        "billing_name",
        "period",
        "kind",
        "state",
        "payment_method",
        "net",
        "vat",
        "gross",
        "finalized_at",
    ]
    column_default_sort = [("period", True), ("id", False)]
    column_sortable_list = ["number", "billing_name", "period", "state", "gross", "finalized_at"]
    column_searchable_list = ["number", "billing_name"]
    column_labels = {
        "number": lazy_gettext("Number"),
        "billing_name": lazy_gettext("Customer"),
        "period": lazy_gettext("Period"),
        "kind": lazy_gettext("Type"),
        "state": lazy_gettext("State"),
        "payment_method": lazy_gettext("Payment method"),
        "net": lazy_gettext("Net"),
        "vat": lazy_gettext("VAT"),
        "gross": lazy_gettext("Total"),
        "finalized_at": lazy_gettext("Date"),
    }
    column_formatters = {
        "number": _number,
        "billing_name": _customer,
        "period": lambda v, c, m, n: month_text(m.period),
        "kind": lambda v, c, m, n: KIND_LABELS.get(m.kind, m.kind),
        "state": _state,
        "payment_method": lambda v, c, m, n: PAYMENT_LABELS.get(m.payment_method, ""),
        "net": _money,
        "vat": _money,
        "gross": _money,
        "finalized_at": lambda v, c, m, n: format_date(m.finalized_at) if m.finalized_at else "",
    }

    def __init__(self, database, **kwargs):
        super().__init__(Invoice, database, **kwargs)

    column_filters = [
        PeriodFilter(Invoice.period, lazy_gettext("Period"), options=_period_options, key="period"),
        ChoiceFilter(
            Invoice.state,
            lazy_gettext("State"),
            options=lambda: list(STATE_LABELS.items()),
            key="state",
        ),
        ChoiceFilter(
            Invoice.payment_method,
            lazy_gettext("Payment method"),
            options=lambda: list(PAYMENT_LABELS.items()),
            key="payment_method",
        ),
        ChoiceFilter(
            Invoice.kind,
            lazy_gettext("Type"),
            options=lambda: list(KIND_LABELS.items()),
            key="kind",
        ),
        InLastDaysFilter(Invoice.finalized_at, lazy_gettext("Date"), key="date"),
    ]

    def get_list(self, *args, **kwargs):
        count, rows = super().get_list(*args, **kwargs)
        g.credited_invoices = credited_in_full([row.id for row in rows])
        return count, rows

    @action(
        "mark_paid",
        lazy_gettext("Mark paid"),
        lazy_gettext("Mark the selected invoices paid (payment received by bank transfer)?"),
    )
    def action_mark_paid(self, ids):
        self.apply_to_selected(
            ids,
            lambda invoice_id: mark_paid(invoice_id, staff_actor(), clock()),
            lambda count: ngettext(
                "%(num)d invoice marked paid.", "%(num)d invoices marked paid.", count
            ),
        )

    @action("resend_email", lazy_gettext("Resend e-mail"))
    def action_resend_email(self, ids):
        self.apply_to_selected(
            ids,
            _resend_email,
            lambda count: ngettext(
                "The e-mail of %(num)d invoice is on its way again.",
                "The e-mails of %(num)d invoices are on their way again.",
                count,
            ),
        )

    def get_query(self):
        customer = request.args.get("customer_id", type=int)
        query = super().get_query()
        return query.filter(Invoice.customer_id == customer) if customer else query

    def get_count_query(self):
        customer = request.args.get("customer_id", type=int)
        query = super().get_count_query()
        return query.filter(Invoice.customer_id == customer) if customer else query

    def render(self, template, **kwargs):
        kwargs["credit_form"] = kwargs.get("credit_form") or CreditNoteForm(formdata=None)
        kwargs["kind_labels"] = KIND_LABELS
        model = kwargs.get("model")
        if isinstance(model, Invoice):
            kwargs["heading"] = _heading(model)
            kwargs["list_url"] = with_highlight(self.list_url(), model.id)
            kwargs["history"] = invoice_history(model.id, clock())
            kwargs["labels"] = DETAIL_LABELS
            kwargs["state_badge"] = invoice_badge(model.state, bool(credited_in_full([model.id])))
            kwargs["actions"] = INVOICE_ACTIONS.links(
                model.id, available_actions(model), return_to=return_url()
            )
        return super().render(template, **kwargs)

    def _invoice(self, invoice_id: int) -> Invoice:
        invoice = db.session.get(Invoice, invoice_id)
        if invoice is None:
            abort(404)
        return invoice

    def action_record(self, invoice_id: int) -> Invoice:
        return self._invoice(invoice_id)

    def applicable_actions(self, invoice: Invoice) -> list[str]:
        return available_actions(invoice)

    def refusal_reason(self, invoice: Invoice, key: str) -> str | None:
        return refusal(invoice, key)

    @expose("/<int:invoice_id>/pdf/")
    @invoice_action("pdf")
    def pdf_view(self, invoice: Invoice):
        from billing.invoicing.invoice_pdf import (
            invoice_filename,
            record_download,
            render_invoice_pdf,
        )

        document = render_invoice_pdf(invoice.id, site())
        record_download(invoice, staff_actor(), clock())
        return Response(
            document,
            mimetype="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="{invoice_filename(invoice)}"',
                "Cache-Control": "no-store",
            },
        )

    @expose("/<int:invoice_id>/credit-note/", methods=("POST",))
    @invoice_action("credit_note")
    def credit_note_view(self, invoice: Invoice):
        form = CreditNoteForm()
        if not form.validate_on_submit():
            for errors in form.errors.values():
                for message in errors:
                    flash(message, "error")
            return self.back(invoice.id)
        try:
            note = create_credit_note(invoice.id, form.reason.data, staff_actor(), clock())
        except DomainError as error:
            flash(error.message, "error")
            return self.back(invoice.id)
        flash(
            _(
                "Credit note %(number)s created for invoice %(invoice)s.",
                number=note.number,
                invoice=invoice.number,
            ),
            "success",
        )
        return redirect(self.record_url(note.id, return_url()))

    @expose("/<int:invoice_id>/redraft/", methods=("POST",))
    @invoice_action("redraft")
    def redraft_view(self, invoice: Invoice):
        invoice_id = invoice.id
        if not FlaskForm().validate_on_submit():
            abort(400)
        try:
            new = redraft_invoice(invoice.id, staff_actor(), clock(), site())
        except DomainError as error:
            flash(error.message, "error")
            # a redraft sent twice: the first one deleted this draft
            return self.back(invoice_id)
        if new is None:
            flash(_("The customer has nothing to bill for this month any more."), "success")
            return redirect(self.list_url())
        flash(_("The draft was computed again from the current data."), "success")
        return self.back(new.id)

    @expose("/<int:invoice_id>/mark-paid/", methods=("POST",))
    @invoice_action("mark_paid")
    def mark_paid_view(self, invoice: Invoice):
        if not FlaskForm().validate_on_submit():
            abort(400)
        try:
            mark_paid(invoice.id, staff_actor(), clock())
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("Invoice %(number)s is marked paid.", number=invoice.number), "success")
        return self.back(invoice.id)

    @expose("/<int:invoice_id>/retry-payment/", methods=("POST",))
    @invoice_action("retry_payment")
    def retry_payment_view(self, invoice: Invoice):
        if not FlaskForm().validate_on_submit():
            abort(400)
        try:
            attempt = retry_payment(invoice.id, staff_actor(), clock())
        except DomainError as error:
            flash(error.message, "error")
        else:
            if attempt.state == "succeeded":
                flash(_("The card was charged; the invoice is paid."), "success")
            else:
                flash(
                    _(
                        "The card was declined again: %(error)s",
                        error=describe_payment_failure(attempt.error),
                    ),
                    "error",
                )
        return self.back(invoice.id)
