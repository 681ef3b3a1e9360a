"""Portal: the customer's own invoices and credit notes with their due dates and PDF download
(SPEC §10, §14). Drafts are never shown; another customer's invoice answers 404."""

from __future__ import annotations

from functools import partial

from flask import Response, abort, render_template
from flask_babel import lazy_gettext

from billing.invoicing.customer_invoices import customer_invoice, customer_invoices
from billing.invoicing.invoice_pdf import invoice_filename, record_download, render_invoice_pdf
from billing.invoicing.invoice_texts import period_label
from billing.invoicing.payment_terms import due_date
from billing.kernel.audit import Actor
from billing.kernel.errors import NotFound
from billing.payments.receivables import credited_in_full

from . import bp
from .security import client_ip, clock, portal_user, site, user_required

STATE_LABELS = {
    "finalized": lazy_gettext("Open"),
    "paid": lazy_gettext("Paid"),
    "payment_failed": lazy_gettext("Payment failed"),
    "void": lazy_gettext("Void"),
    ("credit_note", "finalized"): lazy_gettext("Issued"),
    # an unpaid invoice a credit note settled in full: nothing to pay
    "credited": lazy_gettext("Credited"),
}
KIND_LABELS = {"invoice": lazy_gettext("Invoice"), "credit_note": lazy_gettext("Credit note")}


@bp.route("/invoices")
@user_required
def invoices():
    user = portal_user()
    issued = customer_invoices(user.customer_id)
    return render_template(
        "portal/invoices.html",
        invoices=issued,
        credited=credited_in_full([invoice.id for invoice in issued]),
        period_label=period_label,
        due_date=partial(due_date, site=site()),
        state_labels=STATE_LABELS,
        kind_labels=KIND_LABELS,
    )


@bp.route("/invoices/<int:invoice_id>/pdf")
@user_required
def invoice_pdf(invoice_id: int):
    user = portal_user()
    try:
        invoice = customer_invoice(user.customer_id, invoice_id)
    except NotFound:
        abort(404)
    document = render_invoice_pdf(invoice.id, site())
    record_download(invoice, Actor.user(user, client_ip()), clock())
    return Response(
        document,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{invoice_filename(invoice)}"',
            "Cache-Control": "no-store",
        },
    )
