"""Every route of the app, classified by the permission it needs (SPEC §1), and how to call it
with the ids of real seeded records. Which roles have a permission is not repeated here: it is
read from the one table (``billing.kernel.permissions.TABLE``), so the sweep expects whatever
the table says. A route missing from ``ACCESS`` fails the sweep: a new route must be classified here
before it can ship."""

from __future__ import annotations

from dataclasses import dataclass

from billing.kernel.permissions import TABLE, Permission

STAFF_ROLES = tuple(TABLE)

# Who may use a route: the permission it needs (the roles that have it come from the one
# table, billing.kernel.permissions.TABLE), or one of these:
PUBLIC = "public"  # anyone: sign-in, sign-out, language, invite/reset/registration links
NOBODY = ()  # a stock Flask-Admin screen the view does not offer: 404 for every role
PORTAL = "portal"  # signed-in customer users only; staff are not customer users
READ = Permission.READ  # "support: read everything except secrets"
CUSTOMERS = Permission.MANAGE_CUSTOMERS  # changing customers, subscriptions, keys redeemed
BILLING = Permission.MANAGE_BILLING  # invoices, month-end review, project keys, ledger
SETTINGS = Permission.MANAGE_SETTINGS  # "settings, Stripe keys, mail server, price tiers"
IMPERSONATE = Permission.IMPERSONATE  # "support: read-only impersonation"
RESEND = Permission.RESEND_INVITES  # "support: resend invites"
VIEWS = Permission.SAVE_VIEWS  # saving the customer list's views
# the monthly billing data download carries the MSP's purchase cost and margin: a business
# secret kept from support, who sees the counts on the dashboard
MONEY = Permission.SEE_FINANCIALS

ACCESS: dict[str, object] = {
    "static": PUBLIC,
    "favicon": PUBLIC,
    "root": PUBLIC,
    "admin.static": PUBLIC,
    "admin.login_view": PUBLIC,
    "admin.logout_view": PUBLIC,
    "admin.language_view": PUBLIC,
    "admin.index": READ,
    "admin.billing_data": MONEY,
    # month-end runs
    "billing_run.index_view": READ,
    "billing_run.details_view": READ,
    "billing_run.report_view": READ,
    "billing_run.start_view": BILLING,
    "billing_run.approve_view": BILLING,
    "billing_run.resume_view": BILLING,
    "billing_run.settings_view": BILLING,
    # customers and their actions
    "customer.index_view": READ,
    "customer.details_view": READ,
    "customer.export": READ,
    "customer.action_view": CUSTOMERS,  # bulk actions: lock, tag
    "customer.resend_invite_view": RESEND,
    "customer.new_customer_view": CUSTOMERS,
    "customer.cancel_view": CUSTOMERS,
    "customer.convert_view": CUSTOMERS,
    "customer.delete_customer_view": CUSTOMERS,
    "customer.lock_view": CUSTOMERS,
    "customer.unlock_view": CUSTOMERS,
    "customer.main_user_view": CUSTOMERS,
    "customer.price_view": CUSTOMERS,
    # the customer's workflows, each a view of its own under /admin/customer/<id>/
    "ip_distribution.index": CUSTOMERS,
    "ip_distribution.preview": CUSTOMERS,
    "project_key_wizard.index": CUSTOMERS,
    "customer_profile.index": CUSTOMERS,
    "customer_profile.address_view": CUSTOMERS,
    "customer_profile.contact_view": CUSTOMERS,
    "customer_profile.contact_delete_view": CUSTOMERS,
    "customer_profile.contact_accounts_view": CUSTOMERS,
    "customer_profile.groups_view": CUSTOMERS,
    "customer_profile.language_view": CUSTOMERS,
    "customer_profile.organisation_view": CUSTOMERS,
    "customer_profile.partner_view": CUSTOMERS,
    "customer_profile.purchase_order_view": CUSTOMERS,
    "customer_profile.tags_view": CUSTOMERS,
    "customer_subscriptions.index": CUSTOMERS,
    "customer_subscriptions.add_view": CUSTOMERS,
    "customer_subscriptions.auto_renew_view": CUSTOMERS,
    "customer_subscriptions.enable_view": CUSTOMERS,
    "customer_subscriptions.end_view": CUSTOMERS,
    "customer_subscriptions.suspend_view": CUSTOMERS,
    "create_similar.index": CUSTOMERS,
    "customer_impersonation.index": IMPERSONATE,
    "customer_message.index": CUSTOMERS,
    "customer_ledger.index": BILLING,
    "team_invitations.index": READ,
    "team_invitations.resend_view": RESEND,
    "team_invitations.withdraw_view": CUSTOMERS,
    "customer_groups.index": READ,
    "customer_groups.edit_view": CUSTOMERS,
    "customer_groups.delete_view": CUSTOMERS,
    "partners.index": READ,
    "partners.create": CUSTOMERS,
    "partners.rename": CUSTOMERS,
    "partners.disable": CUSTOMERS,
    "partners.enable": CUSTOMERS,
    "pending_changes.index": READ,
    "pending_changes.cancel": CUSTOMERS,
    "saved_views.index": READ,
    "saved_views.save": VIEWS,
    "saved_views.rename": VIEWS,
    "saved_views.delete": VIEWS,
    # invoices, keys, events, e-mails
    "invoice.index_view": READ,
    "invoice.details_view": READ,
    "invoice.pdf_view": READ,
    "invoice.action_view": BILLING,  # bulk actions: mark paid, resend e-mail
    "invoice.credit_note_view": BILLING,
    "invoice.mark_paid_view": BILLING,
    "invoice.redraft_view": BILLING,
    "invoice.retry_payment_view": BILLING,
    "project_key.index_view": READ,
    "project_key.new_key_view": BILLING,
    "project_key.import_view": BILLING,
    "stripe_event.index_view": READ,
    "stripe_event.details_view": READ,
    "stripe_event.replay_view": BILLING,
    "email_log.index_view": READ,
    "email_log.details_view": READ,
    # settings, Stripe keys, mail server, price tiers
    "payment_methods.index": SETTINGS,
    "payment_methods.toggle": SETTINGS,
    "payment_methods.stripe_keys": SETTINGS,
    "payment_methods.webhook_secret": SETTINGS,
    "self_service.index": SETTINGS,
    "self_service.prices": SETTINGS,
    "mail_settings.index": SETTINGS,
    "mail_settings.send_test": SETTINGS,
    "invoice_settings.index": SETTINGS,
    # the portal
    "portal.login": PUBLIC,
    "portal.logout": PUBLIC,
    "portal.language": PUBLIC,
    "portal.forgot": PUBLIC,
    "portal.reset": PUBLIC,
    "portal.invite": PUBLIC,
    "portal.register": PUBLIC,
    "portal.register_confirm": PUBLIC,
    "portal.end_impersonation": PUBLIC,
    "portal.home": PORTAL,
    "portal.account": PORTAL,
    "portal.password": PORTAL,
    "portal.profile": PORTAL,
    "portal.team": PORTAL,
    "portal.team_action": PORTAL,
    "portal.team_invitation_resend": PORTAL,
    "portal.team_invitation_revoke": PORTAL,
    "portal.subscription": PORTAL,
    "portal.subscription_preview": PORTAL,
    "portal.invoices": PORTAL,
    "portal.invoice_pdf": PORTAL,
    "portal.payment": PORTAL,
    "portal.payment_setup_intent": PORTAL,
    "portal.payment_save_card": PORTAL,
    "portal.payment_remove_card": PORTAL,
    "portal.payment_retry": PORTAL,
    # signature-checked instead of signed in (a forged delivery gets 400)
    "webhooks.stripe_webhook": PUBLIC,
    "csp.csp_report": PUBLIC,
}

