"""Streamed, typed exports (SPEC §3): one declared list of fields, written as JSON, CSV or XLSX.

An export is declared as a tuple of ``Field``: each carries its stable snake_case key, its kind
(how its values are typed) and the SQL expression it is read from, so a field is added, moved
or removed in one place. ``Export`` turns such a declaration into the SQL columns to select and
the writers; rows are plain tuples read from a cursor in batches, so memory stays constant
however many rows the filter selects. ``EXPORT_FIELDS`` is the customer list's export.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy import String, literal, select

from billing.kernel.site import Site
from models import Customer, Partner

BATCH = 2000


TWO_PLACES = Decimal("0.01")


def _money(value) -> str:
    return str(Decimal(value).quantize(TWO_PLACES, rounding=ROUND_HALF_UP))


def _decimal(value) -> str:
    return format(value if isinstance(value, Decimal) else Decimal(str(value)), "f")


def _code(value) -> str:
    return str(value.value if isinstance(value, Enum) else value)


def _moment(value) -> str:
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


#: How each kind's values are typed: JSON-ready Python values.
CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "int": int,
    "decimal": _decimal,
    "money": _money,
    "bool": bool,
    "date": _moment,
    "datetime": _moment,
    "code": _code,
    "text": str,
}
KINDS = frozenset(CONVERTERS)
# the kinds whose text someone typed or chose: protected against formulas in CSV and XLSX
TEXT_KINDS = frozenset({"code", "text"})
# the kinds written as numbers into XLSX cells
NUMBER_KINDS = frozenset({"decimal", "money"})


@dataclass(frozen=True)
class SiteValue:
    """An export column with the same value in every row: the deployment's ``name`` value
    (an attribute of ``billing.kernel.site.Site``, e.g. ``currency``), given when the export
    runs."""

    name: str


@dataclass(frozen=True, eq=False)
class Field:
    """One export column: its stable snake_case ``key``, its ``kind`` (one of ``KINDS``) and the
    SQL ``expression`` it is read from, or a function without arguments that returns one when
    the export runs, or a ``SiteValue``. Exports whose rows are computed in Python (the billing
    data) declare no expression."""

    key: str
    kind: str
    expression: Any = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"export field {self.key!r}: unknown kind {self.kind!r}")

    def column(self, site: Site | None = None):
        """The SQL expression to select; a ``SiteValue`` needs the ``site`` of the export."""
        if isinstance(self.expression, SiteValue):
            if site is None:
                raise ValueError(f"export field {self.key!r} needs the site's values")
            return literal(getattr(site, self.expression.name), String)
        return self.expression() if callable(self.expression) else self.expression


def _partner_name():
    return select(Partner.name).where(Partner.id == Customer.partner_id).scalar_subquery()


EXPORT_FIELDS: tuple[Field, ...] = (
    Field("id", "int", Customer.id, "customer id"),
    Field("company_name", "text", Customer.company_name, "company name"),
    Field("contact_name", "text", Customer.contact_name, "contact person"),
    Field(
        "contact_email", "text", Customer.contact_email, "contact e-mail (the main user's login)"
    ),
    Field("service_mode", "code", Customer.service_mode, "managed | self_service"),
    Field(
        "status",
        "code",
        Customer.status,
        "marked_for_deletion | invited | locked | active | inactive",
    ),
    Field(
        "internal_ips",
        "int",
        Customer.internal_ips,
        "internal IPs of the current and active additional subscriptions",
    ),
    Field(
        "external_ips",
        "int",
        Customer.external_ips,
        "external IPs of the current and active additional subscriptions",
    ),
    Field("total_ips", "int", Customer.internal_ips + Customer.external_ips, "internal + external"),
    Field(
        "payment_method",
        "code",
        Customer.payment_method,
        "card | invoice | project_key | free, or null",
    ),
    Field("monthly_price", "money", Customer.monthly_price, "net monthly price, decimal string"),
    Field(
        "average_ip_price",
        "money",
        Customer.average_ip_price,
        "monthly price ÷ total IPs, decimal string or null",
    ),
    Field("currency", "code", SiteValue("currency"), "ISO 4217 code of the prices"),
    Field("language", "code", Customer.language, "en | de"),
    Field("country", "code", Customer.country, "ISO 3166 alpha-2 of the primary address"),
    Field("city", "text", Customer.city, "city of the primary address"),
    Field("vat_id", "text", Customer.vat_id, "VAT identification number"),
    Field("partner", "text", _partner_name, "reseller name, or null"),
    Field("locked", "bool", Customer.locked, "account locked"),
    Field(
        "has_pending_change", "bool", Customer.has_pending_change, "a scheduled change is pending"
    ),
    Field("created_at", "datetime", Customer.created_at, "ISO 8601, UTC"),
)


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


def _json_money(value) -> str:
    return '"' + _money(value) + '"'


def _json_decimal(value) -> str:
    return '"' + _decimal(value) + '"'


def _json_moment(value) -> str:
    return '"' + _moment(value) + '"'


# Built-in callables where the column type is known, so the hot loop stays in C.
JSON_ENCODERS = {
    "int": "%d".__mod__,
    "decimal": _json_decimal,
    "money": _json_money,
    "bool": {True: "true", False: "false"}.__getitem__,
    "date": _json_moment,
    "datetime": _json_moment,
    "code": encode_basestring,
    "text": json_string,
}


class Export:
    """The SQL columns and the JSON, CSV and XLSX writers of one declaration of fields."""

    def __init__(self, fields: Iterable[Field], sheet: str = "export") -> None:
        self.fields = tuple(fields)
        keys = [f.key for f in self.fields]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"export keys appear twice: {', '.join(duplicates)}")
        self.keys = keys
        self.sheet = sheet
        self._converters = tuple(CONVERTERS[f.kind] for f in self.fields)
        self._json = tuple(
            (encode_basestring(f.key) + ": ", JSON_ENCODERS[f.kind]) for f in self.fields
        )
        self._text = tuple(f.kind in TEXT_KINDS for f in self.fields)
        self._number = tuple(f.kind in NUMBER_KINDS for f in self.fields)

    def columns(self, site: Site | None = None) -> list:
        """The fields' SQL expressions, in order, to pass to ``select`` or ``with_entities``;
        ``site`` gives the values of ``SiteValue`` fields."""
        return [f.column(site) for f in self.fields]

    def typed(self, row: tuple) -> list:
        """JSON-ready values: numbers as numbers, money and decimals as decimal strings, codes
        and text as strings, moments in ISO 8601."""
        return [
            None if value is None else convert(value)
            for convert, value in zip(self._converters, row, strict=True)
        ]

    def json_object(self, row: tuple) -> str:
        """One row as a JSON object (same result as ``json.dumps`` of the typed row)."""
        try:
            return self._json_object(row)
        except (TypeError, KeyError, ValueError):
            # An unexpected value type (e.g. a non-str code): convert it the slow, general way.
            return self._json_object(self.typed(row))

    def _json_object(self, row) -> str:
        return (
            "{"
            + ", ".join(
                prefix + ("null" if value is None else encode(value))
                for (prefix, encode), value in zip(self._json, row, strict=True)
            )
            + "}"
        )

    def iter_json(self, rows: Iterable[tuple]) -> Iterator[str]:
        """A JSON array of objects with the fields' keys, produced in chunks."""
        yield "["
        first = True
        chunk: list[str] = []
        for row in rows:
            text = self.json_object(row)
            chunk.append(text if first else "," + text)
            first = False
            if len(chunk) >= BATCH:
                yield "\n".join(chunk)
                chunk = []
        if chunk:
            yield "\n".join(chunk)
        yield "]\n"

    def _cells(self, row: tuple) -> list:
        return [
            defuse(value) if text else value
            for text, value in zip(self._text, self.typed(row), strict=True)
        ]

    def iter_csv(self, rows: Iterable[tuple]) -> Iterator[str]:
        """CSV with the keys as header row; text cells are protected against formulas."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(self.keys)
        for n, row in enumerate(rows, 1):
            writer.writerow(["" if v is None else v for v in self._cells(row)])
            if n % BATCH == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    def iter_xlsx(self, rows: Iterable[tuple]) -> Iterator[bytes]:
        """An XLSX workbook written row by row to a temporary file, then streamed from it."""
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(self.sheet)
        sheet.append(self.keys)
        for row in rows:
            cells = self._cells(row)
            sheet.append(
                [
                    Decimal(value) if number and value is not None else value
                    for number, value in zip(self._number, cells, strict=True)
                ]
            )
        handle, path = tempfile.mkstemp(suffix=".xlsx")
        os.close(handle)
        try:
            workbook.save(path)
            with open(path, "rb") as stream:
                while block := stream.read(64 * 1024):
                    yield block
        finally:
            os.unlink(path)

    def writer(self, export_type: str) -> tuple[str, Callable[[Iterable[tuple]], Iterator]]:
        """(mimetype, writer) of ``export_type``, one of ``FORMATS``."""
        mimetype, method = FORMATS[export_type]
        return mimetype, getattr(self, method)


#: The export formats: mimetype and the ``Export`` method that writes it.
FORMATS = {
    "json": ("application/json", "iter_json"),
    "csv": ("text/csv; charset=utf-8", "iter_csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "iter_xlsx"),
}

CUSTOMERS = Export(EXPORT_FIELDS, sheet="customers")
