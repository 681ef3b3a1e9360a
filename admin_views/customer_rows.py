"""The customer list's table rows, built in Python once per page.

Rendering each row through Flask-Admin's nested scoped blocks (a copied template context per
block, a ``url_for`` and a translation per menu entry) was more than half of a list page's CPU
time. Here the labels are translated and each action's URL is built once per page; a row is
then string formatting with every value escaped. The markup is the one the template used to
produce: the bulk-action checkbox (``action-checkbox``, when the list has bulk actions), the
row menu (``data-row-menu``, ``data-action``; its entries are ``actions.CUSTOMER_ACTIONS``)
and one ``col-<name>`` cell per column. Every entry's URL carries the list page's own address
(``navigation``), so the action ends back on this page.
"""

from __future__ import annotations

from functools import lru_cache

from flask import request, url_for
from flask_admin.babel import gettext as admin_gettext
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from models import MAX_RECORD_ID

from .actions import CUSTOMER_ACTIONS, POST
from .auth import staff_permissions
from .navigation import return_argument

# The URLs are built once with this id (the largest a route accepts; the fixed parts of a URL
# never contain it) and it is then replaced by each row's id.
_SENTINEL = MAX_RECORD_ID


def url_parts(endpoint: str, argument: str, return_to: str | None = None) -> tuple[str, str]:
    """The escaped text of ``endpoint``'s URL before and after the record id; with
    ``return_to``, the URL carries it as the list to go back to."""
    url = url_for(endpoint, **{argument: _SENTINEL})
    prefix, _found, suffix = url.partition(str(_SENTINEL))
    return str(escape(prefix)), str(escape(suffix + returning(url, return_to)))


def returning(url: str, return_to: str | None) -> str:
    """What to append to ``url`` so it carries ``return_to`` (nothing without one)."""
    if not return_to:
        return ""
    return ("&" if "?" in url else "?") + return_argument(return_to)


@lru_cache(maxsize=64)
def _menu(registry, view_endpoint: str, script_root: str, locale: str, permissions: frozenset):
    """The row menu's entries for staff with ``permissions`` reading ``locale``: each action's
    escaped label and confirmation and its URL around the row's id. The same for every request
    of one list, so it is built once (the arguments are the cache key; ``url_for`` depends on
    the view and the script root)."""
    entries = []
    for action in registry:
        if not action.menu or action.permission not in permissions:
            continue
        prefix, suffix = url_parts(action.endpoint, registry.argument_of(action))
        css = f" text-{action.style}" if action.style in ("danger", "warning") else ""
        label, confirm = str(escape(action.label)), str(escape(action.confirm or ""))
        entries.append((action, prefix, suffix, css, label, confirm))
    return tuple(entries)


def render_rows(
    view, rows, allowed: dict[int, list[str]], selectable: bool, return_to: str | None = None
) -> dict[int, Markup]:
    """The ``<td>`` cells of each row of ``rows``, by customer id: a checkbox for the bulk
    actions when ``selectable``, the row menu (the entries of ``CUSTOMER_ACTIONS`` the signed-in
    staff member may use, where ``allowed``, the actions ``available_actions`` gives each
    customer, lists them; each URL carries ``return_to``, this list page), then the columns."""
    entries = [
        (action, prefix, suffix + str(escape(returning(prefix + suffix, return_to))), *rest)
        for action, prefix, suffix, *rest in _menu(
            CUSTOMER_ACTIONS,
            request.blueprint or "",
            request.script_root,
            str(get_locale()),
            staff_permissions(),
        )
    ]
    # one line between the row's other actions and its destructive ones (the last entries)
    divider = next((e[0].key for e in entries if e[0].style == "danger"), None)
    title = str(escape(_("Actions")))
    select = str(escape(admin_gettext("Select record")))
    token = str(escape(generate_csrf())) if any(e[0].method == POST for e in entries) else ""
    columns = [name for name, _label in view._list_columns]
    rendered = {}
    for row in rows:
        pk = str(escape(view.get_pk_value(row)))
        permitted = allowed.get(row.id, ())
        parts = []
        if selectable:
            parts.append(
                '<td class="list-checkbox-column"><input type="checkbox" name="rowid" '
                f'class="action-checkbox" value="{pk}" title="{select}" aria-label="{select}"></td>'
            )
        parts.append(
            '<td class="list-buttons-column"><div class="dropdown msp-row-menu">'
            '<button class="btn btn-sm btn-light" type="button" data-toggle="dropdown" '
            f'aria-haspopup="true" aria-expanded="false" title="{title}" '
            f'data-row-menu="{pk}">&#8942;</button><div class="dropdown-menu">'
        )
        for entry in entries:
            if entry[0].key not in permitted:
                continue
            if entry[0].key == divider:
                parts.append('<div class="dropdown-divider"></div>')
            parts.append(_menu_item(entry, pk, row, token))
        parts.append("</div></div></td>")
        for name in columns:
            value = escape(view.get_list_value(None, row, name))
            parts.append(f'<td class="col-{name}">{value}</td>')
        # every interpolated value above went through escape(); the rest is fixed markup
        rendered[row.id] = Markup("".join(parts))  # noqa: S704
    return rendered


def _menu_item(entry: tuple, pk: str, row, token: str) -> str:
    """One entry of a row's menu (``_menu``): a link, or a POST form with the CSRF token, the
    row's version and the confirmation question naming the customer."""
    action, prefix, suffix, css, label, confirm = entry
    href = f"{prefix}{pk}{suffix}"
    if action.method != POST:
        return f'<a class="dropdown-item{css}" data-action="{action.key}" href="{href}">{label}</a>'
    question = f' data-confirm="{confirm % {"name": escape(row.company_name)}}"' if confirm else ""
    return (
        f'<form method="post" action="{href}">'
        f'<input type="hidden" name="csrf_token" value="{token}">'
        f'<input type="hidden" name="version" value="{row.version}">'
        f'<button type="submit" class="dropdown-item{css}" '
        f'data-action="{action.key}"{question}>{label}</button></form>'
    )
