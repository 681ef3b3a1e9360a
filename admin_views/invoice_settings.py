"""Settings → Invoices: the seller block and bank account printed on every invoice, the payment
term, and the IP purchase price the dashboard's cost figures use (admin only)."""

from __future__ import annotations

from flask import current_app, flash, redirect, url_for
from flask_admin import expose
from flask_babel import gettext as _

from billing.invoicing.invoice_settings import (
    format_iban,
    load_invoice_settings,
    save_invoice_settings,
)
from billing.kernel.errors import DomainError
from billing.kernel.permissions import Permission

from .auth import clock, staff_actor
from .base import SecureBaseView
from .customer_actions import field_error
from .forms import InvoiceSettingsForm


class InvoiceSettingsView(SecureBaseView):
    permission = Permission.MANAGE_SETTINGS

    @expose("/", methods=("GET", "POST"))
    def index(self):
        current = load_invoice_settings()
        form = InvoiceSettingsForm(
            data={
                "seller_name": current.seller_name,
                "seller_address": current.seller_address,
                "seller_vat_id": current.seller_vat_id,
                "ip_purchase_price": str(current.ip_purchase_price),
                "account_holder": current.account_holder or current.seller_name,
                "iban": format_iban(current.iban),
                "bic": current.bic,
                "bank_name": current.bank_name,
                "payment_term_days": str(current.payment_term_days),
            }
        )
        if form.validate_on_submit():
            try:
                save_invoice_settings(
                    form.seller_name.data,
                    form.seller_address.data,
                    form.seller_vat_id.data,
                    form.ip_purchase_price.data,
                    current_app.config["HOME_COUNTRY"],
                    staff_actor(),
                    clock(),
                    iban=form.iban.data,
                    bic=form.bic.data,
                    bank_name=form.bank_name.data,
                    account_holder=form.account_holder.data,
                    payment_term_days=form.payment_term_days.data,
                )
            except DomainError as error:
                field_error(form, error)
            else:
                flash(_("The invoice settings were saved."), "success")
                return redirect(url_for(".index"))
        return self.render("admin/invoice_settings.html", form=form)
