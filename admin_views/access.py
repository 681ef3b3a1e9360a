"""Who may use which admin route, read from the views themselves, and the permission table
rendered for people (docs/permissions.md, ``flask staff permissions``).

A route needs the permission its endpoint declares (``@requires(...)`` or a row action's
``Actions.endpoint``), else its view's ``permission``; a bulk action endpoint the view's
``action_permission``. Stock screens a view does not offer answer 404 to everybody and are left
out, and so are the public sign-in, sign-out and language routes.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import force_locale

from billing.kernel.permissions import TABLE, Permission, markdown_table

from .actions import REGISTRIES

PUBLIC_ENDPOINTS = frozenset({"admin.login_view", "admin.logout_view", "admin.language_view"})


def endpoint_permissions(app: Flask) -> dict[str, Permission]:
    """The permission each admin endpoint needs, by endpoint name."""
    (admin,) = app.extensions["admin"]
    found: dict[str, Permission] = {}
    for view in [admin.index_view, *admin._views]:
        for _url, name, _methods in view._urls:
            if f"{view.endpoint}.{name}" in PUBLIC_ENDPOINTS:
                continue
            offered = getattr(view, "_stock_view_enabled", None)
            if offered is not None and not offered(name):
                continue
            function = getattr(view, name)
            permission = getattr(function, "permission", None)
            if name == "action_view":
                permission = view.action_permission
            found[f"{view.endpoint}.{name}"] = permission or view.permission
    return found


def _rules(app: Flask) -> dict[str, str]:
    """Each endpoint's URL rule and methods, e.g. ``POST /admin/customer/<customer_id>/lock/``."""
    rules: dict[str, list[str]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        methods = "/".join(sorted(rule.methods & {"GET", "POST"}))
        rules.setdefault(rule.endpoint, []).append(f"`{methods} {rule.rule}`")
    return {endpoint: ", ".join(found) for endpoint, found in rules.items()}


def permissions_markdown(app: Flask) -> str:
    """docs/permissions.md: the table, the row actions, and per permission the routes that
    need it (in English)."""
    with app.test_request_context(), force_locale("en"):
        return _markdown(app)


def _markdown(app: Flask) -> str:
    needed = endpoint_permissions(app)
    rules = _rules(app)
    lines = [
        "# Permissions: who may do what",
        "",
        "Generated from `billing/kernel/permissions.py` (`TABLE`) and the admin's views by "
        "`flask staff permissions > docs/permissions.md`; `tests/security/test_permissions.py` "
        "fails when this page and the code differ. The access sweep "
        "(`tests/security/test_access_sweep.py`) checks every route against the same table.",
        "",
        "To change what a role may do, edit `TABLE` in `billing/kernel/permissions.py` and "
        "regenerate this page. Roles: " + ", ".join(f"`{role}`" for role in TABLE) + ".",
        "",
        markdown_table(),
        "",
        "## Row actions",
        "",
        "The actions offered on a record (row menu, the record's page) and the permission "
        "each needs; which of them apply to a record is decided by `billing` "
        "(`available_actions`).",
        "",
        "| record | action | label | method | permission |",
        "|---|---|---|---|---|",
    ]
    for model, registry in REGISTRIES.items():
        for action in registry:
            lines.append(
                f"| {model} | `{action.key}` | {action.label} | {action.method} "
                f"| `{action.permission.value}` |"
            )
    lines += ["", "## Routes by permission", ""]
    for permission in Permission:
        endpoints = sorted(e for e, p in needed.items() if p == permission)
        if not endpoints:
            continue
        lines += [f"### `{permission.value}`", ""]
        lines += [f"- `{endpoint}`: {rules[endpoint]}" for endpoint in endpoints]
        lines.append("")
    return "\n".join(lines)
