"""The customer list (SPEC §3): columns, filters, search, details and streamed exports."""

from __future__ import annotations

from flask import current_app, g, request, url_for
from flask_admin.actions import action
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_babel import format_datetime, format_decimal, lazy_gettext, ngettext
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import Integer, select

from billing.customers.actions import available_actions, available_actions_for
from billing.customers.customer_tools import add_tag
from billing.customers.groups import group_members, groups
from billing.customers.lifecycle import set_locked
from billing.customers.timeline import customer_timeline
from billing.infra.counting import ABOUT, MORE_THAN, MatchCount
from billing.infra.search import apply_customer_search
from billing.kernel.countries import country_choices, country_name
from billing.kernel.mail import describe_failure
from billing.kernel.permissions import Permission
from billing.reporting.exports import EXPORT_FIELDS
from billing.reporting.overview import customer_overview
from models import (
    Customer,
    Partner,
    Tag,
    customer_tags,
    db,
)

from .actions import CUSTOMER_ACTIONS
from .auth import clock, staff_actor, staff_can
from .base import SecureModelView
from .customer_actions import CustomerActionsMixin
from .customer_profile import profile_context
from .customer_rows import render_rows, url_parts
from .customer_tools import ledger_context
from .formatting import money, unit_money
from .forms import CustomerPriceForm
from .labels import (
    ATTEMPT_STATE_LABELS,
    EMAIL_STATE_LABELS,
    INVOICE_KIND_LABELS,
    LANGUAGE_LABELS,
    PAYMENT_LABELS,
    SERVICE_MODE_LABELS,
    STATUS_LABELS,
    STATUS_STYLE,
    USER_STATE_LABELS,
)
from .navigation import list_address, return_url, with_highlight
from .partners import assign_partner_form
from .saved_views import list_context as saved_views_context
from .service_subscriptions import subscriptions_context

#: the labels and colours the overview shows, by kind
OVERVIEW_LABELS = {
    "status": STATUS_LABELS,
    "status_style": STATUS_STYLE,
    "mode": SERVICE_MODE_LABELS,
    "payment": PAYMENT_LABELS,
    "language": LANGUAGE_LABELS,
    "invoice_kind": INVOICE_KIND_LABELS,
    "user_state": USER_STATE_LABELS,
    "email_state": EMAIL_STATE_LABELS,
    "attempt_state": ATTEMPT_STATE_LABELS,
}
#: the registry's row action for each of ``billing.customers.team.member_actions``'s
TEAM_ACTIONS = {"resend": "resend_team_invite", "revoke": "withdraw_team_invite"}


class LazyOptions:
    """Filter options read when the list renders, not when the view is built."""

    def __init__(self, source) -> None:
        self.source = source

    def __iter__(self):
        options = self.source() if callable(self.source) else self.source
        return iter([(str(code), str(label)) for code, label in options])

    def __bool__(self) -> bool:
        return True


class ChoiceFilter(sqla_filters.FilterEqual):
    """Equality on a coded column; a value outside the options is refused, never a 500.

    ``key`` names the filter in URLs, the same in every UI language.
    """

    def __init__(self, column, name, options, key: str) -> None:
        super().__init__(column, name, options=options)
        self.key = key

    def validate(self, value) -> bool:
        return value in {code for code, _label in self.get_options(None)}

    def get_options(self, view):
        return LazyOptions(self.options)

    def apply(self, query, value, alias=None):
        """Compare the code as the column stores it: PostgreSQL compares no integer column
        (the partner) with the text of the URL."""
        if isinstance(self.column.type, Integer):
            value = int(value)
        return super().apply(query, value, alias)


class TagFilter(ChoiceFilter):
    def apply(self, query, value, alias=None):
        tagged = (
            select(customer_tags.c.customer_id)
            .join(Tag, Tag.id == customer_tags.c.tag_id)
            .where(Tag.name == value)
        )
        return query.filter(Customer.id.in_(tagged))


class GroupFilter(ChoiceFilter):
    def apply(self, query, value, alias=None):
        return query.filter(Customer.id.in_(group_members(int(value))))


