"""Customer search (SPEC §3): company name, contact name and e-mail, VAT-ID, by substring.

Every term must match somewhere. ``customer.search_text`` holds the searched fields in lower
case; PostgreSQL answers from a pg_trgm GIN index on it, SQLite from the FTS5 trigram table
``customer_search`` (both created by the migrations). Terms shorter than three characters
cannot use a trigram index and fall back to a scan.
"""

from __future__ import annotations

from sqlalchemy import Integer, text

from models import Customer

MAX_TERMS = 6
MAX_TERM_LENGTH = 100


def search_terms(search: str | None) -> list[str]:
    terms = [t[:MAX_TERM_LENGTH].lower() for t in (search or "").split() if t.strip()]
    return terms[:MAX_TERMS]


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def apply_customer_search(query, search: str | None, dialect: str):
    """Narrow a customer query to rows matching every term of ``search``."""
    terms = search_terms(search)
    if not terms:
        return query
    if dialect == "sqlite":
        long_terms = [t for t in terms if len(t) >= 3]
        if long_terms:
            match = " AND ".join(_fts_phrase(t) for t in long_terms)
            query = query.filter(
                Customer.id.in_(
                    text("SELECT rowid FROM customer_search WHERE customer_search MATCH :q")
                    .bindparams(q=match)
                    .columns(rowid=Integer)
                )
            )
        terms = [t for t in terms if len(t) < 3]
    for term in terms:
        query = query.filter(Customer.search_text.like(_like_pattern(term), escape="\\"))
    return query
