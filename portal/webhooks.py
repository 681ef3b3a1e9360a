"""The Stripe webhook endpoint: signature-verified, each event id processed once (SPEC §6)."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request

from billing.kernel.errors import DomainError
from billing.payments.stripe_webhooks import receive_webhook

bp = Blueprint("webhooks", __name__, url_prefix="/stripe")
log = logging.getLogger("msp.webhooks")


@bp.route("/webhook", methods=("POST",))
def stripe_webhook():
    payload = request.get_data(cache=False)
    if len(payload) > 1_000_000:
        return jsonify({"error": "payload too large"}), 413
    try:
        event = receive_webhook(
            payload, request.headers.get("Stripe-Signature", ""), current_app.config["CLOCK"]
        )
    except DomainError as error:
        log.warning("stripe webhook refused: %s", error.message)
        return jsonify({"error": "invalid request"}), 400
    return jsonify({"id": event.id, "state": event.state})
