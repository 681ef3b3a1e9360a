"""The one secure base for every admin screen (the start page and sign-in: ``index``).

``SecureModelView`` is where a screen declared the way Flask-Admin's own examples do gets the
product's security, i18n and export: deny by default, stable filter URLs (``column_filters``
takes plain column names, dates included, next to keyed filters), stock ``@action`` bulk actions
that are permission-checked POSTs with CSRF reporting per-record refusals, and ``can_export`` with
``export_types`` streaming the typed, stable-key export of ``billing.reporting.exports``; and,
from ``list_place``, filters that hold by default, the match count and lists that keep their
place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import ClassVar

import sqlalchemy
from flask import Response, abort, flash, g, redirect, request, stream_with_context, url_for
from flask_admin import BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.tools import iterdecode
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_wtf import FlaskForm
from sqlalchemy import TypeDecorator
from sqlalchemy.orm import ColumnProperty
from werkzeug.datastructures import ImmutableMultiDict
from wtforms import Form, HiddenField

from billing.kernel import audit
from billing.kernel.errors import DomainError
from billing.kernel.permissions import Permission
from billing.reporting.exports import BATCH, FORMATS, Export, Field
from models import MAX_RECORD_ID, db

from .auth import clock, current_staff, site, staff_actor, staff_can
from .filters import FilterConverter, filter_url_name
from .formatting import DETAIL_FORMATTERS, LIST_FORMATTERS
from .list_place import ListPlaceMixin
from .navigation import RETURN, admin_address

RECORD_ID = re.compile(r"[0-9]{1,10}")


# how many records a refusal names before it says "…"
NAMED_REFUSALS = 10


class PermissionGuard:
    """Deny by default: a view names the permission (``billing.kernel.permissions``) it takes to
    open it and use its endpoints; an endpoint that needs more says so with ``@requires(...)``."""

    permission: ClassVar[Permission | None] = None

    def is_accessible(self) -> bool:
        return self.permission is not None and staff_can(self.permission)

    def inaccessible_callback(self, name, **kwargs):
        if current_staff() is None:
            return redirect(url_for("admin.login_view", next=request.full_path))
        abort(403)


class PermittedColumns:
    """One of Flask-Admin's column caches (the list, sortable, details and export columns, set
    once when the view is built), read per request without the columns the signed-in staff
    member's role may not see (``SecureModelView.column_permissions``)."""

    def __set_name__(self, owner, name: str) -> None:
        self.store = f"_all{name}"

    def __get__(self, view, owner=None):
        if view is None:
            return self
        columns = getattr(view, self.store)
        hidden = view.hidden_columns()
        if not hidden:
            return columns
        if isinstance(columns, dict):
            return {name: column for name, column in columns.items() if name not in hidden}
        return [column for column in columns if column[0] not in hidden]

    def __set__(self, view, columns) -> None:
        setattr(view, self.store, columns)


