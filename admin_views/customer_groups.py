"""Billing → Customer groups (Aquila BillOps, SPEC §11): list, create, edit and delete groups
with their attributes and tags; changing them takes ``Permission.MANAGE_CUSTOMERS``."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from billing.customers import groups as group_rules
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.permissions import Permission

from .auth import clock, requires, staff_actor, staff_can
from .base import SecureBaseView
from .customer_actions import field_error
from .profile_forms import GroupForm


class CustomerGroupsView(SecureBaseView):
    permission = Permission.READ

    def _group(self, group_id: int):
        try:
            return group_rules.get_group(group_id)
        except NotFound:
            abort(404)

    @expose("/")
    def index(self):
        return self.render(
            "admin/customer_groups.html",
            groups=group_rules.groups(),
            counts=group_rules.member_counts(),
            can_edit=staff_can(Permission.MANAGE_CUSTOMERS),
            form=FlaskForm(),
        )

    @expose("/new/", methods=("GET", "POST"))
    @expose("/<int:group_id>/", methods=("GET", "POST"))
    @requires(Permission.MANAGE_CUSTOMERS)
    def edit_view(self, group_id: int | None = None):
        group = self._group(group_id) if group_id is not None else None
        form = GroupForm(
            data={
                "name": group.name,
                "attributes": group_rules.format_attributes(group.attributes),
                "tags": ", ".join(t.name for t in group.tags),
            }
            if group
            else None
        )
        if form.validate_on_submit():
            try:
                group_rules.save_group(
                    group.id if group else None,
                    form.name.data,
                    form.attributes.data,
                    form.tags.data,
                    staff_actor(),
                    clock(),
                )
            except DomainError as error:
                field_error(form, error)
            else:
                flash(_("The group %(name)s was saved.", name=form.name.data.strip()), "success")
                return redirect(url_for(".index"))
        return self.render("admin/customer_group_form.html", form=form, group=group)

    @expose("/<int:group_id>/delete/", methods=("GET", "POST"))
    @requires(Permission.MANAGE_CUSTOMERS)
    def delete_view(self, group_id: int):
        group = self._group(group_id)
        form = FlaskForm()
        if form.validate_on_submit():
            name = group.name
            members = group_rules.delete_group(group.id, staff_actor(), clock())
            flash(
                _(
                    "The group %(name)s was deleted; %(n)d customers left it.",
                    name=name,
                    n=members,
                ),
                "success",
            )
            return redirect(url_for(".index"))
        return self.render(
            "admin/customer_group_delete.html",
            form=form,
            group=group,
            members=group_rules.member_count(group.id),
        )
