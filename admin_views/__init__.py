"""The admin site: one Flask-Admin instance per app, built in ``create_app``."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_babel import lazy_gettext

from billing.kernel.permissions import Permission
from extensions import talisman
from models import db

from .auth import staff_can
from .base import DashboardView
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


def build_admin(app: Flask) -> Admin:
    app.jinja_env.globals["may"] = may
    admin = Admin(
        app,
        name=app.config["PRODUCT_NAME"],
        index_view=DashboardView(name=lazy_gettext("Dashboard"), url="/admin"),
        theme=Bootstrap4Theme(base_template="admin/msp_base.html", fluid=True),
        # Flask-Admin's inline scripts carry the request's Content-Security-Policy nonce.
        csp_nonce_generator=talisman.nonce,
    )
    admin.add_view(
        CustomerAdmin(
            db,
            name=lazy_gettext("Customers"),
            category=lazy_gettext("Billing"),
            endpoint="customer",
        )
    )
    for view, endpoint, address, name in CUSTOMER_WORKFLOWS:
        admin.add_view(
            view(
                name=name,
                category=lazy_gettext("Billing"),
                endpoint=endpoint,
                url="/admin/customer/<int:customer_id>" + (f"/{address}" if address else ""),
            )
        )
    admin.add_view(
        CustomerGroupsView(
            name=lazy_gettext("Customer groups"),
            category=lazy_gettext("Billing"),
            endpoint="customer_groups",
            url="/admin/customer-groups",
        )
    )
    admin.add_view(
        SelfServiceView(
            name=lazy_gettext("Self-Service"),
            category=lazy_gettext("Billing"),
            endpoint="self_service",
            url="/admin/self-service",
        )
    )
    admin.add_view(
        ProjectKeyAdmin(
            db,
            name=lazy_gettext("Project Keys"),
            category=lazy_gettext("Billing"),
            endpoint="project_key",
        )
    )
    admin.add_view(
        PaymentMethodsView(
            name=lazy_gettext("Payment Methods"),
            category=lazy_gettext("Billing"),
            endpoint="payment_methods",
            url="/admin/payment-methods",
        )
    )
    admin.add_view(
        PartnersView(
            name=lazy_gettext("Partners"),
            category=lazy_gettext("Billing"),
            endpoint="partners",
            url="/admin/partners",
        )
    )
    admin.add_view(
        PendingChangesView(
            name=lazy_gettext("Pending changes"),
            category=lazy_gettext("Billing"),
            endpoint="pending_changes",
            url="/admin/pending-changes",
        )
    )
    admin.add_view(
        SavedViewsView(
            name=lazy_gettext("Saved views"),
            endpoint="saved_views",
            url="/admin/saved-views",
        )
    )
    admin.add_view(
        BillingRunAdmin(
            db,
            name=lazy_gettext("Billing Runs"),
            category=lazy_gettext("Billing"),
            endpoint="billing_run",
        )
    )
    admin.add_view(
        InvoiceAdmin(
            db,
            name=lazy_gettext("Invoices"),
            category=lazy_gettext("Billing"),
            endpoint="invoice",
        )
    )
    admin.add_view(
        StripeEventAdmin(
            db,
            name=lazy_gettext("Stripe events"),
            category=lazy_gettext("Billing"),
            endpoint="stripe_event",
        )
    )
    admin.add_view(
        EmailLogAdmin(
            db,
            name=lazy_gettext("E-mail log"),
            category=lazy_gettext("Settings"),
            endpoint="email_log",
        )
    )
    if app.config.get("MAIL_SINK_MAILDIR"):
        admin.add_view(
            MailSinkView(
                name=lazy_gettext("Demo mailbox"),
                category=lazy_gettext("Settings"),
                endpoint="mail_sink",
                url="/admin/mail-sink",
            )
        )
    admin.add_view(
        MailSettingsView(
            name=lazy_gettext("Mail server"),
            category=lazy_gettext("Settings"),
            endpoint="mail_settings",
            url="/admin/settings/mail",
        )
    )
    admin.add_view(
        InvoiceSettingsView(
            name=lazy_gettext("Invoices"),
            category=lazy_gettext("Settings"),
            endpoint="invoice_settings",
            url="/admin/settings/invoices",
        )
    )
    return admin