class SecureModelView(PermissionGuard, ListPlaceMixin, ModelView):
    #: columns only the roles with a permission (``billing.kernel.permissions``) see: in the
    #: list, its
    #: sorting, the details and every export; a view adds its own. Purchase prices and costs
    #: are listed here once, so every screen built on this base hides them alike.
    column_permissions: ClassVar[dict[str, Permission]] = {
        "purchase_price": Permission.SEE_FINANCIALS,
        "purchase_cost": Permission.SEE_FINANCIALS,
        "ip_purchase_price": Permission.SEE_FINANCIALS,
    }
    _list_columns = PermittedColumns()
    _sortable_columns = PermittedColumns()
    _details_columns = PermittedColumns()
    _export_columns = PermittedColumns()

    form_base_class = FlaskForm
    list_template = "admin/msp_list.html"
    can_create = False
    can_edit = False
    can_delete = False
    simple_list_pager = True
    page_size = 25
    can_set_page_size = True
    page_size_options = (25, 50, 100)
    column_type_formatters = LIST_FORMATTERS
    column_type_formatters_detail = DETAIL_FORMATTERS

    def __init__(self, *args, **kwargs):
        searched = [*(self.column_searchable_list or ()), *(self.column_filters or ())]
        shown_to_all = {_column_name(item) for item in searched} & self.column_permissions.keys()
        if shown_to_all:
            raise ValueError(
                f"{type(self).__name__}: a search or filter on {sorted(shown_to_all)} would "
                "show its values to every role; these columns need a permission"
            )
        super().__init__(*args, **kwargs)
        self._check_action_permissions()

    def _check_action_permissions(self) -> None:
        """Every ``@action`` of the view has a permission, so none is refused to everybody
        without anyone noticing (or offered to a role by accident)."""
        offered = [name for name, _text in self._actions if self.action_offered(name)]
        missing = sorted(name for name in offered if name not in self.action_permissions)
        if missing and self.action_permission is None:
            raise ValueError(
                f"{type(self).__name__}: the bulk actions {missing} need a permission; set "
                "action_permission (or action_permissions[name])"
            )

    def hidden_columns(self) -> set[str]:
        """The columns the signed-in staff member's role may not see (all of them when nobody
        is signed in)."""
        return {
            name
            for name, permission in self.column_permissions.items()
            if not staff_can(permission)
        }

    filter_converter = FilterConverter()
    #: Who may run a bulk action (``@action``): ``action_permissions[name]``, else
    #: ``action_permission``; a view with bulk actions names at least the latter.
    action_permission: ClassVar[Permission | None] = None
    action_permissions: ClassVar[dict[str, Permission]] = {}
    #: The export (``can_export``, ``export_types``): ``billing.reporting.exports.Field``s, each
    #: with its
    #: key, kind and SQL expression. Left empty, the columns of ``column_export_list`` (else
    #: ``column_list``) are exported under their names, typed by their column types.
    export_fields: tuple[Field, ...] = ()

    def _handle_view(self, name, **kwargs):
        refused = super()._handle_view(name, **kwargs)
        if refused is None and not self._stock_view_enabled(name):
            abort(404)
        _drop_unsafe_return_url()
        return refused

    def _stock_view_enabled(self, name: str) -> bool:
        """Flask-Admin registers every stock screen of a model view; the ones this view does not
        offer answer 404 instead of redirecting, so no route exists that nobody may use."""
        offered = {
            "create_view": self.can_create,
            "edit_view": self.can_edit,
            "delete_view": self.can_delete,
            "details_view": self.can_view_details,
            "export": self.can_export,
            "ajax_update": bool(self.column_editable_list),
            "ajax_lookup": bool(self._form_ajax_refs),
            "action_view": any(self.action_offered(action) for action, _text in self._actions),
        }
        return offered.get(name, True)

    def _refresh_cache(self) -> None:
        super()._refresh_cache()
        self._export = (
            Export(self.export_fields or self._column_export_fields(), sheet=self.endpoint)
            if self.can_export
            else None
        )

    # --- filters: stock ones from column names, keyed ones, stable URL names ------------------

    def scaffold_filters(self, name):
        """Flask-Admin's filters for a column named in ``column_filters``; each gets a ``key``
        from that name, so its URL argument is e.g. ``flt0_city_contains`` in every language."""
        filters = super().scaffold_filters(name)
        if isinstance(name, str):
            for flt in filters or ():
                column = getattr(flt.column, "key", None)
                key = name if column == name.rsplit(".", 1)[-1] else f"{name}.{column}"
                flt.key = key.replace(".", "_")
        return filters

    def get_filter_arg(self, index, flt):
        """``<key>_<operation>`` for a filter with a ``key``; Flask-Admin's own name otherwise."""
        key = getattr(flt, "key", None)
        if key is None:
            return super().get_filter_arg(index, flt)
        return filter_url_name(key, flt.operation())

    def _refresh_filters_cache(self) -> None:
        super()._refresh_filters_cache()
        names = [self.get_filter_arg(i, flt) for i, flt in enumerate(self._filters or ())]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(
                f"{type(self).__name__}: several filters are named {', '.join(twice)} in URLs; "
                "give them different keys"
            )

    def filter_url_names(self) -> list[str]:
        """The filter arguments of this list's URLs, without the ``flt<n>_`` position."""
        return list(self._filter_args or ())

    # --- bulk actions: stock @action, role-checked, per-record refusals ------------------------

    def action_offered(self, name: str) -> bool:
        """Whether the view offers bulk action ``name`` at all (Flask-Admin's own checks, e.g.
        the stock delete only with ``can_delete``), whoever asks."""
        return super().is_action_allowed(name)

    def action_permission_of(self, name: str) -> Permission | None:
        """The permission it takes to run bulk action ``name``."""
        return self.action_permissions.get(name, self.action_permission)

    def is_action_allowed(self, name: str) -> bool:
        permission = self.action_permission_of(name)
        return self.action_offered(name) and permission is not None and staff_can(permission)

    @expose("/action/", methods=("POST",))
    def action_view(self):
        """Flask-Admin's bulk action endpoint (its form carries the CSRF token); a role that may
        not run the action asked for, or none of the view's, is refused with 403."""
        name = request.form.get("action", "")
        if not self.get_actions_list()[0] or (
            name in self._actions_data and not self.is_action_allowed(name)
        ):
            abort(403)
        return self.handle_action()

    def get_action_form(self):
        """Flask-Admin's bulk action form as a plain WTForms form: the app's CSRFProtect checks
        the token of every POST (admin/actions.html writes it), and a Flask-WTF form would load
        WTForms' message catalogue on every list page that has actions."""

        class ActionForm(Form):
            action = HiddenField()
            url = HiddenField()

        return ActionForm

    def apply_to_selected(
        self,
        ids: Iterable[str],
        change: Callable[[object], object],
        done: Callable[[int], str],
    ) -> None:
        """Call ``change(primary_key)`` (one ``billing`` function) for each selected record. A
        ``DomainError`` refuses that record only: the others go on, and one message lists the
        refusals with their reasons; ``done(count)`` is the message for the records changed."""
        refusals: dict[str, list[str]] = {}
        changed = 0
        for raw in dict.fromkeys(ids):
            record = self.get_one(raw)
            if record is None:
                refusals.setdefault(_("This record does not exist."), []).append(raw)
                continue
            label = str(record)
            key = sqlalchemy.inspect(record).identity
            try:
                change(key[0] if len(key) == 1 else key)
            except DomainError as error:
                db.session.rollback()
                refusals.setdefault(str(error.message), []).append(label)
            else:
                changed += 1
                g.setdefault("changed_records", []).append(raw)
        if changed:
            flash(done(changed), "success")
        if refusals:
            count = sum(len(labels) for labels in refusals.values())
            reasons = "; ".join(
                f"{reason} ({', '.join(labels[:NAMED_REFUSALS])}"
                f"{' …' if len(labels) > NAMED_REFUSALS else ''})"
                for reason, labels in refusals.items()
            )
            flash(
                ngettext(
                    "%(num)d selected record was not changed: %(reasons)s",
                    "%(num)d selected records were not changed: %(reasons)s",
                    count,
                    reasons=reasons,
                ),
                "error",
            )

    # --- export: streamed, typed, stable keys ---------------------------------------------------

    def _column_export_fields(self) -> tuple[Field, ...]:
        """One field per column of ``column_export_list`` (else ``column_list``, else the
        model's columns): the column's name as its key, its kind from its type."""
        named = bool(self.column_export_list or self.column_list)
        fields = []
        for name, _label in self._all_export_columns:  # every role's; ``export`` narrows them
            attr = getattr(self.model, name, None) if isinstance(name, str) else None
            prop = getattr(attr, "property", None)
            if not isinstance(prop, ColumnProperty):
                if not named:
                    continue  # a relationship Flask-Admin lists by default
                raise ValueError(
                    f"{type(self).__name__}: {name!r} is not a column of {self.model.__name__}; "
                    "declare its export in export_fields"
                )
            fields.append(Field(name, _export_kind(prop.columns[0].type), attr))
        return tuple(fields)

    def _permitted_export(self) -> Export:
        """The view's export without the fields the signed-in staff member's role may not see
        (``column_permissions``)."""
        hidden = self.hidden_columns()
        if not hidden.intersection(self._export.keys):
            return self._export
        fields = [field for field in self._export.fields if field.key not in hidden]
        return Export(fields, sheet=self._export.sheet)

    @expose("/export/<export_type>/")
    def export(self, export_type):
        """Stream exactly the rows the current filter, search and sort select (every page) with
        the view's export fields; recorded in the audit log."""
        if export_type not in self.export_types or export_type not in FORMATS:
            flash(_("Unknown export format."), "error")
            return redirect(url_for(".index_view"))
        args = self._get_list_extra_args()
        sort = self._get_column_by_idx(args.sort)
        _count, query = self.get_list(
            None,
            sort[0] if sort else None,
            args.sort_desc,
            args.search,
            args.filters,
            execute=False,
            page_size=0,
        )
        export = self._permitted_export()
        statement = (
            query.enable_eagerloads(False)
            .with_entities(*export.columns(site()))
            .statement.execution_options(yield_per=BATCH)
        )
        audit.record(
            staff_actor(),
            f"{self.endpoint}.export",
            clock(),
            after={
                "format": export_type,
                "search": args.search or "",
                "filters": [str(v) for _i, _n, v in args.filters or []],
            },
        )
        db.session.commit()
        mimetype, writer = export.writer(export_type)
        stamp = clock().now().strftime("%Y%m%d-%H%M%S")
        return Response(
            stream_with_context(writer(_rows(statement))),
            mimetype=mimetype,
            headers={
                "Content-Disposition": (
                    f'attachment; filename="{self.endpoint}-{stamp}.{export_type}"'
                ),
                "Cache-Control": "no-store",
            },
        )

    def get_one(self, id):  # noqa: A002 - Flask-Admin's name
        """The record with primary key ``id``, or None for an ``id`` no record can have (text or
        a number out of range for an integer key, several values): the screen then says the
        record does not exist instead of the database refusing the lookup."""
        if not isinstance(id, str) or len(iterdecode(id)) != 1:
            return None
        (key,) = self.model.__mapper__.primary_key
        if key.type.python_type is int and (not RECORD_ID.fullmatch(id) or int(id) > MAX_RECORD_ID):
            return None
        return super().get_one(id)

    def _get_list_extra_args(self):
        """Clamp bogus page, page size and sort arguments instead of failing on them."""
        args = super()._get_list_extra_args()
        args.page = max(0, min(args.page or 0, 1_000_000))
        if args.page_size not in self.page_size_options:
            args.page_size = 0
        if args.sort is not None and self._get_column_by_idx(args.sort) is None:
            args.sort = None
        return args


