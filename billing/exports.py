"""The customer export (SPEC §3): one typed schema, streamed as JSON, CSV or XLSX.

Rows are plain tuples in ``EXPORT_FIELDS`` order, read from a cursor in batches, so memory stays
constant however many rows the filter selects.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from json.encoder import encode_basestring

from sqlalchemy import String, literal, select

from models import Customer, Partner

BATCH = 2000


@dataclass(frozen=True)
class Field:
    key: str
    kind: str  # int | money | code | text | bool | datetime
    description: str


EXPORT_FIELDS: tuple[Field, ...] = (
    Field("id", "int", "customer id"),
    Field("company_name", "text", "company name"),
    Field("contact_name", "text", "contact person"),
    Field("contact_email", "text", "contact e-mail (the main user's login)"),
    Field("service_mode", "code", "managed | self_service"),
    Field("status", "code", "marked_for_deletion | invited | locked | active | inactive"),
    Field("internal_ips", "int", "internal IPs of the current and active additional subscriptions"),
    Field("external_ips", "int", "external IPs of the current and active additional subscriptions"),
    Field("total_ips", "int", "internal + external"),
    Field("payment_method", "code", "card | invoice | project_key | free, or null"),
    Field("monthly_price", "money", "net monthly price, decimal string"),
    Field("average_ip_price", "money", "monthly price ÷ total IPs, decimal string or null"),
    Field("currency", "code", "ISO 4217 code of the prices"),
    Field("language", "code", "en | de"),
    Field("country", "code", "ISO 3166 alpha-2 of the primary address"),
    Field("city", "text", "city of the primary address"),
    Field("vat_id", "text", "VAT identification number"),
    Field("partner", "text", "reseller name, or null"),
    Field("locked", "bool", "account locked"),
    Field("has_pending_change", "bool", "a scheduled change is pending"),
    Field("created_at", "datetime", "ISO 8601, UTC"),
)


def export_columns(currency: str = "EUR") -> list:
    """SQL expressions for ``EXPORT_FIELDS``, to pass to ``Query.with_entities``."""
    partner_name = select(Partner.name).where(Partner.id == Customer.partner_id).scalar_subquery()
    return [
        Customer.id,
        Customer.company_name,
        Customer.contact_name,
        Customer.contact_email,
        Customer.service_mode,
        Customer.status,
        Customer.internal_ips,
        Customer.external_ips,
        Customer.internal_ips + Customer.external_ips,
        Customer.payment_method,
        Customer.monthly_price,
        Customer.average_ip_price,
        literal(currency, String),
        Customer.language,
        Customer.country,
        Customer.city,
        Customer.vat_id,
        partner_name,
        Customer.locked,
        Customer.has_pending_change,
        Customer.created_at,
    ]


TWO_PLACES = Decimal("0.01")


def _money(value) -> str:
    return str(Decimal(value).quantize(TWO_PLACES, rounding=ROUND_HALF_UP))


def _moment(value) -> str:
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


CONVERTERS = {
    "int": int,
    "money": _money,
    "bool": bool,
    "datetime": _moment,
    "code": str,
    "text": str,
}
_ROW_CONVERTERS = tuple(CONVERTERS[f.kind] for f in EXPORT_FIELDS)


def typed(row: tuple) -> list:
    """JSON-ready values: numbers as numbers, money as decimal strings, codes as strings."""
    return [
        None if value is None else convert(value)
        for convert, value in zip(_ROW_CONVERTERS, row, strict=True)
    ]


FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def defuse(value):
    """Protect a text cell against spreadsheet formula injection."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


# "<", ">" and "&" as \u escapes: the export reads back the same, and no text a user typed
# becomes markup should the file ever be shown as a page.
_HTML_UNSAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def html_safe(json_text: str) -> str:
    """JSON text (or a JSON string literal) that is inert in HTML; the same value to a parser."""
    if "<" in json_text or ">" in json_text or "&" in json_text:
        return json_text.translate(_HTML_UNSAFE)
    return json_text


def json_string(value: str) -> str:
    return html_safe(encode_basestring(value))


def _json_text(value) -> str:
    return encode_basestring(str(value))


def _json_money(value) -> str:
    return '"' + _money(value) + '"'


def _json_moment(value) -> str:
    return '"' + _moment(value) + '"'


# Built-in callables where the column type is known, so the hot loop stays in C.
JSON_ENCODERS = {
    "int": "%d".__mod__,
    "money": _json_money,
    "bool": {True: "true", False: "false"}.__getitem__,
    "datetime": _json_moment,
    "code": encode_basestring,
    "text": json_string,
}
_JSON_COLUMNS = tuple(
    (encode_basestring(f.key) + ": ", JSON_ENCODERS[f.kind]) for f in EXPORT_FIELDS
)


def json_object(row: tuple) -> str:
    """One export row as a JSON object (same result as ``json.dumps`` of the typed row)."""
    try:
        return _json_object(row)
    except (TypeError, KeyError, ValueError):
        # An unexpected value type (e.g. a non-str code): convert it the slow, general way.
        return _json_object(typed(row))


def _json_object(row) -> str:
    return (
        "{"
        + ", ".join(
            prefix + ("null" if value is None else encode(value))
            for (prefix, encode), value in zip(_JSON_COLUMNS, row, strict=True)
        )
        + "}"
    )


def iter_json(rows: Iterable[tuple]) -> Iterator[str]:
    """A JSON array of objects with the ``EXPORT_FIELDS`` keys, produced in chunks."""
    yield "["
    first = True
    chunk: list[str] = []
    for row in rows:
        text = json_object(row)
        chunk.append(text if first else "," + text)
        first = False
        if len(chunk) >= BATCH:
            yield "\n".join(chunk)
            chunk = []
    if chunk:
        yield "\n".join(chunk)
    yield "]\n"


def iter_csv(rows: Iterable[tuple]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([f.key for f in EXPORT_FIELDS])
    for n, row in enumerate(rows, 1):
        values = typed(row)
        writer.writerow(["" if v is None else defuse(v) for v in values])
        if n % BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def iter_xlsx(rows: Iterable[tuple]) -> Iterator[bytes]:
    """An XLSX workbook written row by row to a temporary file, then streamed from it."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("customers")
    sheet.append([f.key for f in EXPORT_FIELDS])
    for row in rows:
        values = typed(row)
        cells = []
        for field, value in zip(EXPORT_FIELDS, values, strict=True):
            if field.kind == "money" and value is not None:
                value = Decimal(value)
            cells.append(defuse(value))
        sheet.append(cells)
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        workbook.save(path)
        with open(path, "rb") as stream:
            while block := stream.read(64 * 1024):
                yield block
    finally:
        os.unlink(path)


FORMATS = {
    "json": ("application/json", iter_json),
    "csv": ("text/csv; charset=utf-8", iter_csv),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", iter_xlsx),
}
