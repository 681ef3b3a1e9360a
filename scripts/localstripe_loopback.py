"""A local Stripe for the tests and `make run`: localstripe on 127.0.0.1 only.

Usage: python scripts/localstripe_loopback.py PORT [--data FILE]
                                              [--webhook URL --webhook-secret WHSEC]

localstripe (GPL) runs as a separate test and development process; nothing in the product imports
it or this wrapper. It serves the Stripe API and its own Stripe.js (``/js.stripe.com/v3/``).

- ``--data FILE`` keeps its objects (customers, cards, payments) in FILE across restarts, as
  `make run` does next to its database; without it they live in memory only. (localstripe by
  itself writes them to /tmp/localstripe.pickle after every change, shared by every instance.)
- ``--webhook URL`` registers the app's endpoint: localstripe signs every
  ``payment_intent.succeeded`` and ``payment_intent.payment_failed`` event with the secret and
  posts it there, as Stripe does.
- Stripe's test card 4000 0025 0000 3155 asks for 3-D Secure when it is set up, and once set up
  it is charged off-session without asking again. localstripe asks for every payment; here it
  behaves as at Stripe (``charge_set_up_cards_off_session``). 4000 0027 6000 3184 still asks
  for every payment, so its off-session charges fail, as at Stripe.
"""

from __future__ import annotations

import argparse
import os
import pickle

from aiohttp import web
from localstripe.resources import PaymentIntent, PaymentMethod, store, try_convert_to_bool
from localstripe.server import app
from localstripe.webhooks import register_webhook

HOST = "127.0.0.1"
WEBHOOK_EVENTS = ["payment_intent.succeeded", "payment_intent.payment_failed"]
AUTHENTICATE_UNLESS_SET_UP = "4000002500003155"


def keep_objects_in(path: str | None) -> None:
    """Load localstripe's objects from ``path`` (when it exists) and save them there after each
    change; with None, save nothing."""

    def save() -> None:
        if path is None:
            return
        partial = f"{path}.partial"
        with open(partial, "wb") as handle:
            pickle.dump(dict(store), handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)

    # localstripe calls store.dump_to_disk() after every change; the instance attribute wins
    store.dump_to_disk = save
    if path is not None and os.path.exists(path):
        with open(path, "rb") as handle:
            saved = pickle.load(handle)  # noqa: S301 - written by this wrapper, in instance/
        dict.clear(store)
        dict.update(store, saved)


def _set_up_for_later(method_id) -> bool:
    """The payment method is Stripe's "authenticate unless set up" card, saved to a customer."""
    if not isinstance(method_id, str) or not method_id.startswith("pm_"):
        return False
    method = store.get(f"{PaymentMethod.object}:{method_id}")
    return (
        method is not None
        and method.customer is not None
        and getattr(method, "_card_number", None) == AUTHENTICATE_UNLESS_SET_UP
    )


def charge_set_up_cards_off_session() -> None:
    """An off-session payment with a saved "authenticate unless set up" card is charged at once
    (localstripe would wait for a 3-D Secure confirmation that nobody can give off-session)."""
    create = PaymentIntent._api_create.__func__

    def api_create(cls, confirm=None, off_session=None, **data):
        off_session_charge = try_convert_to_bool(confirm) is True and (
            try_convert_to_bool(off_session) is True
        )
        if not off_session_charge or not _set_up_for_later(data.get("payment_method")):
            return create(cls, confirm=confirm, off_session=off_session, **data)
        intent = create(cls, **data)
        intent._create_charge(on_failure_now=intent._report_failure)
        return intent

    PaymentIntent._api_create = classmethod(api_create)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int, help=f"port on {HOST}")
    parser.add_argument("--data", help="file that keeps the objects across restarts")
    parser.add_argument("--webhook", help="URL that receives the signed payment events")
    parser.add_argument("--webhook-secret", help="signing secret of the webhook (whsec_…)")
    args = parser.parse_args(argv)
    if bool(args.webhook) != bool(args.webhook_secret):
        parser.error("--webhook and --webhook-secret go together")
    keep_objects_in(args.data)
    charge_set_up_cards_off_session()
    if args.webhook:
        register_webhook("app", args.webhook, args.webhook_secret, WEBHOOK_EVENTS)
    web.run_app(app, host=HOST, port=args.port, print=None)


if __name__ == "__main__":
    main()
