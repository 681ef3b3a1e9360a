"""IP Distribution (SPEC §4, seed 3.2.2 and 3.2.5) as a view of its own: the form at
``/admin/customer/<id>/ip-distribution/`` and its live price preview (``…/preview``). It changes
the customer's main subscription; the rules are ``billing.subscriptions.distribution``'s."""

from __future__ import annotations

from flask import current_app, flash, jsonify, request
from flask_admin import expose
from flask_babel import gettext as _

from billing.kernel.errors import DomainError
from billing.kernel.i18n import day_text, money_text
from billing.subscriptions import distribution
from models import Customer

from .auth import clock, staff_actor
from .customer_record import CustomerWorkflowView, customer_action, field_error
from .forms import IpDistributionForm
from .labels import PAYMENT_LABELS


class IpDistributionView(CustomerWorkflowView):
    """Row action ``ip_distribution``; the preview needs the view's permission."""

    @expose("/", methods=("GET", "POST"))
    @customer_action("ip_distribution")
    def index(self, customer: Customer):
        """The form changes the main subscription only (``distribution.target``); "Show price
        effect" posts the values back for their preview without saving (the live preview
        needs JavaScript)."""
        facts = distribution.target(customer.id)
        current = facts.subscription
        form = IpDistributionForm(
            version=customer.version,
            total_ips=current.total_ips if current else 1,
            internal_ips=current.internal_ips if current else 1,
            external_ips=current.external_ips if current else 0,
        )
        saving = request.form.get("action") != "preview"
        if request.method == "POST" and form.validate_on_submit():
            try:
                internal, external = distribution.parse_counts(
                    form.total_ips.data, form.internal_ips.data, form.external_ips.data
                )
                if saving:
                    result = distribution.change_ip_distribution(
                        customer.id,
                        internal,
                        external,
                        form.instantly.data,
                        staff_actor(),
                        clock(),
                        expected_version=form.seen_version(),
                    )
            except DomainError as error:
                field_error(form, error)
            else:
                if saving:
                    flash(distribution.result_message(result.preview), "success")
                    return self.back_to_list(customer.id)
        elif request.method == "POST":
            flash(_("Please correct the marked fields."), "error")
        try:
            plan = distribution.preview(
                customer.id,
                form.internal_ips.data or 0,
                form.external_ips.data or 0,
                bool(form.instantly.data),
                clock(),
            )
        except (DomainError, TypeError):
            plan = None
        currency = current_app.config["CURRENCY"]
        return self.render(
            "admin/customer_ip_distribution.html",
            form=form,
            customer=customer,
            facts=facts,
            plan=plan,
            texts=distribution.preview_texts(plan, currency) if plan else {},
            previewed=request.method == "POST" and not saving,
            current_price=money_text(facts.current_price, currency),
            payment_labels=PAYMENT_LABELS,
            day_text=day_text,
        )

    @expose("/preview")
    def preview(self, customer_id: int):
        """The price effect of the form's values as JSON, for the page's script."""
        customer = self._customer(customer_id)
        args = request.args
        try:
            internal, external = distribution.parse_counts(
                args.get("total"), args.get("internal"), args.get("external")
            )
            plan = distribution.preview(
                customer.id, internal, external, args.get("instantly") == "1", clock()
            )
        except DomainError as error:
            return jsonify({"error": error.message}), 400
        return jsonify(distribution.preview_payload(plan, current_app.config["CURRENCY"]))
