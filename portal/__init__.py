"""The customer portal blueprint (SPEC §10): invite acceptance, sign-in and the start page
(``billing.reporting.account_overview``); the other pages are the feature modules below."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from billing.customers import onboarding, sign_in
from billing.customers.accounts import recipient_language
from billing.kernel.errors import AuthenticationFailed, DomainError, NotFound
from billing.reporting.account_overview import account_overview
from extensions import EMAIL_MAX, continue_in_language, open_link_in_language, talisman
from jobs.mail import send
from models import User

bp = Blueprint("portal", __name__, url_prefix="/portal")

# the guards need ``bp`` (for the 429 page), the views below need the guards
from .security import safe_next, sign_in_per_email, sign_in_per_ip, site, throttle  # noqa: E402


class InviteForm(FlaskForm):
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired()])
    password_again = PasswordField(lazy_gettext("Repeat password"), validators=[DataRequired()])


class LoginForm(FlaskForm):
    email = EmailField(lazy_gettext("E-mail"), validators=[DataRequired(), Length(max=EMAIL_MAX)])
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired()])


def _clock():
    return current_app.config["CLOCK"]


def _portal_user() -> User | None:
    user = current_user
    if getattr(user, "is_authenticated", False) and isinstance(user, User):
        return user
    return None


@bp.route("/invite/<token>", methods=("GET", "POST"))
@talisman(referrer_policy="no-referrer")
def invite(token: str):
    """Set a password from the invite link (single use, expiring), in the invited person's
    language unless the visitor chose one."""
    try:
        user = onboarding.find_invite(token, _clock())
    except NotFound as error:
        return render_template(
            "portal/message.html", title=_("Invite not valid"), message=error.message
        ), 404
    except DomainError as error:
        return render_template(
            "portal/message.html", title=_("Invite expired"), message=error.message
        ), 410
    language = recipient_language(user)
    open_link_in_language(language)
    form = InviteForm()
    if form.validate_on_submit():
        try:
            registered, welcome = onboarding.accept_invite(
                token,
                form.password.data,
                form.password_again.data,
                _clock(),
                request.remote_addr or "",
            )
        except NotFound as error:
            return render_template(
                "portal/message.html", title=_("Invite not valid"), message=error.message
            ), 404
        except DomainError as error:
            field = getattr(form, error.field or "", None)
            if field is not None:
                field.errors = [error.message]
            else:
                flash(error.message, "error")
        else:
            send(welcome)
            continue_in_language(language)
            flash(_("Your account is active. Please sign in."), "success")
            return redirect(url_for("portal.login", email=registered.email))
    return render_template(
        "portal/invite.html", form=form, email=user.email, company=user.customer.company_name
    )


@bp.route("/login", methods=("GET", "POST"))
@throttle(sign_in_per_ip, sign_in_per_email, failures_only=True)
def login():
    # the link in the invite e-mail fills the address in; a submission reads the form only,
    # which the per-account limit counts
    form = LoginForm() if request.method == "POST" else LoginForm(email=request.args.get("email"))
    target = safe_next(request.args.get("next"), url_for("portal.home"))
    if _portal_user() is not None:
        return redirect(target)
    if form.validate_on_submit():
        try:
            user = sign_in.authenticate_user(
                form.email.data, form.password.data, _clock(), request.remote_addr or ""
            )
        except AuthenticationFailed as error:
            flash(error.message, "error")
        else:
            language = session.get("language")
            session.clear()
            session["language"] = user.language or user.customer.language or language or "en"
            login_user(user)
            return redirect(target)
    return render_template("portal/login.html", form=form)


@bp.route("/logout", methods=("POST",))
def logout():
    user = _portal_user()
    if user is not None:
        sign_in.end_user_sessions(user.id, _clock(), request.remote_addr or "")
    logout_user()
    session.clear()
    flash(_("You have been signed out."), "info")
    return redirect(url_for("portal.login"))


@bp.route("/")
@login_required
def home():
    user = _portal_user()
    if user is None:
        return redirect(url_for("portal.login"))
    return render_template(
        "portal/home.html",
        user=user,
        overview=account_overview(user.customer_id, _clock(), site()),
    )


# One line per feature module, so that features can be added independently.
# isort: off
from . import account, invoices, layout, profile, team  # noqa: E402,F401  (routes on ``bp``)
from . import payment  # noqa: E402,F401  (routes on ``bp``)
from . import register  # noqa: E402,F401  (routes on ``bp``)
from . import subscription  # noqa: E402,F401  (routes on ``bp``)
from . import impersonation  # noqa: E402,F401  (routes on ``bp``)
# isort: on
