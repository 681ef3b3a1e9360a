"""Error pages: a generic page with a correlation id that matches a log line; no tracebacks."""

from __future__ import annotations

import logging
import uuid

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("msp.errors")

# what a browser form sends (a POST without a body, e.g. a script's, has no type)
FORM_BODIES = frozenset({"", "application/x-www-form-urlencoded", "multipart/form-data"})
# the machine endpoints: they take JSON (the Stripe webhook, CSP reports) and check it themselves
MACHINE_BLUEPRINTS = frozenset({"webhooks", "csp"})


def _wants_json() -> bool:
    """Machine clients (the Stripe webhook, JSON requests) get the error as JSON."""
    return (
        request.blueprint == "webhooks"
        or request.is_json
        or request.accept_mimetypes.best == "application/json"
    )


def register_error_layout(app: Flask, prefix: str, render) -> None:
    """Let the area under ``prefix`` (``/admin``, ``/portal``) show its error pages inside its
    own layout: ``render(status, title, message)`` returns the page's HTML."""
    app.extensions.setdefault("error_layouts", {})[prefix] = render


def _in_layout(status: int, title: str, message: str) -> str | None:
    """The error page inside the layout of the area the address belongs to, or None where
    none applies or the layout itself cannot be rendered (the plain page is shown then)."""
    for prefix, render in current_app.extensions.get("error_layouts", {}).items():
        if request.path == prefix or request.path.startswith(prefix + "/"):
            try:
                return render(status, title, message)
            except Exception:  # noqa: BLE001 - an error page must not fail in turn
                log.warning("error layout of %s failed; showing the plain page", prefix)
                return None
    return None


def _page(status: int, title: str, message: str, correlation_id: str | None = None):
    if _wants_json():
        body = {"error": title, "message": message}
        if correlation_id:
            body["correlation_id"] = correlation_id
        return jsonify(body), status
    page = None if correlation_id else _in_layout(status, title, message)
    if page is None:
        page = render_template(
            "errors/error.html",
            status=status,
            title=title,
            message=message,
            correlation_id=correlation_id,
        )
    return page, status


def render_in_admin(status: int, title: str, message: str) -> str:
    """An error page inside the admin's layout (menu, language switch, sign-out)."""
    admin = current_app.extensions["admin"][0]
    return admin.index_view.render("admin/error.html", status=status, title=title, message=message)


def register_error_handlers(app: Flask) -> None:
    register_error_layout(app, "/admin", render_in_admin)
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(HTTPException, http_error)
    app.before_request(refuse_other_bodies)
    app.before_request(refuse_nul_bytes)
    app.register_error_handler(DataError, unstorable_value)
    app.register_error_handler(Exception, unexpected)


def csrf_error(error):
    return _page(
        400,
        _("Form expired"),
        _("The form was too old or incomplete. Please go back, reload and try again."),
    )


def http_error(error: HTTPException):
    titles = {
        400: _("Bad request"),
        403: _("Access denied"),
        404: _("Not found"),
        405: _("Not allowed"),
        413: _("Upload too large"),
        429: _("Too many requests"),
    }
    messages = {
        403: _("Your role does not give access to this page."),
        404: _("The page or record does not exist."),
        429: _("Please wait a moment and try again."),
    }
    status = error.code or 500
    if status >= 500:
        return unexpected(error)
    page = _page(
        status,
        titles.get(status, _("Request refused")),
        messages.get(status, _("The request could not be processed.")),
    )
    breached = getattr(getattr(error, "limit", None), "limit", None)
    if status == 429 and breached is not None:
        return (*page, {"Retry-After": str(breached.get_expiry())})
    return page


def refuse_other_bodies():
    """Forms take form bodies only. Flask-WTF would read a JSON body as the form, and a
    file part as the field of its name: numbers, objects, lists, null or a file where a
    field expects text. Such a request gets a clear 400 before any form sees it; file
    parts are taken only for the file fields a view names (``extensions.takes_files``)."""
    if request.method in ("GET", "HEAD", "OPTIONS") or request.blueprint in MACHINE_BLUEPRINTS:
        return None
    view = current_app.view_functions.get(request.endpoint)
    file_fields = getattr(view, "file_fields", frozenset())
    if request.mimetype in FORM_BODIES and set(request.files) <= file_fields:
        return None
    return _page(
        400,
        _("Bad request"),
        _("Please send the form from its page: this address takes form submissions only."),
    )


def refuse_nul_bytes():
    """No text the product stores or looks up may hold a NUL byte (PostgreSQL refuses it):
    a form submission, a query argument (a search, a filter) or a path argument that
    carries one gets a clear 400 before anything runs."""
    fields = request.form.items(multi=True) if request.method == "POST" else ()
    if any("\x00" in key or "\x00" in value for key, value in fields):
        return _page(
            400,
            _("Bad request"),
            _("The input contains characters that cannot be stored. Please correct it."),
        )
    arguments = [*request.args.items(multi=True), *(request.view_args or {}).items()]
    if any("\x00" in key or "\x00" in str(value) for key, value in arguments):
        return _page(
            400,
            _("Bad request"),
            _("The address of this page contains characters that cannot be processed."),
        )
    return None


def unstorable_value(error: DataError):
    """A value the database cannot store (too long, out of range) that no form check
    caught: nothing was saved, and the user is told so instead of a server error."""
    log.warning("refused a value the database cannot store on %s: %s", request.path, error)
    from models import db

    db.session.rollback()
    return _page(
        400,
        _("Bad request"),
        _("A value is too long or out of range; nothing was saved. Please correct it."),
    )


def unexpected(error: Exception):
    correlation_id = uuid.uuid4().hex[:12]
    log.error(
        "correlation_id=%s unhandled error on %s %s",
        correlation_id,
        request.method,
        request.path,
        exc_info=error,
    )
    try:
        from models import db

        db.session.rollback()
    except Exception:  # noqa: BLE001,S110 - the error page must render regardless
        pass
    return _page(
        500,
        _("Something went wrong"),
        _("The error has been logged. Please quote this reference when you report it."),
        correlation_id,
    )
