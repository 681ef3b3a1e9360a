"""Settings → Invoices: the seller block printed on every invoice and the IP purchase price the
dashboard's cost figures use (admin only)."""

from __future__ import annotations

from flask import current_app, flash, redirect, url_for
from flask_admin import expose
from flask_babel import gettext as _

from billing.errors import DomainError
from billing.invoice_settings import load_invoice_settings, save_invoice_settings
from models import StaffRole

from .auth import clock, staff_actor
from .base import SecureBaseView
from .customer_actions import field_error
from .forms import InvoiceSettingsForm


class InvoiceSettingsView(SecureBaseView):
    allowed_roles = (StaffRole.ADMIN.value,)

    @expose("/", methods=("GET", "POST"))
    def index(self):
        current = load_invoice_settings()
        form = InvoiceSettingsForm(
            data={
                "seller_name": current.seller_name,
                "seller_address": current.seller_address,
                "seller_vat_id": current.seller_vat_id,
                "ip_purchase_price": str(current.ip_purchase_price),
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
                )
            except DomainError as error:
                field_error(form, error)
            else:
                flash(_("The invoice settings were saved."), "success")
                return redirect(url_for(".index"))
        return self.render("admin/invoice_settings.html", form=form)