def _column_name(item) -> str | None:
    """The column name of a search or filter entry: a name, a model attribute or a filter."""
    if isinstance(item, str):
        return item
    return getattr(item, "key", None) or getattr(getattr(item, "column", None), "key", None)


def _export_kind(column_type) -> str:
    """The export kind of a column of SQL type ``column_type``."""
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    try:
        python_type = column_type.python_type
    except NotImplementedError:
        python_type = None
    kinds = ((bool, "bool"), (int, "int"), (datetime, "datetime"), (date, "date"))
    kinds += ((Decimal, "decimal"), (float, "decimal"), (Enum, "code"), (str, "text"))
    for kind_type, kind in kinds:
        if isinstance(python_type, type) and issubclass(python_type, kind_type):
            return kind
    raise ValueError(f"no export kind for {column_type!r}; declare the field in export_fields")


def _rows(statement):
    """Export rows as plain tuples from a server-side cursor (Core: no ORM row overhead).

    PostgreSQL plans a cursor for its first tenth of rows by default, so a filtered export
    walked the whole sort index (100 ms at 100,000 customers) where reading the matches and
    sorting them takes 5 ms; an export reads every row, so the cursor is planned for all."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1")
    yield from connection.execute(statement)


def _drop_unsafe_return_url() -> None:
    """Flask-Admin's screens go back to their ``url`` argument (in the query or, for bulk
    actions, the form), and its own check lets through targets a browser reads as another host
    (``http:/evil.example``). Anything that is not a local path inside the admin
    (``navigation.admin_address``) is dropped before a screen sees it, so it goes back to its
    list instead."""
    for source in ("args", "form"):
        values = getattr(request, source)
        target = values.get(RETURN)
        if target is None or admin_address(target) == target:
            continue
        kept = values.copy()
        kept.poplist(RETURN)
        setattr(request, source, ImmutableMultiDict(kept))
        request.__dict__.pop("values", None)


class SecureBaseView(PermissionGuard, BaseView):
    pass
