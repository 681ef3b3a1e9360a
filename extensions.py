"""Flask extensions, created unbound here and bound in ``create_app``."""

from flask_babel import Babel
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_talisman import Talisman
from flask_wtf import CSRFProtect

from models import db

babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
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

__all__ = ["babel", "csrf", "db", "login_manager", "mail", "migrate", "talisman"]
