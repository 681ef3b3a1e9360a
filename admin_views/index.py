"""The admin start page (the dashboard) and staff sign-in, sign-out and language choice; failed
sign-ins are limited per address and per account."""

from __future__ import annotations

from typing import ClassVar

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_admin import AdminIndexView, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from billing.access import staff as staff_service
from billing.kernel.errors import AuthenticationFailed
from billing.kernel.permissions import Permission
from extensions import EMAIL_MAX, choose_language, kept_language, limiter, typed_key

from .auth import client_ip, clock, current_staff, safe_next, staff_can
from .dashboard import DashboardMixin


def _failed_sign_in(response) -> bool:
    """Only failed sign-ins count towards the limits (a success answers with a redirect)."""
    return not 300 <= response.status_code < 400


def _per_ip_limit() -> str:
    return current_app.config["SIGN_IN_LIMIT_PER_IP"]


def _per_account_limit() -> str:
    return current_app.config["SIGN_IN_LIMIT_PER_ACCOUNT"]


def _submitted_email() -> str:
    """Per account: the address in the form body (the only place the sign-in reads it)."""
    return typed_key("staff-sign-in", request.form.get("email"))


class LoginForm(FlaskForm):
    email = EmailField(lazy_gettext("E-mail"), validators=[DataRequired(), Length(max=EMAIL_MAX)])
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired()])


class DashboardView(DashboardMixin, AdminIndexView):
    """The admin start page (the dashboard, for staff who may read); anonymous visitors are
    sent to sign-in."""

    permission: ClassVar[Permission] = Permission.READ

    def is_accessible(self) -> bool:
        return staff_can(self.permission)

    def inaccessible_callback(self, name, **kwargs):
        if current_staff() is None:
            return redirect(url_for("admin.login_view", next=request.full_path))
        abort(403)

    def is_visible(self) -> bool:
        return True

    def _handle_view(self, name, **kwargs):
        if name in {"login_view", "logout_view", "language_view"}:
            return None
        return super()._handle_view(name, **kwargs)

    @expose("/login/", methods=("GET", "POST"))
    @limiter.limit(_per_ip_limit, methods=["POST"], deduct_when=_failed_sign_in)
    @limiter.limit(
        _per_account_limit,
        key_func=_submitted_email,
        methods=["POST"],
        deduct_when=_failed_sign_in,
    )
    def login_view(self):
        form = LoginForm()
        target = safe_next(request.args.get("next"), url_for("admin.index"))
        if current_staff() is not None:
            return redirect(target)
        if form.validate_on_submit():
            try:
                staff = staff_service.authenticate_staff(
                    form.email.data, form.password.data, clock(), client_ip()
                )
            except AuthenticationFailed as error:
                flash(error.message, "error")
            else:
                kept = kept_language()
                session.clear()
                session.update(kept)
                if "language" not in kept and staff.language:
                    session["language"] = staff.language
                login_user(staff)
                return redirect(target)
        return self.render("admin/login.html", form=form)

    @expose("/logout/", methods=("POST",))
    def logout_view(self):
        staff = current_staff()
        if staff is not None:
            staff_service.sign_out_everywhere(staff.id, clock(), client_ip())
        logout_user()
        session.clear()
        flash(_("You have been signed out."), "info")
        return redirect(url_for("admin.login_view"))

    @expose("/language/", methods=("POST",))
    def language_view(self):
        language = request.form.get("language", "")
        if language in ("en", "de"):
            choose_language(language)
        return redirect(safe_next(request.form.get("next"), url_for("admin.index")))
