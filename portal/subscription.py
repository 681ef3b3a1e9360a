"""Portal → Subscription (SPEC §4 IP Distribution, §10; seed 3.5): the current figures, and for
self-service customers the change form with the staff form's live price preview; the
additional subscriptions (SPEC §11) read-only."""

from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale, lazy_gettext
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField
from wtforms.validators import InputRequired, NumberRange

from billing.kernel.audit import Actor
from billing.kernel.errors import Conflict, DomainError
from billing.payments.cards import OK as CARD_OK
from billing.payments.cards import card_access, failed_card_invoices
from billing.subscriptions import own_subscription
from billing.subscriptions.distribution import (
    parse_counts,
    preview_payload,
    preview_texts,
    result_message,
)
from billing.subscriptions.service_subscriptions import listing
from extensions import CountField

from . import bp
from .forms import form_error
from .security import client_ip, clock, portal_user, site, user_required


class SubscriptionForm(FlaskForm):
    version = HiddenField()
    total_ips = CountField(lazy_gettext("Total IP's"), [InputRequired(), NumberRange(min=1)])
    internal_ips = CountField(lazy_gettext("IP's Internal"), [InputRequired(), NumberRange(min=0)])
    external_ips = CountField(lazy_gettext("IP's External"), [InputRequired(), NumberRange(min=0)])
    instantly = BooleanField(lazy_gettext("Perform action instantly"))

    def seen_version(self) -> int | None:
        try:
            return int(self.version.data)
        except (TypeError, ValueError):
            return None


@bp.route("/subscription", methods=("GET", "POST"))
@user_required
def subscription():
    user = portal_user()
    view = own_subscription.overview(user.customer_id, str(get_locale()))
    current = view.subscription
    form = SubscriptionForm(
        version=view.customer.version,
        total_ips=current.total_ips if current else 1,
        internal_ips=current.internal_ips if current else 1,
        external_ips=current.external_ips if current else 0,
    )
    if request.method == "POST":
        if not view.may_change:
            abort(403)
        if form.validate_on_submit():
            saved = _save_change(user, form)
            if saved is not None:
                return saved
        else:
            flash(_("Please correct the marked fields."), "error")
    plan = _preview(user, form) if view.may_change else None
    trial = own_subscription.is_trial(current)
    currency = site().currency
    return render_template(
        "portal/subscription.html",
        form=form,
        view=view,
        plan=plan,
        texts=preview_texts(plan, currency) if plan else {},
        trial=trial,
        # the form's "current total" for the live preview: a trial or no subscription behaves
        # like starting one (no "instantly" choice)
        compare_total=0 if trial or current is None else current.total_ips,
        failed_invoices=failed_card_invoices(user.customer_id),
        may_update_card=card_access(view.customer) == CARD_OK,
        currency=currency,
        services=listing(user.customer_id),
    )


def _save_change(user, form: SubscriptionForm):
    """Save the form's counts (one ``billing`` call); the redirect to answer with, or None
    when the form shows what to correct."""
    try:
        internal, external = parse_counts(
            form.total_ips.data, form.internal_ips.data, form.external_ips.data
        )
        result = own_subscription.change_own_subscription(
            user.customer_id,
            internal,
            external,
            bool(form.instantly.data),
            Actor.user(user, client_ip()),
            clock(),
            expected_version=form.seen_version(),
        )
    except Conflict:
        flash(
            _(
                "Your subscription was changed in the meantime (perhaps by a colleague). "
                "Please check the current figures and try again."
            ),
            "error",
        )
        return redirect(url_for("portal.subscription"))
    except DomainError as error:
        form_error(form, error)
        return None
    flash(result_message(result.preview), "success")
    return redirect(url_for("portal.subscription"))


def _preview(user, form: SubscriptionForm):
    """The price effect of the form's counts, or None while they are not valid."""
    try:
        return own_subscription.preview_own_change(
            user.customer_id,
            form.internal_ips.data or 0,
            form.external_ips.data or 0,
            bool(form.instantly.data),
            clock(),
        )
    except (DomainError, TypeError):
        return None


@bp.route("/subscription/preview")
@user_required
def subscription_preview():
    """The price effect of the form's values as JSON (the same rules as saving)."""
    user = portal_user()
    if not own_subscription.may_change(user.customer):
        abort(404)
    args = request.args
    try:
        internal, external = parse_counts(
            args.get("total"), args.get("internal"), args.get("external")
        )
        plan = own_subscription.preview_own_change(
            user.customer_id, internal, external, args.get("instantly") == "1", clock()
        )
    except DomainError as error:
        return jsonify({"error": error.message}), 400
    return jsonify(preview_payload(plan, site().currency))