class ErasedFilter(ChoiceFilter):
    """Erased customers ("Deleted customer 61"): hidden (``no``, the list's default), only
    them (``yes``) or every customer (``all``)."""

    def apply(self, query, value, alias=None):
        if value == "yes":
            return query.filter(Customer.erased_at.is_not(None))
        if value == "no":
            return query.filter(Customer.erased_at.is_(None))
        return query


class PendingFilter(ChoiceFilter):
    def apply(self, query, value, alias=None):
        return query.filter(Customer.has_pending_change.is_(value == "1"))


def _partner_options():
    return [
        (str(pid), name)
        for pid, name in db.session.execute(select(Partner.id, Partner.name).order_by(Partner.name))
    ]


def _group_options():
    return [(str(group.id), group.name) for group in groups()]


def _tag_options():
    return [(name, name) for name in db.session.scalars(select(Tag.name).order_by(Tag.name))]


def _translated(labels: dict) -> dict:
    """``labels`` (lazy texts) as plain strings of the request's language, translated once per
    request: a list page shows the same few labels in every row."""
    cache = g.setdefault("translated_labels", {})
    if id(labels) not in cache:
        cache[id(labels)] = {key: str(text) for key, text in labels.items()}
    return cache[id(labels)]


# The two formatters below escape every value themselves (cheaper than Markup.format per cell).
def _company_formatter(view, context, model, name):
    """The company name, linked to the customer's overview (which leads back to this list
    page), with the contact e-mail under it; the link's URL is built once per request."""
    if "overview_url" not in g:
        g.overview_url = url_parts(".details_view", "id", g.get("list_address"))
    prefix, suffix = g.overview_url
    company, email = escape(model.company_name), escape(model.contact_email)
    return Markup(  # noqa: S704
        f'<a href="{prefix}{model.id}{suffix}" class="msp-company"><strong>{company}</strong></a>'
        f'<br><small class="text-muted">{email}</small>'
    )


def _status_formatter(view, context, model, name):
    style, icon = STATUS_STYLE.get(model.status, ("secondary", "fa-question"))
    label = escape(_translated(STATUS_LABELS).get(model.status, model.status))
    status = escape(model.status)
    return Markup(  # noqa: S704
        f'<span class="badge badge-{style} msp-status" data-status="{status}" title="{label}">'
        f'<i class="fa {icon}" aria-hidden="true"></i> {label}</span>'
    )


def count_words(match: MatchCount) -> str:
    """How many customers the list's filter and search select, in words ("about" for an
    estimate), the number formatted for the staff member's language."""
    number = format_decimal(match.number)
    if match.kind == ABOUT:
        return ngettext(
            "about %(count)s customer", "about %(count)s customers", match.number, count=number
        )
    if match.kind == MORE_THAN:
        return ngettext(
            "more than %(count)s customer",
            "more than %(count)s customers",
            match.number,
            count=number,
        )
    return ngettext("%(count)s customer", "%(count)s customers", match.number, count=number)


