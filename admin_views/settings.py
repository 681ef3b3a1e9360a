"""Settings → Mail server (SPEC §7): admin only; the password is never shown again."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_login import current_user

from billing.kernel.errors import DomainError
from billing.kernel.mail import compose, load_mail_settings, save_mail_settings
from billing.kernel.permissions import Permission
from billing.kernel.secrets import mask
from jobs.mail import send

from .auth import clock, staff_actor
from .base import SecureBaseView
from .customer_actions import field_error
from .forms import MailSettingsForm, TestMailForm


class MailSettingsView(SecureBaseView):
    permission = Permission.MANAGE_SETTINGS

    @expose("/", methods=("GET", "POST"))
    def index(self):
        try:
            current = load_mail_settings()
        except DomainError as error:
            flash(error.message, "error")
            current = None
        form = MailSettingsForm(
            obj=current,
            data=None,
        )
        test_form = TestMailForm(recipient=current_user.email)
        if form.validate_on_submit():
            try:
                save_mail_settings(
                    form.host.data,
                    form.port.data,
                    form.tls_mode.data,
                    form.username.data,
                    form.password.data,
                    form.sender_name.data,
                    form.sender_address.data,
                    staff_actor(),
                    clock(),
                )
            except DomainError as error:
                field_error(form, error)
            else:
                flash(_("The mail settings were saved."), "success")
                return redirect(url_for(".index"))
        form.password.data = ""
        return self.render(
            "admin/mail_settings.html",
            form=form,
            test_form=test_form,
            password_mask=mask(current.password) if current else "",
            configured=bool(current and current.configured),
        )

    @expose("/test/", methods=("POST",))
    def send_test(self):
        form = TestMailForm()
        if not form.validate_on_submit():
            flash(_("Please enter a valid e-mail address."), "error")
            return redirect(url_for(".index"))
        settings = load_mail_settings()
        if not settings.configured:
            flash(_("Save the mail server settings first."), "error")
            return redirect(url_for(".index"))
        message = compose(
            "test",
            form.recipient.data,
            current_user.language or "en",
            clock(),
            sender=current_user.email,
        )
        if send(message):
            flash(
                _(
                    "A test e-mail to %(email)s is on its way; its delivery shows in the e-mail "
                    "log.",
                    email=form.recipient.data,
                ),
                "success",
            )
        else:
            flash(_("The e-mail could not be queued; see the e-mail log."), "error")
        return redirect(url_for(".index"))
