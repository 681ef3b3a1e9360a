"""The admin site: one Flask-Admin instance per app, built in ``create_app``."""

from __future__ import annotations

from typing import NamedTuple

from flask import Flask
from flask_admin import Admin
from flask_admin.contrib.sqla import ModelView
from flask_admin.theme import Bootstrap4Theme
from flask_babel import lazy_gettext

from billing.kernel.permissions import Permission
from extensions import talisman
from models import db

from .auth import staff_can
from .badges import invoice_badge
from .billing_runs import BillingRunAdmin
from .customer_groups import CustomerGroupsView
from .customer_profile import CustomerProfileView
from .customer_tools import (
    CreateSimilarView,
    CustomerMessageView,
    ImpersonationView,
    LedgerView,
    TeamInvitationsView,
)
from .customers import CustomerAdmin
from .email_log import EmailLogAdmin
from .formatting import register_template_formatters
from .index import DashboardView
from .invoice_settings import InvoiceSettingsView
from .invoices import InvoiceAdmin
from .ip_distribution import IpDistributionView
from .mail_sink import MailSinkView
from .partners import PartnersView
from .payment_methods import PaymentMethodsView
from .pending_changes import PendingChangesView
from .project_key_wizard import ProjectKeyWizardView
from .project_keys import ProjectKeyAdmin
from .saved_views import SavedViewsView
from .self_service import SelfServiceView
from .service_subscriptions import ServiceSubscriptionsView
from .settings import MailSettingsView
from .stripe_events import StripeEventAdmin

#: The workflows on one customer, each a view of its own (``customer_record``): its class,
#: endpoint and address under the customer's, ``/admin/customer/<customer_id>/<address>/``. Not in
#: the menu; the Billing menu stays marked while one is open.
CUSTOMER_WORKFLOWS = (
    (IpDistributionView, "ip_distribution", "ip-distribution", lazy_gettext("IP Distribution")),
    (ProjectKeyWizardView, "project_key_wizard", "project-key", lazy_gettext("Add project key")),
    (CustomerProfileView, "customer_profile", "", lazy_gettext("Profile")),
    (
        ServiceSubscriptionsView,
        "customer_subscriptions",
        "subscriptions",
        lazy_gettext("Additional subscriptions"),
    ),
    (CreateSimilarView, "create_similar", "similar", lazy_gettext("Create similar")),
    (
        ImpersonationView,
        "customer_impersonation",
        "impersonate",
        lazy_gettext("Log in as the customer"),
    ),
    (CustomerMessageView, "customer_message", "message", lazy_gettext("Send an e-mail")),
    (LedgerView, "customer_ledger", "ledger", lazy_gettext("Book a credit or debit")),
    (TeamInvitationsView, "team_invitations", "invitations", lazy_gettext("Users")),
)


def may(permission: str) -> bool:
    """For templates: whether the signed-in staff member has ``permission`` (its code)."""
    return staff_can(Permission(permission))


class Screen(NamedTuple):
    """A screen of the admin menu: its view, label and menu category (None: the top bar), its
    endpoint and, for a view that is not a model's list, its URL; ``needs`` names the
    configuration value without which the screen is left out."""

    view: type
    name: str
    category: str | None
    endpoint: str
    url: str | None = None
    needs: str = ""


BILLING, SETTINGS = lazy_gettext("Billing"), lazy_gettext("Settings")
#: The admin menu after Customers and its workflows, in order.
SCREENS = (
    Screen(
        CustomerGroupsView,
        lazy_gettext("Customer groups"),
        BILLING,
        "customer_groups",
        "/admin/customer-groups",
    ),
    Screen(
        SelfServiceView,
        lazy_gettext("Self-Service"),
        BILLING,
        "self_service",
        "/admin/self-service",
    ),
    Screen(ProjectKeyAdmin, lazy_gettext("Project Keys"), BILLING, "project_key"),
    Screen(
        PaymentMethodsView,
        lazy_gettext("Payment Methods"),
        BILLING,
        "payment_methods",
        "/admin/payment-methods",
    ),
    Screen(PartnersView, lazy_gettext("Partners"), BILLING, "partners", "/admin/partners"),
    Screen(
        PendingChangesView,
        lazy_gettext("Pending changes"),
        BILLING,
        "pending_changes",
        "/admin/pending-changes",
    ),
    Screen(SavedViewsView, lazy_gettext("Saved views"), None, "saved_views", "/admin/saved-views"),
    Screen(BillingRunAdmin, lazy_gettext("Billing Runs"), BILLING, "billing_run"),
    Screen(InvoiceAdmin, lazy_gettext("Invoices"), BILLING, "invoice"),
    Screen(StripeEventAdmin, lazy_gettext("Stripe events"), BILLING, "stripe_event"),
    Screen(EmailLogAdmin, lazy_gettext("E-mail log"), SETTINGS, "email_log"),
    Screen(
        MailSinkView,
        lazy_gettext("Demo mailbox"),
        SETTINGS,
        "mail_sink",
        "/admin/mail-sink",
        needs="MAIL_SINK_MAILDIR",
    ),
    Screen(
        MailSettingsView,
        lazy_gettext("Mail server"),
        SETTINGS,
        "mail_settings",
        "/admin/settings/mail",
    ),
    Screen(
        InvoiceSettingsView,
        lazy_gettext("Invoices"),
        SETTINGS,
        "invoice_settings",
        "/admin/settings/invoices",
    ),
)


def build_admin(app: Flask) -> Admin:
    app.jinja_env.globals.update(may=may, invoice_badge=invoice_badge)
    register_template_formatters(app)
    admin = Admin(
        app,
        name=app.config["PRODUCT_NAME"],
        index_view=DashboardView(name=lazy_gettext("Dashboard"), url="/admin"),
        theme=Bootstrap4Theme(base_template="admin/msp_base.html", fluid=True),
        # Flask-Admin's inline scripts carry the request's Content-Security-Policy nonce.
        csp_nonce_generator=talisman.nonce,
    )
    admin.add_view(
        CustomerAdmin(db, name=lazy_gettext("Customers"), category=BILLING, endpoint="customer")
    )
    for view, endpoint, address, name in CUSTOMER_WORKFLOWS:
        admin.add_view(
            view(
                name=name,
                category=BILLING,
                endpoint=endpoint,
                url="/admin/customer/<int:customer_id>" + (f"/{address}" if address else ""),
            )
        )
    for screen in SCREENS:
        if screen.needs and not app.config.get(screen.needs):
            continue
        menu = {"name": screen.name, "category": screen.category, "endpoint": screen.endpoint}
        if issubclass(screen.view, ModelView):
            admin.add_view(screen.view(db, **menu))
        else:
            admin.add_view(screen.view(url=screen.url, **menu))
    return admin
