"""Portal → Payment (SPEC §6, §10; seed 3.6.2): the card that will be charged; self-service
customers add, replace and remove it with Stripe.js and a SetupIntent, and retry a failed
card payment."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import HiddenField

from billing.kernel.audit import Actor
from billing.kernel.errors import DomainError
from billing.payments import cards
from extensions import talisman

from . import bp
from .security import client_ip, clock, portal_user, user_required


class CardForm(FlaskForm):
    """Filled by static/portal_payment.js after Stripe.js confirmed the SetupIntent."""

    setup_intent = HiddenField()
    payment_method = HiddenField()
    retry = HiddenField()


class ActionForm(FlaskForm):
    """Only the CSRF token (remove card, retry payment)."""


def _actor() -> Actor:
    return Actor.user(portal_user(), client_ip())


def _retried_message(retried) -> None:
    for invoice, attempt in retried:
        if attempt is not None and attempt.state == "succeeded":
            flash(_("Invoice %(number)s has been paid.", number=invoice.number), "success")
        else:
            flash(
                _("The payment of invoice %(number)s failed again.", number=invoice.number),
                "error",
            )


@bp.route("/payment")
@talisman(stripe_js=True)
@user_required
def payment():
    """The card on file; Stripe.js collects a new one (the only page allowed to load it)."""
    user = portal_user()
    overview = cards.payment_overview(user.customer_id)
    retry = request.args.get("retry") == "1" and bool(overview.failed_invoices)
    return render_template(
        "portal/payment.html",
        overview=overview,
        form=CardForm(retry="1" if retry else ""),
        action_form=ActionForm(),
        failed_invoices=overview.failed_invoices,
        may_update_card=overview.access == cards.OK,
    )


@bp.route("/payment/setup-intent", methods=("POST",))
@user_required
def payment_setup_intent():
    """A SetupIntent's client secret for Stripe.js (JSON; the CSRF token comes as a header)."""
    try:
        secret = cards.begin_card_setup(portal_user().customer_id)
    except DomainError as error:
        return jsonify({"error": error.message}), 400
    return jsonify({"client_secret": secret})


@bp.route("/payment/card", methods=("POST",))
@user_required
def payment_save_card():
    form = CardForm()
    if form.validate_on_submit():
        try:
            saved = cards.save_card(
                portal_user().customer_id,
                form.setup_intent.data or "",
                form.payment_method.data or "",
                _actor(),
                clock(),
                retry_failed=form.retry.data == "1",
            )
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(
                _(
                    "Your card %(brand)s ending in %(last4)s is saved and will be charged "
                    "from now on.",
                    brand=saved.card.brand.title(),
                    last4=saved.card.last4,
                ),
                "success",
            )
            _retried_message(saved.retried)
    else:
        flash(_("The form has expired. Please try again."), "error")
    return redirect(url_for("portal.payment"))


def _action(change) -> None:
    """A button POST (CSRF-checked): ``change(customer_id, actor)`` reports its result itself."""
    if not ActionForm().validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
        return
    try:
        change(portal_user().customer_id, _actor())
    except DomainError as error:
        flash(error.message, "error")


@bp.route("/payment/card/remove", methods=("POST",))
@user_required
def payment_remove_card():
    def remove(customer_id, actor):
        cards.remove_card(customer_id, actor, clock())
        flash(_("Your card has been removed."), "success")

    _action(remove)
    return redirect(url_for("portal.payment"))


@bp.route("/payment/retry", methods=("POST",))
@user_required
def payment_retry():
    _action(
        lambda customer_id, actor: _retried_message(
            cards.retry_failed_payments(customer_id, actor, clock())
        )
    )
    return redirect(url_for("portal.payment"))
