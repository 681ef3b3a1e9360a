"""Where browsers report Content-Security-Policy violations (``report-uri`` of every page).

A violation means a page tried to load or run something the policy forbids: an injected script,
a template that slipped an inline handler, or a browser extension. Each report becomes one
warning line in the log (``msp.csp``) with the page, the directive and what was blocked, so an
operator sees them next to the other errors. Reports are anonymous by nature (the browser sends
them without the page's CSRF token), so the endpoint takes only a small JSON body, cleans every
value before logging it (no control characters, at most 200 characters) and is rate-limited per
client address. A malformed report gets 400; nothing is ever stored.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, jsonify, request

from extensions import limiter

bp = Blueprint("csp", __name__)
log = logging.getLogger("msp.csp")

MAX_BODY = 16 * 1024
MAX_VALUE = 200
REPORT_TYPES = {"application/csp-report", "application/json", "application/reports+json"}
# (report-uri format, Reporting API format) for each logged field
FIELDS = (
    ("page", "document-uri", "documentURL"),
    ("directive", "effective-directive", "effectiveDirective"),
    ("blocked", "blocked-uri", "blockedURL"),
    ("source", "source-file", "sourceFile"),
    ("line", "line-number", "lineNumber"),
)


def _clean(value) -> str:
    text = str(value)[: MAX_VALUE * 2]
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text[:MAX_VALUE]


def _bodies(document) -> list[dict] | None:
    """The violation bodies of a ``report-uri`` report or a Reporting API batch."""
    if isinstance(document, dict) and isinstance(document.get("csp-report"), dict):
        report = dict(document["csp-report"])
        report.setdefault("effective-directive", report.get("violated-directive", ""))
        return [report]
    if isinstance(document, list) and document and len(document) <= 20:
        bodies = [
            entry["body"]
            for entry in document
            if isinstance(entry, dict)
            and entry.get("type") == "csp-violation"
            and isinstance(entry.get("body"), dict)
        ]
        return bodies or None
    return None


def _limit() -> str:
    return current_app.config["CSP_REPORT_LIMIT"]


@bp.route("/csp-report", methods=("POST",))
@limiter.limit(_limit)
def csp_report():
    if request.mimetype not in REPORT_TYPES:
        return jsonify({"error": "unsupported report type"}), 415
    if (request.content_length or 0) > MAX_BODY:
        return jsonify({"error": "report too large"}), 413
    payload = request.get_data(cache=False)
    if len(payload) > MAX_BODY:
        return jsonify({"error": "report too large"}), 413
    try:
        bodies = _bodies(json.loads(payload))
    except (ValueError, RecursionError):
        bodies = None
    if bodies is None:
        return jsonify({"error": "not a CSP violation report"}), 400
    for body in bodies:
        parts = " ".join(
            f"{name}={_clean(body.get(old, body.get(new, '')))}" for name, old, new in FIELDS
        )
        log.warning("csp violation from %s: %s", request.remote_addr or "-", parts)
    return "", 204
