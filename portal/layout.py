"""What every portal page's layout needs: the navigation (only pages that exist) and the
language switch."""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_babel import lazy_gettext

from billing.payments.cards import provider_email

from . import bp
from .security import portal_user

NAVIGATION = (
    ("portal.home", lazy_gettext("Overview")),
    ("portal.subscription", lazy_gettext("Subscription")),
    ("portal.payment", lazy_gettext("Payment")),
    ("portal.invoices", lazy_gettext("Invoices")),
    ("portal.team", lazy_gettext("Team")),
    ("portal.profile", lazy_gettext("Company")),
    ("portal.account", lazy_gettext("Account")),
)
LANGUAGES = (("en", "EN", "English"), ("de", "DE", "Deutsch"))


@bp.context_processor
def layout():
    return layout_context()


def layout_context() -> dict:
    signed_in = portal_user()
    nav = [
        (endpoint, label)
        for endpoint, label in NAVIGATION
        if signed_in is not None and endpoint in current_app.view_functions
    ]
    return {
        "portal_nav": nav,
        "portal_user": signed_in,
        "portal_languages": LANGUAGES,
        "current_endpoint": request.endpoint,
        "here": request.full_path.rstrip("?"),
        # a function: only the pages that show the provider's address read the setting
        "provider_email": provider_email,
    }


def render_error(status: int, title: str, message: str) -> str:
    """An error page inside the portal's layout, also for addresses no portal route matches."""
    return render_template(
        "portal/error.html", status=status, title=title, message=message, **layout_context()
    )


@bp.record_once
def show_errors_in_the_portal_layout(state) -> None:
    state.app.extensions.setdefault("error_layouts", {})[bp.url_prefix] = render_error
