"""List filters every model view understands through ``SecureModelView``.

* ``FilterConverter``: Flask-Admin's converter that also knows the models' ``UTCDateTime``
  columns. A plain column name in ``column_filters`` (``"created_at"``) gets the stock date
  and time filters, with the values typed in the MSP's time zone, plus "in the last N days".
* ``InLastDaysFilter``: a column within the last N days of the clock, for any view.
* ``filter_url_name``: the stable URL name of a filter with a ``key`` (``<key>_<operation>``,
  e.g. ``flt0_status_equals=locked``), the same in every UI language.
"""

from __future__ import annotations

import re
from datetime import UTC, timedelta

from flask import current_app
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_admin.model import filters as model_filters
from flask_babel import lazy_gettext

#: The longest "in the last N days" (a century); more cannot be computed back from the clock.
MAX_DAYS = 36_500
_NOT_NAME = re.compile(r"[^a-z0-9]+")


def filter_url_name(key: str, operation) -> str:
    """``<key>_<operation>`` from the operation's English text (a lazy text's message id), so a
    filter's URL argument does not change with the UI language."""
    text = str(getattr(operation, "_args", (operation,))[0])
    return f"{key}_{_NOT_NAME.sub('_', text.lower()).strip('_')}"


def _msp_time_to_utc(moment):
    """A date and time typed in the MSP's time zone as the UTC instant the column stores."""
    try:
        return moment.replace(tzinfo=current_app.config["CLOCK"].tz).astimezone(UTC)
    except OverflowError as error:  # e.g. 0001-01-01 00:00 in Berlin is before year 1 in UTC
        raise ValueError(str(error)) from error


class _InMspTime:
    """A date-time filter whose values are read in the MSP's time zone (``UTCDateTime`` refuses
    naive values)."""

    def clean(self, value):
        return _msp_time_to_utc(super().clean(value))


class _RangeInMspTime:
    def clean(self, value):
        return [_msp_time_to_utc(moment) for moment in super().clean(value)]

    def validate(self, value) -> bool:
        if not super().validate(value):
            return False
        try:
            self.clean(value)
        except ValueError:
            return False
        return True


class UtcDateTimeEqualFilter(_InMspTime, sqla_filters.DateTimeEqualFilter):
    pass


class UtcDateTimeNotEqualFilter(_InMspTime, sqla_filters.DateTimeNotEqualFilter):
    pass


class UtcDateTimeGreaterFilter(_InMspTime, sqla_filters.DateTimeGreaterFilter):
    pass


class UtcDateTimeSmallerFilter(_InMspTime, sqla_filters.DateTimeSmallerFilter):
    pass


class UtcDateTimeBetweenFilter(_RangeInMspTime, sqla_filters.DateTimeBetweenFilter):
    pass


class UtcDateTimeNotBetweenFilter(_RangeInMspTime, sqla_filters.DateTimeNotBetweenFilter):
    pass


class InLastDaysFilter(sqla_filters.BaseSQLAFilter):
    """``column`` at or after now minus N days (N typed as a whole number, 1 to ``MAX_DAYS``),
    now being the app's clock. ``key`` names the filter in URLs."""

    def __init__(self, column, name, options=None, data_type=None, key: str | None = None):
        super().__init__(column, name, options, data_type)
        if key is not None:
            self.key = key

    def validate(self, value) -> bool:
        return (
            isinstance(value, str)
            and value.isascii()
            and value.isdigit()
            and 1 <= int(value) <= MAX_DAYS
        )

    def clean(self, value) -> int:
        return int(value)

    def apply(self, query, value, alias=None):
        since = current_app.config["CLOCK"].now() - timedelta(days=value)
        return query.filter(self.get_column(alias) >= since)

    def operation(self):
        return lazy_gettext("in the last N days")


class FilterConverter(sqla_filters.FilterConverter):
    """Flask-Admin's filter converter, plus the models' ``UTCDateTime`` columns."""

    utc_datetime_filters = (
        UtcDateTimeEqualFilter,
        UtcDateTimeNotEqualFilter,
        UtcDateTimeGreaterFilter,
        UtcDateTimeSmallerFilter,
        UtcDateTimeBetweenFilter,
        UtcDateTimeNotBetweenFilter,
        InLastDaysFilter,
        sqla_filters.FilterEmpty,
    )

    @model_filters.convert("UTCDateTime")
    def conv_utc_datetime(self, column, name, **kwargs):
        return [f(column, name, **kwargs) for f in self.utc_datetime_filters]
