"""The customer list's table rows, built in Python once per page.

Rendering each row through Flask-Admin's nested scoped blocks (a copied template context per
block, a ``url_for`` and a translation per menu entry) was more than half of a list page's CPU
time. Here the labels are translated and each action's URL is built once per page; a row is
then string formatting with every value escaped. The markup is the one the template used to
produce: the bulk-action checkbox (``action-checkbox``, when the list has bulk actions), the
row menu (``data-row-menu``, ``data-action``) and one ``col-<name>`` cell per column.
"""

from __future__ import annotations

from typing import NamedTuple

from flask import url_for
from flask_admin.babel import gettext as admin_gettext
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from models import MAX_RECORD_ID

from .customer_actions import ALL, EDITORS

# The URLs are built once with this id (the largest a route accepts; the fixed parts of a URL
# never contain it) and it is then replaced by each row's id.
_SENTINEL = MAX_RECORD_ID


class MenuEntry(NamedTuple):
    """One entry of the row menu. It shows only where
    ``billing.customers.customers.available_actions``
    lists ``needs`` for the customer (empty: the entry's own ``action``; ``None``: always), and
    only to ``roles`` (the ones its route lets in). A ``GET`` entry is a link; a ``POST`` entry
    is a form carrying the CSRF token."""

    action: str
    endpoint: str
    argument: str
    method: str
    roles: tuple[str, ...]
    needs: str | None = ""
    css: str = ""
    divider: bool = False


MENU = (
    MenuEntry("convert", ".convert_view", "customer_id", "GET", EDITORS),
    MenuEntry("ip_distribution", ".ip_distribution_view", "customer_id", "GET", EDITORS),
    MenuEntry("resend_invite", ".resend_invite_view", "customer_id", "POST", ALL),
    MenuEntry("details", ".details_view", "id", "GET", ALL, needs=None),
    MenuEntry(
        "create_similar", ".similar_view", "customer_id", "GET", EDITORS, needs="ip_distribution"
    ),
    MenuEntry("add_project_key", ".project_key_view", "customer_id", "GET", EDITORS),
    MenuEntry("edit_address", ".address_view", "customer_id", "GET", EDITORS),
    MenuEntry("change_main_user", ".main_user_view", "customer_id", "GET", EDITORS),
    MenuEntry(
        "delete",
        ".delete_customer_view",
        "customer_id",
        "GET",
        EDITORS,
        css=" text-danger",
        divider=True,
    ),
)


def _labels() -> dict[str, str]:
    # Spelled out so that the message extraction finds every label.
    return {
        "convert": _("Convert to managed"),
        "ip_distribution": _("IP Distribution"),
        "resend_invite": _("Resend invite"),
        "details": _("Details"),
        "create_similar": _("Create similar"),
        "add_project_key": _("Add project key"),
        "edit_address": _("Edit address"),
        "change_main_user": _("Change main user"),
        "delete": _("Delete"),
    }


def _url_parts(endpoint: str, argument: str) -> tuple[str, str]:
    url = url_for(endpoint, **{argument: _SENTINEL})
    prefix, _found, suffix = url.partition(str(_SENTINEL))
    return str(escape(prefix)), str(escape(suffix))


def render_rows(
    view, rows, allowed: dict[int, list[str]], role: str, selectable: bool
) -> dict[int, Markup]:
    """The ``<td>`` cells of each row of ``rows``, by customer id: a checkbox for the bulk
    actions when ``selectable``, the menu entries ``role`` may use where ``allowed`` (the
    actions ``available_actions`` gives each customer) lists them, then the columns."""
    labels = {key: str(escape(text)) for key, text in _labels().items()}
    entries = []
    for entry in MENU:
        if role not in entry.roles:
            continue
        prefix, suffix = _url_parts(entry.endpoint, entry.argument)
        needs = entry.action if entry.needs == "" else entry.needs
        entries.append((entry, needs, prefix, suffix))
    title = str(escape(_("Actions")))
    select = str(escape(admin_gettext("Select record")))
    token = str(escape(generate_csrf())) if any(e.method == "POST" for e, *_r in entries) else ""
    columns = [name for name, _label in view._list_columns]
    rendered = {}
    for row in rows:
        pk = str(escape(view.get_pk_value(row)))
        permitted = allowed.get(row.id, ())
        parts = []
        if selectable:
            parts.append(
                '<td class="list-checkbox-column"><input type="checkbox" name="rowid" '
                f'class="action-checkbox" value="{pk}" title="{select}"></td>'
            )
        parts.append(
            '<td class="list-buttons-column"><div class="dropdown msp-row-menu">'
            '<button class="btn btn-sm btn-light" type="button" data-toggle="dropdown" '
            f'aria-haspopup="true" aria-expanded="false" title="{title}" '
            f'data-row-menu="{pk}">&#8942;</button><div class="dropdown-menu">'
        )
        for entry, needs, prefix, suffix in entries:
            if needs is not None and needs not in permitted:
                continue
            href = f"{prefix}{pk}{suffix}"
            if entry.divider:
                parts.append('<div class="dropdown-divider"></div>')
            label = labels[entry.action]
            if entry.method == "POST":
                parts.append(
                    f'<form method="post" action="{href}">'
                    f'<input type="hidden" name="csrf_token" value="{token}">'
                    f'<button type="submit" class="dropdown-item{entry.css}" '
                    f'data-action="{entry.action}">{label}</button></form>'
                )
            else:
                parts.append(
                    f'<a class="dropdown-item{entry.css}" data-action="{entry.action}" '
                    f'href="{href}">{label}</a>'
                )
        parts.append("</div></div></td>")
        for name in columns:
            value = escape(view.get_list_value(None, row, name))
            parts.append(f'<td class="col-{name}">{value}</td>')
        # every interpolated value above went through escape(); the rest is fixed markup
        rendered[row.id] = Markup("".join(parts))  # noqa: S704
    return rendered
