"""The customer list's table rows, built in Python once per page.

Rendering each row through Flask-Admin's nested scoped blocks (a copied template context per
block, a ``url_for`` and a translation per menu entry) was more than half of a list page's CPU
time. Here the labels are translated and each action's URL is built once per page; a row is
then string formatting with every value escaped. The markup is the one the template used to
produce: the row menu (``data-row-menu``, ``data-action``) and one ``col-<name>`` cell per
column.
"""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from models import MAX_RECORD_ID

# The URLs are built once with this id (the largest a route accepts; the fixed parts of a URL
# never contain it) and it is then replaced by each row's id.
_SENTINEL = MAX_RECORD_ID

# (action, endpoint, URL argument, editors only, CSS class, divider before)
_MENU = (
    ("convert", ".convert_view", "customer_id", True, "", False),
    ("ip_distribution", ".ip_distribution_view", "customer_id", True, "", False),
    ("resend_invite", ".resend_invite_view", "customer_id", False, "", False),
    ("details", ".details_view", "id", False, "", False),
    ("create_similar", ".similar_view", "customer_id", True, "", False),
    ("add_project_key", ".project_key_view", "customer_id", True, "", False),
    ("edit_address", ".address_view", "customer_id", True, "", False),
    ("change_main_user", ".main_user_view", "customer_id", True, "", False),
    ("delete", ".delete_customer_view", "customer_id", True, " text-danger", True),
)
# Which permitted action a menu entry needs (``None``: always shown).
_NEEDS = {"details": None, "create_similar": "ip_distribution"}


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


def render_rows(view, rows, allowed: dict[int, list[str]], can_edit: bool) -> dict[int, Markup]:
    """The ``<td>`` cells of each row of ``rows``, by customer id."""
    labels = {key: str(escape(text)) for key, text in _labels().items()}
    entries = []
    for action, endpoint, argument, editors_only, css, divider in _MENU:
        if editors_only and not can_edit:
            continue
        prefix, suffix = _url_parts(endpoint, argument)
        entries.append((action, _NEEDS.get(action, action), prefix, suffix, css, divider))
    title = str(escape(_("Actions")))
    resend = any("resend_invite" in actions for actions in allowed.values())
    token = str(escape(generate_csrf())) if resend else ""
    columns = [name for name, _label in view._list_columns]
    rendered = {}
    for row in rows:
        pk = str(escape(view.get_pk_value(row)))
        permitted = allowed.get(row.id, ())
        parts = [
            '<td class="list-buttons-column"><div class="dropdown msp-row-menu">'
            '<button class="btn btn-sm btn-light" type="button" data-toggle="dropdown" '
            f'aria-haspopup="true" aria-expanded="false" title="{title}" '
            f'data-row-menu="{pk}">&#8942;</button><div class="dropdown-menu">'
        ]
        for action, needs, prefix, suffix, css, divider in entries:
            if needs is not None and needs not in permitted:
                continue
            href = f"{prefix}{pk}{suffix}"
            if action == "resend_invite":
                parts.append(
                    f'<form method="post" action="{href}">'
                    f'<input type="hidden" name="csrf_token" value="{token}">'
                    '<button type="submit" class="dropdown-item" data-action="resend_invite">'
                    f"{labels[action]}</button></form>"
                )
                continue
            if divider:
                parts.append('<div class="dropdown-divider"></div>')
            parts.append(
                f'<a class="dropdown-item{css}" data-action="{action}" href="{href}">'
                f"{labels[action]}</a>"
            )
        parts.append("</div></div></td>")
        for name in columns:
            value = escape(view.get_list_value(None, row, name))
            parts.append(f'<td class="col-{name}">{value}</td>')
        # every interpolated value above went through escape(); the rest is fixed markup
        rendered[row.id] = Markup("".join(parts))  # noqa: S704
    return rendered
