"""Portal guards (SPEC §13): who is signed in, rate limits, safe redirects and the 429 page.

``throttle`` is the decorator for every portal form that an attacker could hammer (sign-in,
forgotten password, reset, self-registration): it limits POSTs per client IP and, optionally,
per submitted e-mail address, in the app's Redis through Flask-Limiter.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from billing.kernel.site import Site
from extensions import limiter, typed_key
from models import User

from . import bp


def sign_in_per_ip() -> str:
    return current_app.config["SIGN_IN_LIMIT_PER_IP"]


def sign_in_per_email() -> str:
    return current_app.config["SIGN_IN_LIMIT_PER_ACCOUNT"]


MAIL_LINK_PER_IP = "5 per minute"
MAIL_LINK_PER_EMAIL = "3 per minute"
RESET_PER_IP = "10 per minute"
RETRY_AFTER_SECONDS = 60


def clock():
    return current_app.config["CLOCK"]


def site() -> Site:
    """The deployment's values billing needs (``billing.kernel.site``), handed in like the
    clock."""
    return Site.of(current_app.config)


def client_ip() -> str:
    return request.remote_addr or ""


def portal_user() -> User | None:
    """The signed-in customer user, or None (anonymous visitors and staff alike)."""
    user = current_user
    if getattr(user, "is_authenticated", False) and isinstance(user, User):
        return user
    return None


def user_required(view):
    """Only for signed-in customer users; everyone else goes to the portal sign-in."""

    @wraps(view)
    def guarded(*args, **kwargs):
        if portal_user() is None:
            back = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("portal.login", next=back))
        return view(*args, **kwargs)

    return guarded


def safe_next(target: str | None, fallback: str) -> str:
    """A redirect target inside the portal only: a plain path under ``/portal/``, no scheme,
    host, protocol-relative, backslash, control-character or dot-segment tricks."""
    target = (target or "").strip()
    if not target or "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(bp.url_prefix + "/"):
        return fallback
    if target.startswith("//") or ".." in parts.path.split("/") or "%" in parts.path:
        return fallback
    return target


def _submitted(field: str):
    """Per value of ``field`` in the form body (the only place the forms read it)."""

    def key() -> str:
        return typed_key(field, request.form.get(field))

    return key


def _failed(response) -> bool:
    """A form that signs in answers with a redirect; anything else was a failed attempt."""
    return not 300 <= response.status_code < 400


def throttle(per_ip, per_field=None, *, field: str = "email", failures_only=False):
    """Limit a view's POSTs to ``per_ip`` per client address and, with ``per_field``, per value
    of the submitted form ``field`` (e.g. ``"5 per minute"``, or a function returning such a
    string, read per request, for limits from the configuration). With ``failures_only`` only
    attempts that do not end in a redirect count. A breach answers with the 429 page."""
    deduct = _failed if failures_only else None

    def decorate(view):
        limited = limiter.limit(per_ip, methods=["POST"], deduct_when=deduct)(view)
        if per_field:
            limited = limiter.limit(
                per_field, key_func=_submitted(field), methods=["POST"], deduct_when=deduct
            )(limited)
        return limited

    return decorate


def retry_after(error) -> int:
    """Seconds until the breached limit's window ends (its full length; a minute by default)."""
    breached = getattr(getattr(error, "limit", None), "limit", None)
    return breached.get_expiry() if breached is not None else RETRY_AFTER_SECONDS


@bp.errorhandler(429)
def too_many_attempts(error):
    page = render_template(
        "portal/message.html",
        title=_("Too many attempts"),
        message=_("Too many attempts. Please try again in a minute."),
    )
    return page, 429, {"Retry-After": str(retry_after(error))}
