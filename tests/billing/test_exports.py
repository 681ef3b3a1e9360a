"""Export serialisation: typed JSON, CSV/XLSX with formula protection (SPEC §3 export)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

from openpyxl import load_workbook

from billing.reporting.exports import CUSTOMERS, EXPORT_FIELDS, defuse

KEYS = [f.key for f in EXPORT_FIELDS]


def _row(**values):
    base = {
        "id": 7,
        "company_name": "ACME",
        "contact_name": "Ann",
        "contact_email": "a@acme.example",
        "service_mode": "managed",
        "status": "active",
        "internal_ips": 10,
        "external_ips": 2,
        "total_ips": 12,
        "payment_method": "card",
        "monthly_price": Decimal("54"),
        "average_ip_price": Decimal("4.5"),
        "currency": "EUR",
        "language": "de",
        "country": "DE",
        "city": "Berlin",
        "vat_id": "",
        "partner": None,
        "locked": 0,
        "has_pending_change": 1,
        "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    base.update(values)
    return tuple(base[k] for k in KEYS)


def test_json_has_stable_keys_and_typed_values():
    data = json.loads("".join(CUSTOMERS.iter_json([_row(), _row(id=8, average_ip_price=None)])))
    assert [list(item) for item in data] == [KEYS, KEYS]
    first = data[0]
    assert first["id"] == 7 and first["internal_ips"] == 10 and first["total_ips"] == 12
    assert first["monthly_price"] == "54.00" and first["average_ip_price"] == "4.50"
    assert first["locked"] is False and first["has_pending_change"] is True
    assert first["service_mode"] == "managed" and first["partner"] is None
    assert first["created_at"] == "2026-01-02T03:04:05+00:00"
    assert data[1]["average_ip_price"] is None


def test_json_of_no_rows_is_an_empty_array():
    assert json.loads("".join(CUSTOMERS.iter_json([]))) == []


def test_csv_and_xlsx_defuse_formulas():
    evil = _row(company_name='=HYPERLINK("http://x")', city="+1+1", contact_name="@SUM(A1)")
    rows = list(csv.reader(io.StringIO("".join(CUSTOMERS.iter_csv([evil])))))
    assert rows[0] == KEYS
    record = dict(zip(KEYS, rows[1], strict=True))
    assert record["company_name"].startswith("'=")
    assert record["city"] == "'+1+1" and record["contact_name"] == "'@SUM(A1)"
    book = load_workbook(io.BytesIO(b"".join(CUSTOMERS.iter_xlsx([evil]))))
    sheet = book.active
    values = [c.value for c in sheet[2]]
    assert values[KEYS.index("company_name")].startswith("'=")
    assert sheet.cell(row=2, column=KEYS.index("internal_ips") + 1).value == 10
    assert sheet.cell(row=2, column=KEYS.index("monthly_price") + 1).value == 54


def test_defuse_leaves_ordinary_text_and_numbers_alone():
    assert defuse("ACME GmbH") == "ACME GmbH"
    assert defuse(-5) == -5
    assert defuse("-5") == "'-5"


def test_the_fast_json_writer_equals_json_dumps_of_the_typed_row():
    import json as std

    rows = [
        _row(),
        _row(
            company_name='Quote " and \\ and ü and \n newline',
            partner="P\tQ",
            average_ip_price=None,
            locked=1,
            monthly_price=Decimal("0.005"),
        ),
    ]
    for row in rows:
        expected = dict(zip(KEYS, CUSTOMERS.typed(row), strict=True))
        assert std.loads(CUSTOMERS.json_object(row)) == expected
