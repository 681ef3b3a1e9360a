"""Who is signed in: the Flask-Login loader, session lifetimes, permission checks and safe
redirects.

A session is a signed cookie. It stays valid only while the account's ``session_version`` is
unchanged (sign-out, password change, disabling or locking bump it or bar the account) and
within its idle and absolute lifetimes, counted from the time stamps written at sign-in.
"""

from __future__ import annotations

import secrets
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, flash, request, session
from flask_babel import gettext as _
from flask_login import current_user

from billing.customers.sign_in import locked_message, locked_out, user_may_sign_in
from billing.kernel.audit import Actor
from billing.kernel.permissions import Permission, can
from billing.kernel.site import Site
from extensions import kept_language
from models import StaffUser, User, db

SESSION_ID = "_sid"
SIGNED_IN_AT = "_auth_at"
SEEN_AT = "_seen_at"
# the last-seen stamp is renewed at most this often, so not every response rewrites the cookie
SEEN_RESOLUTION_SECONDS = 60


def load_principal(user_id: str):
    """Resolve ``kind:id:session_version``; a stale version, a barred account or an expired
    session ends the session."""
    try:
        kind, raw_id, version = user_id.split(":")
        pk, version_no = int(raw_id), int(version)
    except ValueError:
        return None
    principal = None
    if kind == "staff":
        staff = db.session.get(StaffUser, pk)
        if staff is not None and staff.session_version == version_no and staff.active:
            principal = staff
    elif kind == "user":
        user = db.session.get(User, pk)
        if user is not None and user.session_version == version_no and user_may_sign_in(user):
            principal = user
        elif user is not None and locked_out(user):
            _end_session(locked_message(signed_out=True))
            return None
    if principal is None or not _session_alive(kind):
        return None
    return principal


def session_lifetimes(kind: str) -> tuple[int, int]:
    """(idle, absolute) lifetime in seconds of a staff (``staff``) or portal (``user``) session."""
    config = current_app.config
    if kind == "staff":
        return config["STAFF_SESSION_IDLE_MINUTES"] * 60, config["STAFF_SESSION_MAX_HOURS"] * 3600
    return config["PORTAL_SESSION_IDLE_MINUTES"] * 60, config["PORTAL_SESSION_MAX_HOURS"] * 3600


def _session_alive(kind: str) -> bool:
    """Within both lifetimes: renew the last-seen stamp. Past either (or without stamps, e.g. a
    cookie from before sign-in stamped sessions): end the session, keeping only the language."""
    now = int(clock().now().timestamp())
    signed_in_at, seen_at = session.get(SIGNED_IN_AT), session.get(SEEN_AT)
    idle, absolute = session_lifetimes(kind)
    if (
        isinstance(signed_in_at, int)
        and isinstance(seen_at, int)
        and now - seen_at <= idle
        and now - signed_in_at <= absolute
    ):
        if now - seen_at >= SEEN_RESOLUTION_SECONDS:
            session[SEEN_AT] = now
        return True
    _end_session(_("Your session has expired. Please sign in again."))
    return False


def _end_session(reason: str) -> None:
    """Clear the session (keeping only the language) and tell the sign-in page why."""
    kept = kept_language()
    session.clear()
    session.update(kept)
    flash(reason, "info")


def start_session(_app, user=None, **_extra) -> None:
    """At every sign-in (Flask-Login's ``user_logged_in``): a new random session id and fresh
    last-seen stamp. The sign-in time is kept when the browser switches identity within one
    session (staff signed in as a customer and back), so that cannot extend its lifetime; every
    sign-in form clears the session first and so starts a new one."""
    now = int(clock().now().timestamp())
    session[SESSION_ID] = secrets.token_urlsafe(24)
    session.setdefault(SIGNED_IN_AT, now)
    session[SEEN_AT] = now


def current_staff() -> StaffUser | None:
    user = current_user
    if getattr(user, "is_authenticated", False) and isinstance(user, StaffUser):
        return user
    return None


def staff_can(permission: Permission) -> bool:
    """Whether the signed-in staff member's role has ``permission``
    (``billing.kernel.permissions``)."""
    staff = current_staff()
    return staff is not None and can(staff.role, permission)


def staff_permissions() -> frozenset[Permission]:
    """Every permission the signed-in staff member's role has (none when nobody is)."""
    staff = current_staff()
    return frozenset(p for p in Permission if staff is not None and can(staff.role, p))


def requires(permission: Permission):
    """An endpoint only staff with ``permission`` may use; the others get 403. The endpoint
    keeps the permission as ``.permission`` (docs/permissions.md lists it from there)."""

    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            if not staff_can(permission):
                abort(403)
            return view(*args, **kwargs)

        checked.permission = permission
        return checked

    return decorate


def client_ip() -> str:
    return request.remote_addr or ""


def staff_actor() -> Actor:
    staff = current_staff()
    if staff is None:
        raise PermissionError("no staff member signed in")
    return Actor.staff(staff, client_ip())


def clock():
    return current_app.config["CLOCK"]


def site() -> Site:
    """The deployment's values billing needs (``billing.kernel.site``), handed in like the
    clock."""
    return Site.of(current_app.config)


def safe_next(target: str | None, fallback: str) -> str:
    """Only same-site paths: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target:
        return fallback
    target = target.strip()
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    return target
