"""Flask extensions, created unbound here and bound in ``create_app``."""

import hashlib
import logging
import math
import time

from flask import g, has_request_context, request, session
from flask_babel import Babel, refresh
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_mail import Mail
from flask_migrate import Migrate
from flask_talisman import Talisman
from flask_talisman.talisman import NONCE_LENGTH, get_random_string
from flask_wtf import CSRFProtect
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter
from wtforms import IntegerField

from models import db

babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
# Rate limits are declared per route (``portal.security.throttle``); storage and options come
# from the ``RATELIMIT_*`` settings bound in ``create_app`` (the app's Redis).
limiter = Limiter(key_func=get_remote_address)
mail = Mail()
migrate = Migrate()


class SecurityHeaders(Talisman):
    """Flask-Talisman with three additions.

    - A per-view ``referrer_policy`` (no-referrer on pages whose URL carries a token).
    - A per-view ``stripe_js=True``: that page's Content-Security-Policy also allows the hosts
      ``stripe_sources()`` names (Stripe.js, its frames and API), read from the configuration on
      each request, so no other page may load or talk to them.
    - The CSP nonce is made on first use, so a page rendered before Talisman's own
      ``before_request`` ran (e.g. a 429 answer of the rate limiter) still carries a nonce that
      matches its header.
    """

    def init_app(self, app, *, stripe_sources=None, **kwargs):
        self.stripe_sources = stripe_sources or (lambda: {})
        super().init_app(app, **kwargs)

    def _get_local_options(self):
        # Talisman keeps the view's options on the view function: work on a copy.
        options = dict(super()._get_local_options())
        policy = options["content_security_policy"]
        if policy and options.get("stripe_js"):
            policy = dict(policy)
            for directive, sources in self.stripe_sources().items():
                base = policy.get(directive) or policy["default-src"]
                policy[directive] = " ".join([base, *sources])
            options["content_security_policy"] = policy
        return options

    def _get_nonce(self):
        if not has_request_context():
            return ""
        nonce = getattr(request, "csp_nonce", None)
        if not nonce and self._get_local_options()["content_security_policy"]:
            nonce = request.csp_nonce = get_random_string(NONCE_LENGTH)
        return nonce or ""

    def nonce(self) -> str:
        """This request's CSP nonce (also ``csp_nonce()`` in templates)."""
        return self._get_nonce()

    def _set_referrer_policy_headers(self, headers):
        headers["Referrer-Policy"] = self._get_local_options().get(
            "referrer_policy", self.referrer_policy
        )


talisman = SecurityHeaders()

__all__ = [
    "EMAIL_MAX",
    "babel",
    "choose_language",
    "continue_in_language",
    "csrf",
    "db",
    "kept_language",
    "limiter",
    "login_manager",
    "mail",
    "migrate",
    "open_link_in_language",
    "select_locale",
    "takes_files",
    "talisman",
    "typed_key",
]

# the longest e-mail address there can be (RFC 3696 errata): every sign-in field caps it so
EMAIL_MAX = 320


def typed_key(scope: str, value: str | None) -> str:
    """A rate-limit key for a value a client typed (an e-mail address): trimmed and lower-cased
    like the account look-ups, so every spelling of one address shares a counter, then hashed,
    so the key has a fixed size whatever was sent and holds no address in clear."""
    normal = (value or "").strip().lower().encode("utf-8", "surrogatepass")
    return f"{scope}:{hashlib.sha256(normal).hexdigest()}"


def takes_files(*names: str):
    """Mark a view whose form has the file fields ``names``. Flask-WTF hands a form every file
    part of a request under its name; on any other view, or as any other field, a file where
    the form expects text is refused (with a 400) before the form sees it."""

    def mark(view):
        view.file_fields = frozenset(names)
        return view

    return mark


class CountField(IntegerField):
    """A whole number of IPs. WTForms' own ``IntegerField`` accepts any length of digits, and
    its ``NumberRange`` then fails on a number too large for a float (a server error); this one
    refuses more than twelve digits as not a valid number."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and abs(self.data) >= 10**12:
            self.data = None
            raise ValueError(self.gettext("Not a valid integer value."))


# --- the language of a request -----------------------------------------------------------------
# The session's language ("language") is set at sign-in from the account, or by the visitor with a
# language switch; only the latter is a choice ("language_chosen"), which a page opened from an
# e-mail link (invite, confirmation, reset) does not override: such a page speaks the language of
# the person the link was sent to (``open_link_in_language``).
LANGUAGES = ("en", "de")
LANGUAGE_KEYS = ("language", "language_chosen")


def select_locale() -> str:
    """Flask-Babel's locale selector: the visitor's chosen language, else the language of the
    person an e-mail link was sent to (on that link's page), else the session's language (the
    signed-in account's), else the browser's (Accept-Language), else English."""
    if not has_request_context():
        return "en"
    language = session.get("language")
    if language in LANGUAGES and session.get("language_chosen"):
        return language
    recipient = g.get("link_language")
    if recipient in LANGUAGES:
        return recipient
    if language in LANGUAGES:
        return language
    return request.accept_languages.best_match(LANGUAGES) or "en"


def choose_language(language: str) -> None:
    """The visitor chose ``language`` (a language switch, the account form): it wins over every
    other source for the rest of the session."""
    session["language"] = language
    session["language_chosen"] = True


def kept_language() -> dict:
    """The session's language and whether it was chosen, to put back after ``session.clear()``
    (``session.update(kept)``)."""
    return {key: session[key] for key in LANGUAGE_KEYS if key in session}


def open_link_in_language(language: str | None) -> None:
    """This request is the page of an e-mail link sent to someone whose language is
    ``language``: answer in it unless the visitor chose another."""
    g.link_language = language
    refresh()  # the locale may have been looked up before this page knew whose link it is


def continue_in_language(language: str | None) -> None:
    """After a link's page did its work (password set, address confirmed), the pages that
    follow (sign-in) go on in ``language``, unless the visitor chose one or someone is signed
    in in this browser (whose session language stays)."""
    if language in LANGUAGES and not session.get("language_chosen"):
        if not getattr(current_user, "is_authenticated", False):
            session["language"] = language


class RateWindows:
    """Counters in the app's Flask-Limiter storage (the app's Redis, shared by every web and
    worker process; fixed windows), for rules that budget something, such as the e-mails with a
    link (``billing.kernel.mail_limits``). The windows expire on the storage's own time (Redis
    key expiry), which the injected business clock does not move, so the storage's time is read
    here, in the infrastructure, and the rules get whole seconds. Should the storage fail, this
    process counts in memory instead of letting everything through."""

    def __init__(self) -> None:
        self._fallback = FixedWindowRateLimiter(MemoryStorage())

    def seconds_until_room(self, item, identifiers: tuple[str, ...]) -> int | None:
        """None when one more hit fits into ``item`` (and count it), else the whole seconds
        until its window has room again."""
        from flask import current_app

        (app_limiter,) = current_app.extensions["limiter"]
        strategy = app_limiter.limiter
        try:
            return self._count(strategy, item, identifiers)
        except strategy.storage.base_exceptions as error:
            logging.getLogger("msp.mail_limits").warning("counted in memory: %s", error)
            return self._count(self._fallback, item, identifiers)

    @staticmethod
    def _count(strategy: RateLimiter, item, identifiers: tuple[str, ...]) -> int | None:
        if strategy.hit(item, *identifiers):
            return None
        reset_at = strategy.get_window_stats(item, *identifiers).reset_time
        return max(0, math.ceil(reset_at - time.time()))


rate_windows = RateWindows()
