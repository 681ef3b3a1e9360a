"""The list seams of ``SecureModelView`` (issue 16): filters that hold by default, how many
records match, and lists that keep their place.

* ``column_default_filters``: ``{key: value}`` of keyed filters that hold while the list's
  address names no filter with that key (the customer list hides erased customers until its
  "Erased" filter says otherwise); the list, its count and every export follow them.
* ``list_count``: the list says above its table how many records match, exactly where that is
  cheap, else an estimate marked "about" (``billing.infra.counting``); ``describe_count`` words
  it for the view's records.
* The list page knows its own address (``navigation.list_address``) and passes it to the
  record pages it links to (``record_link``); the rows its address names in ``highlight`` are
  marked (admin/model/list.html), and so are the rows a bulk action changed.
"""

from __future__ import annotations

from typing import ClassVar

from flask import g, url_for
from flask_babel import format_decimal, ngettext

from billing.infra.counting import ABOUT, MORE_THAN, MatchCount, count_matches

from .navigation import HIGHLIGHT, RETURN, highlighted_ids, is_list_of, list_address, with_highlight


class ListPlaceMixin:
    """Mixed into ``SecureModelView`` before Flask-Admin's ``ModelView``."""

    column_default_filters: ClassVar[dict[str, str]] = {}
    list_count: ClassVar[bool] = False

    def _refresh_filters_cache(self) -> None:
        super()._refresh_filters_cache()
        keys = {getattr(flt, "key", None) for flt in self._filters or ()}
        unknown = sorted(set(self.column_default_filters) - keys)
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: column_default_filters names {', '.join(unknown)}, "
                "which no filter of column_filters has as its key"
            )

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        """Flask-Admin's list query, with ``column_default_filters`` added; executed, the
        page's rows (``page_rows``) and, with ``list_count``, how many records match."""
        count, query = super().get_list(
            page,
            sort_column,
            sort_desc,
            search,
            self.with_default_filters(filters),
            execute=False,
            page_size=page_size,
        )
        if not execute:
            return count, query
        if self.list_count:
            (key,) = self.model.__mapper__.primary_key
            unpaged = query.limit(None).offset(None).order_by(None).with_entities(key)
            g.match_count = count_matches(unpaged.statement, key)
        return count, self.page_rows(query)

    def page_rows(self, query) -> list:
        """The records of one list page (``query``: filtered, sorted, limited)."""
        return query.all()

    def with_default_filters(self, filters):
        """``filters`` (Flask-Admin's ``(index, name, value)``) and the default filters whose
        key none of them has."""
        filters = list(filters or ())
        given = {getattr(self._filters[index], "key", None) for index, _name, _value in filters}
        for key, value in self.column_default_filters.items():
            if key in given:
                continue
            index = next(
                i for i, flt in enumerate(self._filters) if getattr(flt, "key", None) == key
            )
            filters.append((index, self._filters[index].name, value))
        return filters

    def handle_action(self, return_view=None):
        """Flask-Admin's bulk action; back on the list page, the records it changed are
        highlighted (``apply_to_selected`` names them in ``g.changed_records``). An action may
        answer with a page of its own (asking for more) instead."""
        response = super().handle_action(return_view)
        changed = g.pop("changed_records", None)
        redirected = getattr(response, "status_code", None) in (302, 303)
        location = response.location if redirected else None
        if changed and location and is_list_of(location, self.endpoint):
            response.location = with_highlight(location, changed)
        return response

    def render(self, template, **kwargs):
        """The list page knows the rows to highlight, how many records match and its own
        address, which the links to its records carry (``list_address``)."""
        if template == self.list_template and "data" in kwargs:
            kwargs["highlighted"] = highlighted_ids()
            kwargs["match_count"] = match = g.get("match_count")
            kwargs["count_words"] = self.describe_count(match) if match else ""
            g.list_address = kwargs["list_address"] = list_address()
        return super().render(template, **kwargs)

    def describe_count(self, match: MatchCount) -> str:
        """How many records match (``list_count``), in words; a view names its records."""
        number = format_decimal(match.number)
        if match.kind == ABOUT:
            return ngettext(
                "about %(count)s record", "about %(count)s records", match.number, count=number
            )
        if match.kind == MORE_THAN:
            return ngettext(
                "more than %(count)s record",
                "more than %(count)s records",
                match.number,
                count=number,
            )
        return ngettext("%(count)s record", "%(count)s records", match.number, count=number)

    def record_link(self, record_id) -> str:
        """The address of a record's details page that leads back to the list being shown."""
        address = g.get("list_address")
        return url_for(".details_view", id=record_id, **({RETURN: address} if address else {}))

    def _get_list_extra_args(self):
        """The rows to highlight and a return address are not part of the list's own
        address (Flask-Admin would carry them into its paging and sorting links)."""
        args = super()._get_list_extra_args()
        args.extra_args.pop(HIGHLIGHT, None)
        args.extra_args.pop(RETURN, None)
        return args
