"""Staff signed in as a customer (SPEC §11): the guard on every portal request, the banner
and "end".

The staff member's own sign-in is kept in the session under ``KEY`` while the browser is
signed in as the customer's main user; ending (or expiry) signs the staff member back in and
returns to the customer's Details page. Read-only sessions refuse every portal POST except
"end" (and sign-out, which ends it too).
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, session, url_for
from flask_babel import force_locale, format_datetime
from flask_babel import gettext as _
from flask_login import login_user, logout_user

from billing.customers import impersonation as service
from billing.kernel import audit
from models import Language

from . import bp
from .security import client_ip, clock, portal_user

KEY = service.SESSION_KEY
ENDING = ("portal.end_impersonation", "portal.logout")


def _back_to_staff(data: dict, impersonation, message: str, category: str):
    """Sign the staff member back in and show the customer's Details page, or, when their
    staff sign-in is no longer valid, sign the browser out; either way show ``message``."""
    staff = service.returning_staff(impersonation, data.get("staff", "")) if impersonation else None
    logout_user()
    session.pop(KEY, None)
    if staff is None:
        session.clear()
    if data.get("language"):
        session["language"] = data["language"]
    else:
        session.pop("language", None)
    flash(message, category)
    if staff is None:
        return redirect(url_for("admin.login_view"))
    login_user(staff)
    return redirect(url_for("customer.details_view", id=impersonation.customer_id))


def _staff_language(data: dict) -> str:
    """The language the staff member used before signing in as the customer (the session's
    language is the customer's meanwhile)."""
    return data.get("language") or request.accept_languages.best_match(Language.codes()) or "en"


@bp.before_request
def impersonation_guard():
    """Every portal request of an impersonation: the staff member must still be enabled and
    signed in, the session running and for this user; otherwise it ends here."""
    data = session.get(KEY)
    if not data:
        return None
    user = portal_user()
    user_id = user.id if user else None
    try:
        with force_locale(_staff_language(data)):
            running = service.resume(
                data.get("id"), data.get("staff", ""), user_id, clock(), client_ip()
            )
    except service.Ended as ended:
        return _back_to_staff(data, ended.impersonation, ended.message, "info")
    if request.endpoint in ENDING:
        return end_impersonation()
    g.impersonation = running
    g.on_behalf_token = audit.on_behalf_of(service.staff_label(running), running.id)
    if request.method == "POST" and not running.allow_changes:
        page = render_template(
            "portal/message.html",
            title=_("Read-only session"),
            message=_(
                "You are signed in as the customer in read-only mode: nothing was changed. "
                "End the session and start a new one with changes allowed (admins only)."
            ),
        )
        return page, 403
    return None


@bp.teardown_request
def forget_on_behalf(_error=None):
    token = g.pop("on_behalf_token", None)
    if token is not None:
        try:
            audit.ON_BEHALF.reset(token)
        except ValueError:
            audit.ON_BEHALF.set(None)


@bp.route("/impersonation/end", methods=("POST",))
def end_impersonation():
    data = session.get(KEY)
    if not data:
        return redirect(url_for("portal.home"))
    ended = service.end(data.get("id"), clock(), client_ip())
    return _back_to_staff(data, ended, _("You are no longer signed in as the customer."), "success")


@bp.context_processor
def impersonation_banner():
    running = g.get("impersonation")
    if running is None:
        return {"impersonation": None}
    return {
        "impersonation": {
            "staff": service.staff_label(running),
            "allow_changes": running.allow_changes,
            "expires": format_datetime(running.expires_at, "short"),
        }
    }
