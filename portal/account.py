"""Portal: forgotten password, reset link, the account page and the language switch
(SPEC §10, §13)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import login_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from billing.customers import accounts
from billing.kernel.audit import Actor
from billing.kernel.errors import DomainError, NotFound
from extensions import (
    choose_language,
    continue_in_language,
    kept_language,
    open_link_in_language,
    talisman,
)
from jobs.accounts import queue_password_reset
from models import Language

from . import bp
from .forms import LANGUAGE_CHOICES, form_error
from .security import (
    MAIL_LINK_PER_EMAIL,
    MAIL_LINK_PER_IP,
    RESET_PER_IP,
    client_ip,
    clock,
    portal_user,
    safe_next,
    throttle,
    user_required,
)


class ForgotForm(FlaskForm):
    email = EmailField(lazy_gettext("E-mail"), validators=[DataRequired(), Length(max=320)])


class ResetForm(FlaskForm):
    password = PasswordField(lazy_gettext("New password"), validators=[DataRequired()])
    password_again = PasswordField(lazy_gettext("Repeat password"), validators=[DataRequired()])


class AccountForm(FlaskForm):
    name = StringField(lazy_gettext("Name"), validators=[DataRequired(), Length(max=200)])
    language = SelectField(lazy_gettext("Language"), choices=LANGUAGE_CHOICES)


class PasswordForm(FlaskForm):
    current_password = PasswordField(lazy_gettext("Current password"), validators=[DataRequired()])
    password = PasswordField(lazy_gettext("New password"), validators=[DataRequired()])
    password_again = PasswordField(lazy_gettext("Repeat password"), validators=[DataRequired()])


@bp.route("/forgot", methods=("GET", "POST"))
@throttle(MAIL_LINK_PER_IP, MAIL_LINK_PER_EMAIL)
def forgot():
    """Ask for a reset link. The answer, and the work done before it, are the same whether
    the address exists or not: a job decides (``jobs.accounts.password_reset``)."""
    form = ForgotForm()
    if form.validate_on_submit():
        try:
            address = accounts.accept_reset_request(form.email.data)
        except DomainError as error:
            form_error(form, error)
        else:
            queue_password_reset(address, client_ip(), current_app.config["PUBLIC_URL"])
            return render_template(
                "portal/message.html",
                title=_("Check your e-mail"),
                message=_(
                    "If an account exists for this address, we have sent a link to choose a new "
                    "password. The link is valid for one hour."
                ),
            )
    return render_template("portal/forgot.html", form=form)


def _link_problem(error: DomainError):
    status = 404 if isinstance(error, NotFound) else 410
    title = _("Link not valid") if status == 404 else _("Link expired")
    page = render_template("portal/message.html", title=title, message=error.message)
    return page, status


@bp.route("/reset/<token>", methods=("GET", "POST"))
@talisman(referrer_policy="no-referrer")
@throttle(RESET_PER_IP)
def reset(token: str):
    """Choose a new password through an e-mailed link (single use, one hour), in the language
    of the user it was sent to unless the visitor chose one."""
    try:
        user = accounts.find_reset(token, clock())
    except DomainError as error:
        return _link_problem(error)
    language = accounts.recipient_language(user)
    open_link_in_language(language)
    form = ResetForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(
                token, form.password.data, form.password_again.data, clock(), client_ip()
            )
        except NotFound as error:
            return _link_problem(error)
        except DomainError as error:
            form_error(form, error)
        else:
            continue_in_language(language)
            flash(_("Your password was changed. Please sign in."), "success")
            return redirect(url_for("portal.login", email=user.email))
    return render_template("portal/reset.html", form=form, email=user.email)


def _account_form(user, **kwargs) -> AccountForm:
    language = user.language or user.customer.language or Language.EN.value
    return AccountForm(name=user.name, language=language, **kwargs)


@bp.route("/account", methods=("GET", "POST"))
@user_required
def account():
    """Name and language; the password form posts to ``portal.password``."""
    user = portal_user()
    form = _account_form(user)
    if form.validate_on_submit():
        try:
            accounts.update_account(
                user.id,
                form.name.data,
                form.language.data,
                Actor.user(user, client_ip()),
                clock(),
            )
        except DomainError as error:
            form_error(form, error)
        else:
            choose_language(form.language.data)
            flash(_("Your account was saved."), "success")
            return redirect(url_for("portal.account"))
    return render_template(
        "portal/account.html", form=form, password_form=PasswordForm(formdata=None), user=user
    )


@bp.route("/account/password", methods=("POST",))
@user_required
@throttle(RESET_PER_IP, failures_only=True)
def password():
    """Change the password; every other session of the user ends, this one goes on."""
    user = portal_user()
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            changed = accounts.change_password(
                user.id,
                form.current_password.data,
                form.password.data,
                form.password_again.data,
                Actor.user(user, client_ip()),
                clock(),
            )
        except DomainError as error:
            form_error(form, error)
        else:
            kept = kept_language()
            session.clear()
            session.update(kept)
            login_user(changed)
            flash(_("Your password was changed. Other sessions have been signed out."), "success")
            return redirect(url_for("portal.account"))
    return render_template(
        "portal/account.html",
        form=_account_form(user, formdata=None),
        password_form=form,
        user=user,
    )


@bp.route("/language", methods=("POST",))
def language():
    """The EN/DE switch: kept in the session, and on the account when signed in."""
    choice = request.form.get("language", "")
    if choice in Language.codes():
        choose_language(choice)
        user = portal_user()
        if user is not None:
            accounts.set_language(user.id, choice, Actor.user(user, client_ip()), clock())
    return redirect(safe_next(request.form.get("next"), url_for("portal.home")))
