"""The Stripe account (SPEC §6): its keys and webhook secret, the client every Stripe call goes
through, and where the portal loads Stripe.js from.

The secret key (ApiKey) is stored encrypted and never shown again; the publishable key (Public
Access Key) is stored as is. ``STRIPE_API_BASE`` points the client at another server (tests use
a local Stripe-compatible server)."""

from __future__ import annotations

from urllib.parse import urlsplit

import stripe
from flask import current_app

from billing.kernel import audit
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from billing.kernel.secrets import decrypt, encrypt, mask
from billing.kernel.settings import get_setting, store_settings

SECRET_KEY = "stripe.secret_key"  # noqa: S105 - the setting's name, not a key


PUBLISHABLE_KEY = "stripe.publishable_key"


SECRET_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")


PUBLISHABLE_PREFIXES = ("pk_test_", "pk_live_")


def client(secret: str | None = None) -> stripe.StripeClient:
    secret = secret or stored_secret_key()
    if not secret:
        raise DomainError(_("No Stripe secret key is configured."))
    base = _api_base() or None
    return stripe.StripeClient(
        secret,
        base_addresses={"api": base} if base else None,
        max_network_retries=2,
    )


def stored_secret_key() -> str:
    token = get_setting(SECRET_KEY)
    return decrypt(token) if token else ""


def stored_publishable_key() -> str:
    return get_setting(PUBLISHABLE_KEY)


def keys_configured() -> bool:
    return bool(get_setting(SECRET_KEY) and get_setting(PUBLISHABLE_KEY))


def check_key_formats(secret: str, publishable: str) -> None:
    """Catch keys pasted into the wrong box before asking Stripe."""
    if secret and secret.startswith(PUBLISHABLE_PREFIXES):
        raise DomainError(
            _("This is a publishable key; the ApiKey field needs the secret key (sk_…)."),
            field="secret_key",
        )
    if secret and not secret.startswith(SECRET_PREFIXES):
        raise DomainError(
            _("A Stripe secret key starts with sk_test_ or sk_live_."), field="secret_key"
        )
    if not publishable.startswith(PUBLISHABLE_PREFIXES):
        raise DomainError(
            _("A Stripe publishable key starts with pk_test_ or pk_live_."),
            field="publishable_key",
        )
    if secret and secret.split("_")[1] != publishable.split("_")[1]:
        raise DomainError(
            _("Both keys must be test keys or both live keys."), field="publishable_key"
        )


def verify_secret_key(secret: str) -> None:
    """Ask Stripe whether it accepts ``secret``; DomainError with the reason otherwise."""
    try:
        client(secret).v1.customers.list({"limit": 1})
    except stripe.AuthenticationError:
        raise DomainError(_("Stripe refused this secret key."), field="secret_key") from None
    except stripe.PermissionError:
        raise DomainError(
            _("This key lacks the permissions the product needs."), field="secret_key"
        ) from None
    except stripe.APIConnectionError:
        raise DomainError(
            _("Stripe could not be reached; the keys were not saved. Please try again.")
        ) from None
    except stripe.StripeError as error:
        raise DomainError(
            _("Stripe answered with an error: %(error)s", error=error.user_message or "?")
        ) from None


def save_stripe_keys(secret: str, publishable: str, actor, clock: Clock) -> None:
    """Check and store the keys; an empty ``secret`` keeps the stored one (audited, masked)."""
    from models import db

    secret = (secret or "").strip()
    publishable = (publishable or "").strip()
    if not secret and not get_setting(SECRET_KEY):
        raise DomainError(_("Please enter the secret key (ApiKey)."), field="secret_key")
    check_key_formats(secret or stored_secret_key(), publishable)
    verify_secret_key(secret or stored_secret_key())
    values = {PUBLISHABLE_KEY: publishable}
    if secret:
        values[SECRET_KEY] = encrypt(secret)
    store_settings(values, clock)
    audit.record(
        actor,
        "settings.stripe",
        clock,
        after={
            "publishable_key": publishable,
            "secret_key": mask(secret) if secret else "unchanged",
        },
    )
    db.session.commit()


WEBHOOK_SECRET = "stripe.webhook_secret"  # noqa: S105 - the setting's name, not a secret


def _api_base() -> str:
    """The server the Stripe client talks to (``STRIPE_API_BASE``); empty: Stripe itself."""
    # Where the app's Stripe client connects is deployment infrastructure, like the database
    # URL (tests point it at a local Stripe-compatible server); every Stripe call needs it.
    return current_app.config.get("STRIPE_API_BASE") or ""


STRIPE_JS = "https://js.stripe.com/v3/"


def stripe_js_url() -> str:
    """Where the portal loads Stripe.js from: Stripe's own address, or the same path on the
    server ``STRIPE_API_BASE`` points at (a Stripe-compatible test server serves its own)."""
    base = _api_base().rstrip("/")
    return f"{base}/js.stripe.com/v3/" if base else STRIPE_JS


# What Stripe.js needs besides the page's own origin (Stripe's published CSP requirements):
# its script, the frames of the card fields and 3-D Secure, and its API.
STRIPE_CSP_SOURCES = {
    "script-src": ("https://js.stripe.com", "https://*.js.stripe.com"),
    "frame-src": ("https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"),
    "connect-src": ("https://api.stripe.com",),
}


def csp_sources() -> dict[str, tuple[str, ...]]:
    """The Content-Security-Policy sources of the page that loads Stripe.js: Stripe's hosts, or
    only the origin of the server ``STRIPE_API_BASE`` points at (it serves Stripe.js and API)."""
    base = _api_base().strip()
    if not base:
        return STRIPE_CSP_SOURCES
    parts = urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}"
    return {directive: (origin,) for directive in STRIPE_CSP_SOURCES}


def stored_webhook_secret() -> str:
    token = get_setting(WEBHOOK_SECRET)
    return decrypt(token) if token else ""


def save_webhook_secret(secret: str, actor, clock: Clock) -> None:
    from models import db

    secret = (secret or "").strip()
    if not secret.startswith("whsec_"):
        raise DomainError(_("A webhook signing secret starts with whsec_."), field="webhook_secret")
    store_settings({WEBHOOK_SECRET: encrypt(secret)}, clock)
    audit.record(actor, "settings.stripe_webhook", clock, after={"secret": mask(secret)})
    db.session.commit()
