"""The XSS payload corpus and the data it is planted in (SPEC §13).

``plant(clock, admin_email)`` fills every text a staff member or a customer can set with one of
the payloads, always through the billing services the forms call: a self-service customer
(company, contact, address, organisation, phone), its tags, partner, group, contact person,
purchase order, staff e-mail, ledger entry, team member, impersonation reason, a credit note
reason, a saved view (name and filter value), a staff account's name and the self-service
article name. Each payload is unique, so a failure names the field that let it through.

``BOUNDARY`` and ``VALUES`` are the hostile values the fuzz tests put into forms and URLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

# Classic reflected/stored XSS shapes, a template injection probe and a spreadsheet formula.
SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'
JS_URL = "javascript:alert(3)"
TEMPLATE = "{{7*7}}"
TEXTAREA = "</textarea><svg onload=alert(4)>"
QUOTE = "'-alert(5)-'"
IFRAME = '<iframe srcdoc="<script>alert(6)</script>"></iframe>'
LINK = '<a href="javascript:alert(7)">x</a>'
FORMULA = '=HYPERLINK("https://evil.example","x")'
PAYLOADS = (SCRIPT, ATTRIBUTE, JS_URL, TEMPLATE, TEXTAREA, QUOTE, IFRAME, LINK)

COMPANY = f"Acme {SCRIPT} {TEMPLATE}"
CONTACT = f"{FORMULA} {ATTRIBUTE}"
CITY = TEXTAREA
STREET = f"{IFRAME} 1"
PHONE = QUOTE
EMAIL = "xss-owner@acme-xss.example"
PASSWORD = "Xss-Customer-2026!"  # noqa: S105 - test account
TAG = SCRIPT
TAG_2 = ATTRIBUTE
PARTNER = f"Partner {TEXTAREA}"
GROUP = f"Group {LINK}"
CONTACT_PERSON = (f"Petra {SCRIPT}", f"Buch {ATTRIBUTE}", f"Boss {TEMPLATE}")
PURCHASE_ORDER = (f"PO {IFRAME}", f"Provider {QUOTE}", f"Comment {SCRIPT}\n{TEXTAREA}")
MAIL_SUBJECT = f"Subject {SCRIPT}"
MAIL_MESSAGE = f"Message {ATTRIBUTE}\n{TEXTAREA}\n{TEMPLATE}"
LEDGER = f"Goodwill {IFRAME}"
MEMBER = f"Member {SCRIPT}"
MEMBER_EMAIL = "xss-member@acme-xss.example"
IMPERSONATION_REASON = f"Support ticket {ATTRIBUTE}"
CREDIT_REASON = f"Wrong amount {LINK}"
VIEW_NAME = f"View {ATTRIBUTE}"
STAFF_NAME = f"Staff {SCRIPT}"
STAFF_EMAIL = "xss-staff@msp.example"
INDUSTRY = f"Industry {TEXTAREA}"
LANDMARK = f"Landmark {SCRIPT}"
ARTICLE = f"Scanning {SCRIPT}"


@dataclass(frozen=True)
class Planted:
    customer_id: int
    invoice_id: int
    view_query: str


def plant(clock, admin_email: str) -> Planted:
    """Plant the corpus (see the module docstring); the mail settings must be saved first."""
    from billing.access.staff import create_staff, find_staff
    from billing.catalog.selfservice import save_self_service
    from billing.customers import (
        contacts,
        customer_tools,
        groups,
        impersonation,
        lifecycle,
        lookup,
        onboarding,
        organisation,
        partners,
        saved_views,
        team,
    )
    from billing.customers.contacts import ContactInput
    from billing.customers.onboarding import NewCustomer
    from billing.invoicing import purchase_orders
    from billing.invoicing.credit_notes import create_credit_note
    from billing.invoicing.drafting import draft_invoice
    from billing.invoicing.finalizing import finalize_invoice
    from billing.invoicing.purchase_orders import PurchaseOrderInput
    from billing.kernel.audit import SYSTEM, Actor
    from billing.payments import ledger

    customer, _token = onboarding.create_customer(
        NewCustomer(
            company_name=COMPANY,
            contact_name=CONTACT,
            contact_email=EMAIL,
            street=STREET,
            postal_code="20095",
            city=CITY,
            country="DE",
            phone=PHONE,
            service_mode="self_service",
        ),
        SYSTEM,
        clock,
    )
    main = lookup.main_user(customer.id)
    onboarding.register_user(main.id, PASSWORD, clock)
    month_start = clock.today().replace(day=1)
    started = (month_start - timedelta(days=1)).replace(day=1)
    lifecycle.start_subscription(customer.id, 8, 2, "invoice", SYSTEM, clock, valid_from=started)
    invoice = draft_invoice(customer.id, started, clock)
    finalize_invoice(invoice.id, clock)
    create_credit_note(invoice.id, CREDIT_REASON, SYSTEM, clock)

    data = organisation.organisation_of(customer)
    data.industry, data.landmark = INDUSTRY, LANDMARK
    organisation.edit_organisation(customer.id, data, SYSTEM, clock)
    customer_tools.set_tags(customer.id, [TAG, TAG_2], SYSTEM, clock)
    partner = partners.create_partner(PARTNER, SYSTEM, clock)
    partners.assign_partner(customer.id, partner.id, SYSTEM, clock)
    group = groups.save_group(None, GROUP, f"note={SCRIPT}", TAG, SYSTEM, clock)
    groups.set_customer_groups(customer.id, [group.id], SYSTEM, clock)
    first, last, designation = CONTACT_PERSON
    contacts.add_contact(
        customer.id,
        ContactInput(
            first_name=first,
            last_name=last,
            designation=designation,
            email="billing@acme-xss.example",
            phone=QUOTE,
            billing_alerts=True,
        ),
        SYSTEM,
        clock,
    )
    name, provider, comment = PURCHASE_ORDER
    today = clock.today()
    purchase_orders.save_purchase_order(
        customer.id,
        None,
        PurchaseOrderInput(
            name=name,
            annual_value="1200.00",
            start_date=(today - timedelta(days=30)).isoformat(),
            expiry_date=(today + timedelta(days=10)).isoformat(),
            provider_type=provider,
            comment=comment,
        ),
        SYSTEM,
        clock,
    )
    customer_tools.send_staff_message(customer.id, MAIL_SUBJECT, MAIL_MESSAGE, SYSTEM, clock)
    ledger.book_manual(customer.id, "credit", "10.00", LEDGER, SYSTEM, clock)
    team.invite_member(
        customer.id, MEMBER_EMAIL, MEMBER, Actor.user(main, "127.0.0.1"), clock, "http://x"
    )
    admin = find_staff(admin_email)
    session = impersonation.start(customer.id, admin.id, IMPERSONATION_REASON, False, clock)
    impersonation.end(session.id, clock)
    query = urlencode({"flt0_tag_equals": TAG, "search": TEMPLATE})
    saved_views.save_view(admin.id, VIEW_NAME, query, True, ("tag_equals",), SYSTEM, clock)
    create_staff(STAFF_EMAIL, "support", PASSWORD, clock, name=STAFF_NAME)
    save_self_service(True, ARTICLE, "VS-100", SYSTEM, clock)
    return Planted(customer_id=customer.id, invoice_id=invoice.id, view_query=query)


# What the fuzz tests type: empty, huge, negative, NaN, unicode, NUL, SQL- and template-ish,
# invalid dates and addresses, very long text.
BOUNDARY = [
    "",
    " ",
    "0",
    "-1",
    "-0",
    "1",
    "2147483648",
    "-99999999999999999999999",
    "1e309",
    "NaN",
    "nan",
    "Infinity",
    "-inf",
    "0.005",
    "1,5",
    "0x1F",
    "١٢٣",
    "١e٣",
    "\u202etxt.exe",
    "😀" * 40,
    "Zoë Ærøskøbing ß",
    "' OR '1'='1' --",
    "1; DROP TABLE customer; --",
    "%(name)s {0} {{7*7}} ${7*7}",
    "<script>alert(1)</script>",
    "a\x00b",
    "\x00",
    "line\r\nbreak",
    "x" * 201,
    "9" * 400,
    "y" * 20_000,
    "DELETE",
    "yes",
    "on",
    "2026-02-30",
    "9999-12-31",
    "0000-00-00",
    "DE000000000",
    "ZZ",
    "user@",
    "@example.com",
    "a@b.c",
    "https://evil.example/",
    "//evil.example",
    "../../../etc/passwd",
]
VALUES = st.one_of(
    st.sampled_from(BOUNDARY),
    st.text(max_size=60),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=250, max_size=2000),
)


def fuzz_settings(examples: int) -> settings:
    """Hypothesis settings of the fuzz tests: ``examples`` rounds, no deadline and no shrinking
    (a failure names the request that caused it; shrinking would replay it many times)."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.reuse, Phase.generate),
    )