# Flask-Admin's stock screens of every model view; the ones not listed in ACCESS are switched
# off by the view (no create, edit, delete, inline edit, lookups or bulk actions)
STOCK = (
    "create_view",
    "edit_view",
    "delete_view",
    "details_view",
    "export",
    "action_view",
    "ajax_lookup",
    "ajax_update",
)

# the record a model view's ``?id=`` names
DETAILS_ID = {
    "customer": "customer_id",
    "invoice": "invoice_id",
    "billing_run": "run_id",
    "email_log": "email_log_id",
    "stripe_event": "event_id",
    "project_key": "project_key_id",
}
EXTRA_QUERY = {
    "admin.billing_data": "month=2026-10",
    "ip_distribution.preview": "total=12&internal=10&external=2",
}


def access_of(endpoint: str):
    if endpoint in ACCESS:
        return ACCESS[endpoint]
    view, _dot, name = endpoint.partition(".")
    if view in DETAILS_ID and name in STOCK:
        return NOBODY
    return None


@dataclass(frozen=True)
class Call:
    endpoint: str
    method: str
    url: str
    access: object

    def __str__(self) -> str:
        return f"{self.method} {self.url} ({self.endpoint})"


def calls(app, ids: dict) -> list[Call]:
    """One call per rule and method (GET and POST; HEAD and OPTIONS are Flask's own)."""
    result = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        values = {name: ids[name] for name in rule.arguments}
        built = rule.build(values, append_unknown=False)
        assert built is not None, rule.rule
        url = built[1]
        view, _dot, name = rule.endpoint.partition(".")
        query = EXTRA_QUERY.get(rule.endpoint)
        if view in DETAILS_ID and name in ("details_view", "edit_view"):
            query = f"id={ids[DETAILS_ID[view]]}"
        if query:
            url = f"{url}?{query}"
        for method in sorted(rule.methods & {"GET", "POST", "PUT", "PATCH", "DELETE"}):
            result.append(Call(rule.endpoint, method, url, access_of(rule.endpoint)))
    return result


def is_sign_in_redirect(response) -> bool:
    location = response.headers.get("Location", "")
    return response.status_code in (301, 302, 303, 307, 308) and (
        location.startswith("/admin/login/") or location.startswith("/portal/login")
    )