class CustomerAdmin(CustomerActionsMixin, SecureModelView):
    """The customer list and overview, with the customer's lifecycle actions
    (``CustomerActionsMixin``); its workflows are views of their own (``build_admin``)."""

    permission = Permission.READ
    action_permission = Permission.MANAGE_CUSTOMERS
    list_template = "admin/customer_list.html"
    details_template = "admin/customer_details.html"
    can_view_details = True
    can_export = True
    export_types = ["json", "csv", "xlsx"]
    export_fields = EXPORT_FIELDS

    column_list = [
        "company_name",
        "service_mode",
        "status",
        "internal_ips",
        "external_ips",
        "payment_method",
        "average_ip_price",
    ]
    column_labels = {
        "company_name": lazy_gettext("Company Name"),
        "service_mode": lazy_gettext("Service Mode"),
        "status": lazy_gettext("Status"),
        "internal_ips": lazy_gettext("IP's Internal"),
        "external_ips": lazy_gettext("IP's External"),
        "payment_method": lazy_gettext("Payment Method"),
        "average_ip_price": lazy_gettext("Average IP Price"),
        "contact_name": lazy_gettext("Contact person"),
        "contact_email": lazy_gettext("Contact e-mail"),
        "street": lazy_gettext("Street"),
        "postal_code": lazy_gettext("Postal code"),
        "city": lazy_gettext("City"),
        "country": lazy_gettext("Country"),
        "phone": lazy_gettext("Phone"),
        "vat_id": lazy_gettext("VAT-ID"),
        "language": lazy_gettext("Language"),
        "partner": lazy_gettext("Partner"),
        "tags": lazy_gettext("Tags"),
        "monthly_price": lazy_gettext("Monthly price"),
        "created_at": lazy_gettext("Created"),
        "locked": lazy_gettext("Account locked"),
    }
    column_sortable_list = column_list
    column_default_sort = [("company_name", False), ("id", False)]
    column_formatters = {
        "company_name": _company_formatter,
        "status": _status_formatter,
        "service_mode": lambda v, c, m, n: _translated(SERVICE_MODE_LABELS).get(
            m.service_mode, m.service_mode
        ),
        "payment_method": lambda v, c, m, n: _translated(PAYMENT_LABELS).get(m.payment_method, "–"),
        "average_ip_price": lambda v, c, m, n: money(m.average_ip_price),
        "monthly_price": lambda v, c, m, n: money(m.monthly_price),
        "country": lambda v, c, m, n: country_name(m.country) or m.country,
        "tags": lambda v, c, m, n: ", ".join(t.name for t in m.tags),
        "language": lambda v, c, m, n: LANGUAGE_LABELS.get(m.language, m.language),
        "locked": lambda v, c, m, n: _("Yes") if m.locked else _("No"),
        "created_at": lambda v, c, m, n: format_datetime(m.created_at),
        "internal_ips": lambda v, c, m, n: format_decimal(m.internal_ips),
        "external_ips": lambda v, c, m, n: format_decimal(m.external_ips),
    }
    column_details_list = [
        "company_name",
        "contact_name",
        "contact_email",
        "service_mode",
        "status",
        "street",
        "postal_code",
        "city",
        "country",
        "phone",
        "vat_id",
        "language",
        "partner",
        "tags",
        "internal_ips",
        "external_ips",
        "payment_method",
        "monthly_price",
        "average_ip_price",
        "locked",
        "created_at",
    ]
    column_searchable_list = ["company_name", "contact_name", "contact_email", "vat_id"]
    column_filters = [
        ChoiceFilter(
            Customer.payment_method,
            lazy_gettext("Payment Method"),
            options=lambda: list(PAYMENT_LABELS.items()),
            key="payment_method",
        ),
        ChoiceFilter(
            Customer.service_mode,
            lazy_gettext("Service Mode"),
            options=lambda: list(SERVICE_MODE_LABELS.items()),
            key="service_mode",
        ),
        ChoiceFilter(
            Customer.status,
            lazy_gettext("Status"),
            options=lambda: list(STATUS_LABELS.items()),
            key="status",
        ),
        ChoiceFilter(
            Customer.partner_id, lazy_gettext("Partner"), options=_partner_options, key="partner"
        ),
        TagFilter(Customer.id, lazy_gettext("Tag"), options=_tag_options, key="tag"),
        GroupFilter(Customer.id, lazy_gettext("Group"), options=_group_options, key="group"),
        ChoiceFilter(
            Customer.country, lazy_gettext("Country"), options=country_choices, key="country"
        ),
        PendingFilter(
            Customer.has_pending_change,
            lazy_gettext("Pending change"),
            options=lambda: [("1", _("Yes")), ("0", _("No"))],
            key="pending_change",
        ),
        ErasedFilter(
            Customer.erased_at,
            lazy_gettext("Erased"),
            options=lambda: [("no", _("No")), ("yes", _("Yes")), ("all", _("All"))],
            key="erased",
        ),
        "city",
        "created_at",
    ]
    column_default_filters = {"erased": "no"}
    list_count = True

    def __init__(self, database, **kwargs):
        super().__init__(Customer, database, **kwargs)

    @action(
        "lock",
        lazy_gettext("Lock accounts"),
        lazy_gettext("Lock the selected customers? None of their users can sign in any more."),
    )
    def action_lock(self, ids):
        self.apply_to_selected(
            ids,
            lambda customer_id: set_locked(customer_id, True, staff_actor(), clock()),
            lambda count: ngettext("%(num)d customer locked.", "%(num)d customers locked.", count),
        )

    @action("tag", lazy_gettext("Add a tag"))
    def action_tag(self, ids):
        """First a page that asks for the tag (posting back here), then the tag for each."""
        if "tag" not in request.form:
            return self.render(
                "admin/customer_bulk_tag.html",
                ids=list(dict.fromkeys(ids)),
                return_url=request.form.get("url") or url_for(".index_view"),
            )
        tag = request.form["tag"]
        self.apply_to_selected(
            ids,
            lambda customer_id: add_tag(customer_id, tag, staff_actor(), clock()),
            lambda count: ngettext(
                "Tag %(tag)s added to %(num)d customer.",
                "Tag %(tag)s added to %(num)d customers.",
                count,
                tag=" ".join(tag.split()),
            ),
        )

    def describe_count(self, match: MatchCount) -> str:
        return count_words(match)

    def page_rows(self, query) -> list[Customer]:
        """Deferred join: the page's ids come from an index-only scan (with the offset), then
        only those rows are loaded, so deep pages cost no more than the first one."""
        ids = [row[0] for row in query.with_entities(Customer.id)]
        if not ids:
            return []
        rows = {c.id: c for c in db.session.scalars(select(Customer).where(Customer.id.in_(ids)))}
        return [rows[i] for i in ids if i in rows]

    def _apply_search(self, query, count_query, joins, count_joins, search):
        query = apply_customer_search(query, search, db.engine.dialect.name)
        if count_query is not None:
            count_query = apply_customer_search(count_query, search, db.engine.dialect.name)
        return query, count_query, joins, count_joins

    def render(self, template, **kwargs):
        if template == self.list_template and "data" in kwargs:
            rows = list(kwargs["data"])
            kwargs["can_create_customers"] = staff_can(Permission.MANAGE_CUSTOMERS)
            g.list_address = list_address()
            kwargs["list_rows"] = render_rows(
                self,
                rows,
                available_actions_for(rows),
                selectable=bool(kwargs.get("actions")),
                return_to=g.list_address,
            )
            kwargs.update(saved_views_context())
        elif template == self.details_template and "model" in kwargs:
            kwargs.update(self._overview_context(kwargs["model"]))
        return super().render(template, **kwargs)

    def _overview_context(self, customer: Customer) -> dict:
        """What the customer overview (customer_details.html) shows: ``billing.reporting.overview``
        for the header and sections, the row actions that apply, the timeline, and the forms of
        the workflows' dialogs (profile, subscriptions, ledger)."""
        overview = customer_overview(customer.id, clock())
        listing = return_url()
        actions = CUSTOMER_ACTIONS.links(
            customer.id,
            available_actions(customer, has_subscription=overview.current is not None),
            version=customer.version,
            values={"name": customer.company_name},
            return_to=listing,
        )
        return {
            "overview": overview,
            "return_to": listing,
            "list_url": with_highlight(self.list_url(), customer.id),
            "actions": actions,
            "team_links": {
                member_action: actions[key]
                for member_action, key in TEAM_ACTIONS.items()
                if key in actions
            },
            "sections": [
                ("profile", _("Profile"), None),
                ("users", _("Users"), len(overview.users)),
                ("subscriptions", _("Subscriptions"), None),
                ("invoices", _("Invoices and credit notes"), len(overview.invoices)),
                ("payments", _("Payments"), None),
                ("emails", _("E-mails"), len(overview.emails)),
                ("timeline", _("Timeline"), None),
            ],
            "labels": OVERVIEW_LABELS,
            "money": money,
            "unit_money": unit_money,
            "format_decimal": format_decimal,
            "country_name": country_name,
            "describe_failure": describe_failure,
            "services": subscriptions_context(customer),
            "timeline": customer_timeline(customer.id, current_app.config["CURRENCY"]),
            "partner_form": assign_partner_form(customer),
            "price_form": CustomerPriceForm(
                formdata=None,
                version=customer.version,
                unit_price="" if customer.unit_price is None else f"{customer.unit_price:f}",
            ),
            **profile_context(customer),
            **ledger_context(customer),
        }
