"""Every route of the app, classified by who may use it (SPEC §1), and how to call it with the ids
of real seeded records. A route missing from ``ACCESS`` fails the sweep: a new route must be
classified here before it can ship."""

from __future__ import annotations

from dataclasses import dataclass

ADMIN, BILLING, SUPPORT = "admin", "billing", "support"
STAFF_ROLES = (ADMIN, BILLING, SUPPORT)

# SPEC §1, as access classes (the roles that may use a route):
PUBLIC = "public"  # anyone: sign-in, sign-out, language, invite/reset/registration links
STAFF = (ADMIN, BILLING, SUPPORT)  # reading: "support: read everything except secrets"
EDIT = (ADMIN, BILLING)  # changing customers, subscriptions, keys, invoices, month-end review
SETTINGS = (ADMIN,)  # "settings, Stripe keys, mail server, staff accounts, price tiers"
IMPERSONATE = (ADMIN, SUPPORT)  # "support: read-only impersonation" (billing: not listed)
RESEND = (ADMIN, BILLING, SUPPORT)  # "support: resend invites"
# the monthly billing data download carries the MSP's purchase cost and margin: a business
# secret kept from support, who sees the counts on the dashboard
MONEY = (ADMIN, BILLING)
NOBODY = ()  # a stock Flask-Admin screen the view does not offer: 404 for every role
PORTAL = "portal"  # signed-in customer users only; staff are not customer users

ACCESS: dict[str, object] = {
    "static": PUBLIC,
    "root": PUBLIC,
    "favicon": PUBLIC,
    "admin.static": PUBLIC,
    "admin.login_view": PUBLIC,
    "admin.logout_view": PUBLIC,
    "admin.language_view": PUBLIC,
    "admin.index": STAFF,
    "admin.billing_data": MONEY,
    # month-end runs
    "billing_run.index_view": STAFF,
    "billing_run.details_view": STAFF,
    "billing_run.report_view": STAFF,
    "billing_run.start_view": EDIT,
    "billing_run.approve_view": EDIT,
    "billing_run.resume_view": EDIT,
    "billing_run.settings_view": EDIT,
    # customers and their actions
    "customer.index_view": STAFF,
    "customer.details_view": STAFF,
    "customer.export": STAFF,
    "customer.action_view": EDIT,  # bulk actions: lock, tag
    "customer.resend_invite_view": RESEND,
    "customer.impersonate_view": IMPERSONATE,
    "customer.new_customer_view": EDIT,
    "customer.address_view": EDIT,
    "customer.cancel_view": EDIT,
    "customer.contact_view": EDIT,
    "customer.contact_delete_view": EDIT,
    "customer.contact_accounts_view": EDIT,
    "customer.convert_view": EDIT,
    "customer.delete_customer_view": EDIT,
    "customer.groups_view": EDIT,
    "customer.ip_distribution_view": EDIT,
    "customer.ip_distribution_preview": EDIT,
    "customer.language_view": EDIT,
    "customer.ledger_view": EDIT,
    "customer.lock_view": EDIT,
    "customer.service_add_view": EDIT,
    "customer.service_auto_renew_view": EDIT,
    "customer.service_enable_view": EDIT,
    "customer.service_end_view": EDIT,
    "customer.service_suspend_view": EDIT,
    "customer.main_user_view": EDIT,
    "customer.message_view": EDIT,
    "customer.organisation_view": EDIT,
    "customer.price_view": EDIT,
    "customer.project_key_view": EDIT,
    "customer.purchase_order_view": EDIT,
    "customer.similar_view": EDIT,
    "customer.tags_view": EDIT,
    "customer_groups.index": STAFF,
    "customer_groups.edit_view": EDIT,
    "customer_groups.delete_view": EDIT,
    "partners.index": STAFF,
    "partners.create": EDIT,
    "partners.rename": EDIT,
    "partners.disable": EDIT,
    "partners.enable": EDIT,
    "partners.assign": EDIT,
    "pending_changes.index": STAFF,
    "pending_changes.cancel": EDIT,
    "saved_views.index": STAFF,
    "saved_views.save": EDIT,
    "saved_views.rename": EDIT,
    "saved_views.delete": EDIT,
    # invoices, keys, events, e-mails
    "invoice.index_view": STAFF,
    "invoice.details_view": STAFF,
    "invoice.pdf_view": STAFF,
    "invoice.action_view": EDIT,  # bulk actions: mark paid, resend e-mail
    "invoice.credit_note_view": EDIT,
    "invoice.mark_paid_view": EDIT,
    "invoice.redraft_view": EDIT,
    "invoice.retry_payment_view": EDIT,
    "project_key.index_view": STAFF,
    "project_key.new_key_view": EDIT,
    "project_key.import_view": EDIT,
    "stripe_event.index_view": STAFF,
    "stripe_event.details_view": STAFF,
    "stripe_event.replay_view": EDIT,
    "email_log.index_view": STAFF,
    "email_log.details_view": STAFF,
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
    "customer.ip_distribution_preview": "total=12&internal=10&external=2",
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
