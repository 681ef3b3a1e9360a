"""Flask extensions, created unbound here and bound in ``create_app``."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_talisman import Talisman
from flask_wtf import CSRFProtect
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
    """Flask-Talisman, also honouring a per-view ``referrer_policy`` (e.g. no-referrer on pages
    whose URL carries a token)."""

    def _set_referrer_policy_headers(self, headers):
        headers["Referrer-Policy"] = self._get_local_options().get(
            "referrer_policy", self.referrer_policy
        )


talisman = SecurityHeaders()

__all__ = ["babel", "csrf", "db", "limiter", "login_manager", "mail", "migrate", "talisman"]


class CountField(IntegerField):
    """A whole number of IPs. WTForms' own ``IntegerField`` accepts any length of digits, and
    its ``NumberRange`` then fails on a number too large for a float (a server error); this one
    refuses more than twelve digits as not a valid number."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and abs(self.data) >= 10**12:
            self.data = None
            raise ValueError(self.gettext("Not a valid integer value."))
