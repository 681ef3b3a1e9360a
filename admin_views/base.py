"""The one secure base for every admin screen, the index (dashboard) and sign-in."""

from __future__ import annotations

import re
from typing import ClassVar

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.tools import iterdecode
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.datastructures import ImmutableMultiDict
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from billing import staff as staff_service
from billing.errors import AuthenticationFailed
from billing.permissions import Permission
from extensions import EMAIL_MAX, limiter, typed_key
from models import MAX_RECORD_ID, StaffRole

from .auth import client_ip, clock, current_staff, safe_next, staff_can
from .dashboard import DashboardMixin
from .formatting import DETAIL_FORMATTERS, LIST_FORMATTERS

RECORD_ID = re.compile(r"[0-9]{1,10}")
ALL_STAFF = (StaffRole.ADMIN.value, StaffRole.BILLING.value, StaffRole.SUPPORT.value)


class RoleGuard:
    """Deny by default: a view lists the roles that may open it."""

    allowed_roles: tuple[str, ...] = ()

    def is_accessible(self) -> bool:
        staff = current_staff()
        return staff is not None and staff.role in self.allowed_roles

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


class SecureModelView(RoleGuard, ModelView):
    #: columns only the roles with a permission (``billing.permissions``) see: in the list, its
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

    def hidden_columns(self) -> set[str]:
        """The columns the signed-in staff member's role may not see (all of them when nobody
        is signed in)."""
        return {
            name
            for name, permission in self.column_permissions.items()
            if not staff_can(permission)
        }

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
            "action_view": any(self.is_action_allowed(action) for action, _text in self._actions),
        }
        return offered.get(name, True)

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


def _drop_unsafe_return_url() -> None:
    """Flask-Admin's screens go back to their ``url`` argument, and its own check lets through
    targets a browser reads as another host (``http:/evil.example``). Anything that is not a
    plain local path is dropped before a screen sees it, so it goes back to its list instead."""
    target = request.args.get("url")
    if target is None or safe_next(target, "") == target:
        return
    args = request.args.copy()
    args.poplist("url")
    request.args = ImmutableMultiDict(args)
    request.__dict__.pop("values", None)


class SecureBaseView(RoleGuard, BaseView):
    pass


def _failed_sign_in(response) -> bool:
    """Only failed sign-ins count towards the limits (a success answers with a redirect)."""
    return not 300 <= response.status_code < 400


def _per_ip_limit() -> str:
    return current_app.config["SIGN_IN_LIMIT_PER_IP"]


def _per_account_limit() -> str:
    return current_app.config["SIGN_IN_LIMIT_PER_ACCOUNT"]


def _submitted_email() -> str:
    """Per account: the address in the form body (the only place the sign-in reads it)."""
    return typed_key("staff-sign-in", request.form.get("email"))


class LoginForm(FlaskForm):
    email = EmailField(lazy_gettext("E-mail"), validators=[DataRequired(), Length(max=EMAIL_MAX)])
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired()])


class DashboardView(DashboardMixin, AdminIndexView):
    """The admin start page (the dashboard, for every staff role); anonymous visitors are sent
    to sign-in."""

    def is_accessible(self) -> bool:
        return current_staff() is not None

    def inaccessible_callback(self, name, **kwargs):
        return redirect(url_for("admin.login_view", next=request.full_path))

    def is_visible(self) -> bool:
        return True

    def _handle_view(self, name, **kwargs):
        if name in {"login_view", "logout_view", "language_view"}:
            return None
        return super()._handle_view(name, **kwargs)

    @expose("/login/", methods=("GET", "POST"))
    @limiter.limit(_per_ip_limit, methods=["POST"], deduct_when=_failed_sign_in)
    @limiter.limit(
        _per_account_limit,
        key_func=_submitted_email,
        methods=["POST"],
        deduct_when=_failed_sign_in,
    )
    def login_view(self):
        form = LoginForm()
        target = safe_next(request.args.get("next"), url_for("admin.index"))
        if current_staff() is not None:
            return redirect(target)
        if form.validate_on_submit():
            try:
                staff = staff_service.authenticate_staff(
                    form.email.data, form.password.data, clock(), client_ip()
                )
            except AuthenticationFailed as error:
                flash(error.message, "error")
            else:
                language = session.get("language")
                session.clear()
                if language:
                    session["language"] = language
                elif staff.language:
                    session["language"] = staff.language
                login_user(staff)
                return redirect(target)
        return self.render("admin/login.html", form=form)

    @expose("/logout/", methods=("POST",))
    def logout_view(self):
        staff = current_staff()
        if staff is not None:
            staff_service.sign_out_everywhere(staff.id, clock(), client_ip())
        logout_user()
        session.clear()
        flash(_("You have been signed out."), "info")
        return redirect(url_for("admin.login_view"))

    @expose("/language/", methods=("POST",))
    def language_view(self):
        language = request.form.get("language", "")
        if language in ("en", "de"):
            session["language"] = language
        return redirect(safe_next(request.form.get("next"), url_for("admin.index")))
