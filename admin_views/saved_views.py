"""Saved views of the customer list (issue 7 item 11): save the current filters, search and sort
under a name (private or shared with all staff), reopen with one click, rename and delete."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _

from billing.customers import saved_views as rules
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.permissions import Permission

from .auth import clock, current_staff, requires, staff_actor, staff_can
from .base import SecureBaseView
from .navigation import list_address


def customer_filter_args() -> list[str]:
    """The customer list's filter arguments, as the list itself names them in URLs."""
    (customers,) = [
        view
        for admin in current_app.extensions["admin"]
        for view in admin._views
        if view.endpoint == "customer"
    ]
    return customers.filter_url_names()


def list_url(query: str) -> str:
    base = url_for("customer.index_view")
    return f"{base}?{query}" if query else base


def list_context() -> dict:
    """What the customer list template needs for its "Saved views" menu."""
    staff = current_staff()
    views = rules.visible_views(staff.id) if staff else []
    return {
        "saved_views": [(view, list_url(view.query)) for view in views],
        "can_save_views": staff_can(Permission.SAVE_VIEWS),
        "current_list_query": urlsplit(list_address()).query,
    }


class SavedViewsView(SecureBaseView):
    permission = Permission.READ

    def is_visible(self) -> bool:
        return False

    @expose("/")
    def index(self):
        staff = current_staff()
        views = rules.visible_views(staff.id)
        return self.render(
            "admin/saved_views.html",
            views=[(view, list_url(view.query), rules.may_delete(staff, view)) for view in views],
            staff=staff,
            can_edit=staff_can(Permission.SAVE_VIEWS),
        )

    @expose("/save/", methods=("POST",))
    @requires(Permission.SAVE_VIEWS)
    def save(self):
        query = request.form.get("query", "")
        try:
            view = rules.save_view(
                current_staff().id,
                request.form.get("name", ""),
                query,
                request.form.get("shared") == "1",
                customer_filter_args(),
                staff_actor(),
                clock(),
            )
        except DomainError as error:
            flash(_("The view was not saved: %(reason)s", reason=error.message), "error")
            return redirect(url_for("customer.index_view"))
        flash(_("View %(name)s saved.", name=view.name), "success")
        return redirect(list_url(view.query))

    @expose("/<int:view_id>/rename/", methods=("POST",))
    @requires(Permission.SAVE_VIEWS)
    def rename(self, view_id: int):
        try:
            view = rules.rename_view(
                current_staff().id, view_id, request.form.get("name", ""), staff_actor(), clock()
            )
        except NotFound:
            abort(404)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("The view is now called %(name)s.", name=view.name), "success")
        return redirect(url_for(".index"))

    @expose("/<int:view_id>/delete/", methods=("POST",))
    @requires(Permission.SAVE_VIEWS)
    def delete(self, view_id: int):
        try:
            name = rules.delete_view(current_staff().id, view_id, staff_actor(), clock())
        except NotFound:
            abort(404)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("View %(name)s deleted.", name=name), "success")
        return redirect(url_for(".index"))
