"""Billing → Payment Methods (seed 3.6): Billing Type, Status, activation, Stripe keys."""

from __future__ import annotations

from flask import current_app, flash, redirect, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import Length

from billing.catalog.payment_methods import set_active
from billing.kernel.errors import DomainError
from billing.kernel.permissions import Permission
from billing.kernel.secrets import mask
from billing.kernel.settings import get_setting
from billing.payments.stripe_account import (
    WEBHOOK_SECRET,
    save_stripe_keys,
    save_webhook_secret,
    stored_publishable_key,
    stored_secret_key,
)
from models import PaymentMethod, db

from .auth import clock, staff_actor
from .base import SecureBaseView
from .customer_actions import field_error
from .labels import PAYMENT_LABELS


class StripeKeysForm(FlaskForm):
    secret_key = PasswordField(lazy_gettext("ApiKey"), [Length(max=255)])
    publishable_key = StringField(lazy_gettext("Public Access Key"), [Length(max=255)])


class WebhookForm(FlaskForm):
    webhook_secret = PasswordField(lazy_gettext("Webhook signing secret"), [Length(max=255)])


class ToggleForm(FlaskForm):
    code = HiddenField()
    active = HiddenField()


class PaymentMethodsView(SecureBaseView):
    permission = Permission.MANAGE_SETTINGS

    def _page(self, keys_form, webhook_form=None):
        methods = db.session.scalars(db.select(PaymentMethod).order_by(PaymentMethod.position))
        try:
            secret_mask = mask(stored_secret_key())
        except DomainError as error:
            flash(error.message, "error")
            secret_mask = ""
        return self.render(
            "admin/payment_methods.html",
            methods=list(methods),
            labels=PAYMENT_LABELS,
            keys_form=keys_form,
            toggle=ToggleForm(),
            secret_mask=secret_mask,
            webhook_form=webhook_form or WebhookForm(),
            webhook_url=current_app.config["PUBLIC_URL"] + "/stripe/webhook",
            webhook_configured=bool(get_setting(WEBHOOK_SECRET)),
        )

    @expose("/")
    def index(self):
        return self._page(StripeKeysForm(publishable_key=stored_publishable_key()))

    @expose("/toggle/", methods=("POST",))
    def toggle(self):
        form = ToggleForm()
        if form.validate_on_submit():
            try:
                method = set_active(form.code.data, form.active.data == "1", staff_actor(), clock())
            except DomainError as error:
                flash(error.message, "error")
            else:
                label = PAYMENT_LABELS.get(method.code, method.code)
                flash(
                    _("%(method)s is active.", method=label)
                    if method.active
                    else _(
                        "%(method)s is inactive: existing subscriptions keep it, new ones "
                        "cannot choose it.",
                        method=label,
                    ),
                    "success",
                )
        return redirect(url_for(".index"))

    @expose("/stripe/", methods=("POST",))
    def stripe_keys(self):
        form = StripeKeysForm()
        if form.validate_on_submit():
            try:
                save_stripe_keys(
                    form.secret_key.data, form.publishable_key.data, staff_actor(), clock()
                )
            except DomainError as error:
                field_error(form, error)
            else:
                flash(_("Stripe accepted the keys; they were saved."), "success")
                return redirect(url_for(".index"))
        form.secret_key.data = ""
        return self._page(form)

    @expose("/webhook/", methods=("POST",))
    def webhook_secret(self):
        form = WebhookForm()
        if form.validate_on_submit():
            try:
                save_webhook_secret(form.webhook_secret.data, staff_actor(), clock())
            except DomainError as error:
                field_error(form, error)
            else:
                flash(_("The webhook signing secret was saved."), "success")
                return redirect(url_for(".index"))
        return self._page(StripeKeysForm(publishable_key=stored_publishable_key()), form)
