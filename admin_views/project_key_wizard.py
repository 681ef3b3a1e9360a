"""The project-key wizard (SPEC §4, seed 3.2.6) as a view of its own, at
``/admin/customer/<id>/project-key/``: one form whose steps post back to it."""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, request
from flask_admin import expose
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from billing.customers import lookup
from billing.kernel.errors import DomainError
from billing.kernel.permissions import Permission
from billing.subscriptions import project_keys
from models import Customer

from .auth import clock, staff_actor, staff_can
from .customer_record import CustomerWorkflowView, customer_action
from .formatting import day_in_text

WIZARD_STEPS = ("key", "price", "split", "summary")
FIELD_STEP = {
    "key": "key",
    "selling_price": "price",
    "internal_ips": "split",
    "external_ips": "split",
}


class ProjectKeyWizardView(CustomerWorkflowView):
    """Add project key (seed 3.2.6): key → overview and selling price → split → summary →
    Finish. Every step re-checks all earlier input through
    ``billing.subscriptions.project_keys``."""

    @expose("/", methods=("GET", "POST"))
    @customer_action("add_project_key")
    def index(self, customer: Customer):
        form = FlaskForm()
        values = {
            name: (request.form.get(name) or "").strip()
            for name in ("key", "selling_price", "internal_ips", "external_ips")
        }
        values["instantly"] = request.form.get("instantly") == "y"
        version = request.form.get("version") or str(customer.version)
        step, checked = "key", _Checked()
        if request.method == "POST" and form.validate_on_submit():
            current = request.form.get("step", "key")
            current = current if current in WIZARD_STEPS else "key"
            target = _target(current, going_back=request.form.get("go") == "back")
            try:
                checked.up_to(target, customer, values)
                if target == "finish":
                    return self._finish(customer, values, version)
                step = target
            except DomainError as error:
                flash(error.message, "error")
                step = FIELD_STEP.get(error.field or "", current)
                if step != "key" and checked.key is None:
                    step = "key"
        return self.render(
            "admin/customer_project_key.html",
            form=form,
            customer=customer,
            step=step,
            key=checked.key,
            plan=checked.plan,
            values=values,
            version=version,
            current=lookup.current_subscription(customer.id),
            show_purchase_price=staff_can(Permission.SEE_FINANCIALS),
        )

    def _finish(self, customer: Customer, values: dict, version: str):
        """Redeem the key (one ``billing`` call) and go back to the customer."""
        plan = project_keys.redeem(
            customer.id,
            values["key"],
            values["selling_price"],
            values["internal_ips"],
            values["external_ips"],
            values["instantly"],
            staff_actor(),
            clock(),
            int(version) if version.isdigit() else None,
        )
        flash(
            _(
                "Project key %(key)s added: %(ips)d IPs from %(start)s to %(end)s.",
                key=plan.key,
                ips=plan.ip_count,
                start=day_in_text(plan.starts),
                end=day_in_text(plan.ends),
            ),
            "success",
        )
        return self.back_to_list(customer.id)


def _target(current: str, going_back: bool) -> str:
    """The step a submit of step ``current`` goes to (``finish`` after the summary)."""
    index = WIZARD_STEPS.index(current)
    if going_back:
        return WIZARD_STEPS[max(index - 1, 0)]
    return "finish" if current == "summary" else WIZARD_STEPS[index + 1]


@dataclass
class _Checked:
    """What the input checked so far found: the key, and the redemption's plan."""

    key: object = None
    plan: object = None

    def up_to(self, target: str, customer: Customer, values: dict) -> None:
        """Check every step before ``target`` again (``billing.subscriptions.project_keys``);
        the split defaults to the key's IPs, all internal. DomainError names the field."""
        if target != "key":
            self.key = project_keys.find_redeemable(values["key"])
        if target in ("split", "summary", "finish"):
            project_keys.parse_selling_price(values["selling_price"])
            if not values["internal_ips"] and not values["external_ips"]:
                values["internal_ips"], values["external_ips"] = str(self.key.ip_count), "0"
        if target in ("summary", "finish"):
            self.plan = project_keys.plan_redemption(
                customer.id,
                values["key"],
                values["selling_price"],
                values["internal_ips"],
                values["external_ips"],
                values["instantly"],
                clock(),
            )
