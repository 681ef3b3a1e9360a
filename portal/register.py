"""Portal → Register (SPEC §10, seed 3.5.1): self-registration when the Self-Service settings
allow it (otherwise the page and its POST answer 404), and the e-mail confirmation link, whose
page sets the password."""

from __future__ import annotations

from functools import wraps

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, lazy_gettext
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import Length

from billing.customers.accounts import recipient_language
from billing.customers.addresses import AddressInput
from billing.customers.registration import (
    Registration,
    confirm_registration,
    find_confirmation,
    registration_enabled,
)
from billing.customers.registration import register as register_customer
from billing.kernel.countries import country_name
from billing.kernel.errors import DomainError, NotFound
from extensions import continue_in_language, csrf, open_link_in_language, talisman
from jobs.mail import send

from . import bp
from .forms import LANGUAGE_CHOICES, CompanyAddressForm, form_error
from .security import (
    MAIL_LINK_PER_EMAIL,
    MAIL_LINK_PER_IP,
    RESET_PER_IP,
    client_ip,
    clock,
    throttle,
)


class RegisterForm(CompanyAddressForm):
    contact_name = StringField(lazy_gettext("Your name"), [Length(max=200)])
    email = EmailField(lazy_gettext("E-mail"), [Length(max=320)])
    language = SelectField(lazy_gettext("Language"), choices=LANGUAGE_CHOICES)
    accept_terms = BooleanField(lazy_gettext("I accept the terms and conditions."))


class ConfirmForm(FlaskForm):
    """The password of the new account: confirming is a POST, so a mail scanner's GET changes
    nothing."""

    password = PasswordField(lazy_gettext("Password"))
    password_again = PasswordField(lazy_gettext("Repeat password"))


def _open_only(view):
    """404 for the page and its POST while self-registration is switched off (checked before
    the rate limit, so a closed registration never answers anything else)."""

    @wraps(view)
    def guarded(*args, **kwargs):
        if not registration_enabled():
            abort(404)
        return view(*args, **kwargs)

    return guarded


@bp.context_processor
def registration_link():
    """``registration_open()`` for the sign-in page's "Register" link (asked only there)."""
    return {"registration_open": registration_enabled}


def _registration(form: RegisterForm) -> Registration:
    address = AddressInput(
        **{
            name: getattr(form, name).data or ""
            for name in (
                "company_name",
                "street",
                "street2",
                "postal_code",
                "city",
                "state",
                "country",
                "phone",
                "vat_id",
            )
        }
    )
    return Registration(
        email=form.email.data or "",
        contact_name=form.contact_name.data or "",
        accept_terms=bool(form.accept_terms.data),
        address=address,
        language=form.language.data or "en",
    )


# Exempt from the app-wide CSRF check, which runs first, so that a closed registration answers
# 404 to every POST, with or without a token; an open one checks the token before anything else.
@csrf.exempt
@bp.route("/register", methods=("GET", "POST"))
@_open_only
@throttle(MAIL_LINK_PER_IP, MAIL_LINK_PER_EMAIL)
def register():
    if request.method == "POST":
        csrf.protect()
    home = current_app.config["HOME_COUNTRY"]
    form = RegisterForm(country=home, language=str(get_locale() or "en")[:2])
    if form.validate_on_submit():
        try:
            result = register_customer(_registration(form), clock(), home, client_ip())
        except NotFound:
            abort(404)
        except DomainError as error:
            form_error(form, error)
        else:
            if result.message is not None:
                send(result.message)
            return render_template(
                "portal/message.html",
                title=_("Please confirm your e-mail address"),
                message=_(
                    "We have sent an e-mail to %(email)s. Open the link in it to confirm your "
                    "address and choose your password; then you can sign in.",
                    email=form.email.data.strip(),
                ),
            )
    return render_template(
        "portal/register.html", form=form, home_country_name=country_name(home) or home
    )


def _link_problem(error: DomainError):
    if isinstance(error, NotFound):
        return render_template(
            "portal/message.html", title=_("Link not valid"), message=error.message
        ), 404
    return render_template(
        "portal/message.html", title=_("Link expired"), message=error.message
    ), 410


@bp.route("/register/confirm/<token>", methods=("GET", "POST"))
@talisman(referrer_policy="no-referrer")
@throttle(RESET_PER_IP)
def register_confirm(token: str):
    """Confirm the e-mail address and choose the password; afterwards the main user signs in.
    In the language the registration was made in, unless the visitor chose one."""
    try:
        user = find_confirmation(token, clock())
    except DomainError as error:
        return _link_problem(error)
    language = recipient_language(user)
    open_link_in_language(language)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            confirmed = confirm_registration(
                token,
                form.password.data or "",
                form.password_again.data or "",
                clock(),
                client_ip(),
            )
        except NotFound as error:
            return _link_problem(error)
        except DomainError as error:
            form_error(form, error)
        else:
            continue_in_language(language)
            flash(_("Your e-mail address is confirmed. Please sign in."), "success")
            return redirect(url_for("portal.login", email=confirmed.email))
    return render_template(
        "portal/register_confirm.html",
        form=form,
        email=user.email,
        company=user.customer.company_name,
    )
