"""Saved customer-list views (SPEC §12, issue 7 item 11).

A saved view is a name for the customer list's query string (filters, search, sort, page size),
private to its owner or shared with all staff. The query string is validated before it is stored:
only the list's own arguments, each once, with short values, and a bounded total length, so a
tampered string is refused with a message instead of being stored or replayed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import func

from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from billing.kernel.permissions import Permission, can
from models import SavedView, StaffUser, db

NAME_MAX = 100
QUERY_MAX = 1000
VALUE_MAX = 200
#: The list arguments every saved view may carry besides the filters.
BASE_ARGS = frozenset({"search", "sort", "desc", "page_size"})
NUMERIC_ARGS = frozenset({"sort", "desc", "page_size"})


FILTER_POSITION = re.compile(r"^flt\d{1,2}_")


def clean_query(query: str | None, filter_args: Iterable[str]) -> str:
    """The query string in a normal form, or ``DomainError`` if it carries anything else than the
    list's arguments (``BASE_ARGS`` plus ``filter_args``), repeats one, or is too long."""
    raw = (query or "").lstrip("?")
    if len(raw) > QUERY_MAX:
        raise DomainError(_("The view is too long to be saved."), field="query")
    allowed = BASE_ARGS | set(filter_args)
    try:
        pairs = parse_qsl(raw, keep_blank_values=False, strict_parsing=bool(raw), max_num_fields=50)
    except ValueError:
        raise DomainError(_("The view's filters could not be read."), field="query") from None
    seen: set[str] = set()
    for key, value in pairs:
        # the list names its filters flt<position>_<filter>_<operation>
        name = FILTER_POSITION.sub("", key) if key not in BASE_ARGS else key
        if name not in allowed or key in seen:
            raise DomainError(_("The view contains an unknown list setting."), field="query")
        if len(value) > VALUE_MAX or any(ord(ch) < 32 for ch in value):
            raise DomainError(_("The view's filters could not be read."), field="query")
        if key in NUMERIC_ARGS and not value.isdigit():
            raise DomainError(_("The view's filters could not be read."), field="query")
        seen.add(key)
    return urlencode(pairs)


def _clean_name(name: str | None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise DomainError(_("Please name the view."), field="name")
    if len(name) > NAME_MAX:
        raise DomainError(
            _("The name is too long (at most %(n)d characters).", n=NAME_MAX), field="name"
        )
    return name


def _check_unique(owner_id: int, name: str, exclude_id: int = 0) -> None:
    clash = db.session.scalar(
        db.select(SavedView.id).where(
            SavedView.owner_id == owner_id,
            func.lower(SavedView.name) == name.lower(),
            SavedView.id != exclude_id,
        )
    )
    if clash is not None:
        raise DomainError(_("You already have a view with this name."), field="name")


def _staff(staff_id: int) -> StaffUser:
    staff = db.session.get(StaffUser, staff_id)
    if staff is None:
        raise NotFound(_("This staff account does not exist."))
    return staff


def _require_editor(staff: StaffUser) -> None:
    if not can(staff.role, Permission.SAVE_VIEWS):
        raise DomainError(_("Your role may open saved views but not change them."))


def visible_views(staff_id: int) -> list[SavedView]:
    """The staff member's own views and every shared one, own first, then by name."""
    return list(
        db.session.scalars(
            db.select(SavedView)
            .where((SavedView.owner_id == staff_id) | SavedView.shared.is_(True))
            .order_by((SavedView.owner_id != staff_id), SavedView.name, SavedView.id)
        )
    )


def save_view(
    staff_id: int,
    name: str,
    query: str,
    shared: bool,
    filter_args: Iterable[str],
    actor: Actor,
    clock: Clock,
) -> SavedView:
    """Save the list's current query string under ``name`` for ``staff_id``.

    Raises ``DomainError`` for a support role, an empty/too long/duplicate name, or a query string
    that is not the list's own (see ``clean_query``).
    """
    staff = _staff(staff_id)
    _require_editor(staff)
    clean_name = _clean_name(name)
    clean = clean_query(query, filter_args)
    _check_unique(staff.id, clean_name)
    view = SavedView(
        owner_id=staff.id, name=clean_name, query=clean, shared=bool(shared), created_at=clock.now()
    )
    db.session.add(view)
    db.session.flush()
    audit.record(
        actor,
        "saved_view.create",
        clock,
        after={
            "saved_view_id": view.id,
            "name": view.name,
            "query": view.query,
            "shared": view.shared,
        },
    )
    db.session.commit()
    return view


def _own_view(view_id: int, staff: StaffUser) -> SavedView:
    view = db.session.get(SavedView, view_id)
    if view is None or (view.owner_id != staff.id and not view.shared):
        raise NotFound(_("This saved view does not exist."))
    return view


def rename_view(staff_id: int, view_id: int, name: str, actor: Actor, clock: Clock) -> SavedView:
    """Rename one of the staff member's own views. Raises ``NotFound`` or ``DomainError``."""
    staff = _staff(staff_id)
    _require_editor(staff)
    view = _own_view(view_id, staff)
    if view.owner_id != staff.id:
        raise DomainError(_("Only the owner can rename a saved view."))
    clean_name = _clean_name(name)
    if clean_name == view.name:
        return view
    _check_unique(staff.id, clean_name, exclude_id=view.id)
    before = {"saved_view_id": view.id, "name": view.name}
    view.name = clean_name
    audit.record(
        actor,
        "saved_view.rename",
        clock,
        before=before,
        after={"saved_view_id": view.id, "name": clean_name},
    )
    db.session.commit()
    return view


def delete_view(staff_id: int, view_id: int, actor: Actor, clock: Clock) -> str:
    """Delete a view: the owner may delete their own, staff with
    ``Permission.MANAGE_SHARED_VIEWS`` also any shared one. Returns the deleted view's name.
    Raises ``NotFound`` or ``DomainError``."""
    staff = _staff(staff_id)
    _require_editor(staff)
    view = _own_view(view_id, staff)
    if view.owner_id != staff.id and not can(staff.role, Permission.MANAGE_SHARED_VIEWS):
        raise DomainError(_("Only the owner or an admin can delete a shared view."))
    name = view.name
    audit.record(
        actor,
        "saved_view.delete",
        clock,
        before={
            "saved_view_id": view.id,
            "name": name,
            "query": view.query,
            "shared": view.shared,
            "owner_id": view.owner_id,
        },
    )
    db.session.delete(view)
    db.session.commit()
    return name


def may_delete(staff: StaffUser, view: SavedView) -> bool:
    """Whether ``staff`` may delete ``view`` (the same rule as ``delete_view``), for the UI."""
    if not can(staff.role, Permission.SAVE_VIEWS):
        return False
    return view.owner_id == staff.id or (
        view.shared and can(staff.role, Permission.MANAGE_SHARED_VIEWS)
    )
