"""Cell formatters every list and details screen shares: dates and times in the staff member's
language and the MSP's time zone (never ISO text or UTC)."""

from __future__ import annotations

from datetime import date, datetime

from flask_admin.model import typefmt
from flask_babel import format_date, format_datetime


def local_datetime(view, value: datetime, name: str) -> str:
    return format_datetime(value, "medium")


def local_date(view, value: date, name: str) -> str:
    return format_date(value, "medium")


LIST_FORMATTERS = {**typefmt.BASE_FORMATTERS, datetime: local_datetime, date: local_date}
DETAIL_FORMATTERS = {**typefmt.DETAIL_FORMATTERS, datetime: local_datetime, date: local_date}
