"""Lists that keep their place: the list a screen was opened from, and the rows it changed.

A list passes its own address (page, sort, search, filters) to every screen opened from it in
Flask-Admin's ``url`` argument; the row actions' registry (``actions.Actions.links``) and the
customer list's row menu add it to every action. When the action is done, the screen goes back
to that address with ``highlight=<id>`` added, and the list marks that row
(``admin/model/list.html``). ``url`` is only ever followed when it is a local address inside
the admin (``return_url``), so it can never send anyone to another site.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from flask import request, url_for

from .auth import safe_next

RETURN = "url"
HIGHLIGHT = "highlight"
#: how many changed rows one address highlights at most (a bulk action on a long page)
MAX_HIGHLIGHTS = 100


def admin_address(target: str | None) -> str | None:
    """``target`` when it is a same-site path inside the admin, else None. A path with ``.``
    or ``..`` segments (also percent-encoded) is refused: a browser resolves those, so
    ``/admin/../portal/`` leads out of the admin."""
    if not target:
        return None
    safe = safe_next(target, "")
    prefix = url_for("admin.index")
    if not safe or not (safe == prefix.rstrip("/") or safe.startswith(prefix)):
        return None
    segments = unquote(urlsplit(safe).path).split("/")
    if any(segment in (".", "..") for segment in segments):
        return None
    return safe


def return_url() -> str | None:
    """The list this request came from: its validated ``url`` argument (query or form)."""
    return admin_address(request.values.get(RETURN))


def without_highlight(url: str) -> str:
    """``url`` without ``highlight`` and ``url`` arguments (a list's own address)."""
    parts = urlsplit(url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in (HIGHLIGHT, RETURN)
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def list_address() -> str:
    """The address of the list page being shown, as the staff member asked for it (page, sort,
    search, filters), to pass along to the screens opened from it."""
    return without_highlight(request.script_root + request.full_path)


def with_highlight(url: str, record_ids) -> str:
    """``url`` with ``highlight`` naming ``record_ids`` (one id or several)."""
    if isinstance(record_ids, (int, str)):
        record_ids = [record_ids]
    ids = ",".join(str(i) for i in list(dict.fromkeys(record_ids))[:MAX_HIGHLIGHTS])
    parts = urlsplit(without_highlight(url))
    query = parse_qsl(parts.query, keep_blank_values=True)
    if ids:
        query.append((HIGHLIGHT, ids))
    return urlunsplit(parts._replace(query=urlencode(query)))


def highlighted_ids() -> frozenset[str]:
    """The record ids the list's address asks to highlight."""
    raw = request.args.get(HIGHLIGHT, "")
    return frozenset(i for i in raw.split(",")[:MAX_HIGHLIGHTS] if i.isdigit())


def is_list_of(url: str, endpoint: str) -> bool:
    """Whether ``url`` is the list page of the view ``endpoint`` (any arguments)."""
    return urlsplit(url).path == url_for(f"{endpoint}.index_view")


def return_argument(url: str | None) -> str:
    """``url=<url>`` quoted for a query string (empty without ``url``)."""
    return f"{RETURN}={quote(url, safe='')}" if url else ""
