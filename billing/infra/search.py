"""Customer search (SPEC §3): company name, contact name and e-mail, VAT-ID, by substring.

Every term must match somewhere. ``customer.search_text`` holds the searched fields in lower
case; PostgreSQL answers from a pg_trgm GIN index on it, SQLite from the FTS5 trigram table
``customer_search`` (both created by the migrations). Terms shorter than three characters
cannot use a trigram index and fall back to a scan.

The list shows the first page of matches in company-name order, and the best plan depends on
how many rows match. A rare term is cheapest driven by the trigram index (few rows to fetch and
sort); a frequent one is cheapest by walking the list's sort index and testing each row's
``search_text``, which stops after a page of hits (and reads no table rows where that index
holds ``search_text`` too) — fetching and sorting a hundred thousand matches just to show 25 of
them is what makes a naive search slow. PostgreSQL's planner makes this choice from its
statistics. SQLite's has none for FTS, so ``apply_customer_search`` counts the FTS matches up to
``FREQUENT_MATCHES`` first (cheap: FTS5 stops at the limit) and picks the plan itself.
"""

from __future__ import annotations

from sqlalchemy import Integer, text

from models import Customer, db

MAX_TERMS = 6
MAX_TERM_LENGTH = 100
FREQUENT_MATCHES = 20_000

_FTS_ROWIDS = "SELECT rowid FROM customer_search WHERE customer_search MATCH :q"
_FTS_COUNT = f"SELECT count(*) FROM ({_FTS_ROWIDS} LIMIT :cap)"  # noqa: S608


def search_terms(search: str | None) -> list[str]:
    terms = [t[:MAX_TERM_LENGTH].lower() for t in (search or "").split() if t.strip()]
    return terms[:MAX_TERMS]


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _substring(query, terms: list[str]):
    for term in terms:
        query = query.filter(Customer.search_text.like(_like_pattern(term), escape="\\"))
    return query


def fts_match_count(match: str, cap: int = FREQUENT_MATCHES) -> int:
    """SQLite: how many customers the FTS5 query ``match`` selects, counted up to ``cap``."""
    return db.session.execute(text(_FTS_COUNT), {"q": match, "cap": cap}).scalar_one()


def apply_customer_search(query, search: str | None, dialect: str):
    """Narrow a customer query (ORM ``Query`` or Core ``Select``) to rows matching every term."""
    terms = search_terms(search)
    if not terms or dialect != "sqlite":
        return _substring(query, terms)
    long_terms = [t for t in terms if len(t) >= 3]
    short_terms = [t for t in terms if len(t) < 3]
    if not long_terms:
        return _substring(query, short_terms)
    match = " AND ".join(_fts_phrase(t) for t in long_terms)
    if fts_match_count(match) < FREQUENT_MATCHES:
        matching = Customer.id
    elif all(t.isascii() for t in long_terms):
        # frequent: walk the sort index and test each row's text, which for ASCII terms is
        # the same test as FTS5's (case folding beyond ASCII is where SQL lower() falls short)
        return _substring(query, terms)
    else:
        # frequent, non-ASCII: keep the FTS test, but as a probe, so the sort index is walked
        matching = Customer.id + 0
    query = query.filter(matching.in_(text(_FTS_ROWIDS).bindparams(q=match).columns(rowid=Integer)))
    return _substring(query, short_terms)
