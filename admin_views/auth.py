"""Who is signed in: the Flask-Login loader, role checks and safe redirects."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request
from flask_login import current_user

from billing.audit import Actor
from billing.customers import user_may_sign_in
from models import StaffUser, User, db


def load_principal(user_id: str):
    """Resolve ``kind:id:session_version``; a stale version or a barred account ends the session."""
    try:
        kind, raw_id, version = user_id.split(":")
        pk, version_no = int(raw_id), int(version)
    except ValueError:
        return None
    if kind == "staff":
        staff = db.session.get(StaffUser, pk)
        if staff is None or staff.session_version != version_no or not staff.active:
            return None
        return staff
    if kind == "user":
        user = db.session.get(User, pk)
        if user is None or user.session_version != version_no or not user_may_sign_in(user):
            return None
        return user
    return None


def current_staff() -> StaffUser | None:
    user = current_user
    if getattr(user, "is_authenticated", False) and isinstance(user, StaffUser):
        return user
    return None


def has_role(*roles: str) -> bool:
    staff = current_staff()
    return staff is not None and staff.role in roles


def client_ip() -> str:
    return request.remote_addr or ""


def staff_actor() -> Actor:
    staff = current_staff()
    if staff is None:
        raise PermissionError("no staff member signed in")
    return Actor.staff(staff, client_ip())


def clock():
    return current_app.config["CLOCK"]


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
