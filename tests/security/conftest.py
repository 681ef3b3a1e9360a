"""Security fixtures: the demo seed (built once, copied per test), clients signed in per role,
the ids of real seeded records for every route parameter, and a fingerprint of the database;
for the browser tests, the demo seed plus the XSS payload corpus served on loopback with card
payment through the suite's ``localstripe`` and mail to an SMTP sink, with the demo ``admin``
and the payload customer signed in once each."""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

import pytest
from playwright.sync_api import expect
from sqlalchemy import inspect, text

from billing.kernel.clock import FixedClock
from seed.demo import CUSTOMER_PASSWORD, DEMO_STAFF
from tests.conftest import (
    SharedApp,
    _build,
    berlin,
    built_once,
    csrf_token,
    rolled_back,
    sign_in,
)
from tests.e2e import conftest as e2e
from tests.e2e.conftest import DEMO_ADMIN, LiveServer, serving
from tests.e2e.helpers import portal_sign_in
from tests.e2e.helpers import sign_in as browser_sign_in
from tests.portal.helpers import MEMBER_PASSWORD
from tests.security import corpus
from tests.support.cards import stripe_on
from tests.support.demo import app_on_copy
from tests.support.services import SmtpSink

# audit events that record a read (a download), not a change: a page view may write these
READ_AUDIT_ACTIONS = frozenset(
    {
        "customer.export",
        "dashboard.billing_data",
        "billing_data.export",
        "billing_run.report_export",
        "invoice.download",
    }
)


@dataclass
class Demo:
    """Ids of seeded records, by the route argument (or query) they fill."""

    ids: dict[str, object] = field(default_factory=dict)
    customer_email: str = ""
    member_email: str = ""


def _extras(clock) -> None:
    """What the demo does not have by itself but the routes name: a team member and a pending
    invite, an additional subscription, a billing run awaiting approval, a Stripe event and an
    e-mail log entry."""
    from billing.customers import lookup, onboarding
    from billing.customers import team as team_rules
    from billing.invoicing import monthend, monthend_work
    from billing.kernel.audit import SYSTEM, Actor
    from billing.kernel.clock import add_months
    from billing.kernel.mail import save_mail_settings
    from billing.subscriptions import service_subscriptions as services
    from billing.subscriptions import service_terms
    from models import EmailLog, StripeEvent, db

    # a mail server nobody listens on: e-mails are composed and logged, queueing them fails
    save_mail_settings("127.0.0.1", 9, "none", "", "", "MSP", "billing@msp.example", SYSTEM, clock)
    owner = _owner()
    main = lookup.main_user(owner.id)
    _user, message = team_rules.invite_member(
        owner.id, "member@security.example", "Member", Actor.user(main), clock, "http://t"
    )
    link = message.text.split("/portal/invite/")[1].split()[0]
    onboarding.accept_invite(link, MEMBER_PASSWORD, MEMBER_PASSWORD, clock)
    team_rules.invite_member(
        owner.id, "pending@security.example", "Pending", Actor.user(main), clock, "http://t"
    )
    services.add_service(
        owner.id, service_terms.ServiceInput("Site Security", 2, 1, 12), SYSTEM, clock
    )
    # the demo's months are billed by done runs: the run waiting for approval is the current
    # month's, drafted on a rehearsal clock at its end
    month_end = datetime.combine(add_months(clock.today(), 1), time(0, 30), tzinfo=clock.tz)
    rehearsal = FixedClock(month_end, str(clock.tz))
    started = monthend.start_run(clock.today().replace(day=1), SYSTEM, rehearsal)
    monthend_work.work(started.run_id, rehearsal)
    db.session.add(
        StripeEvent(
            id="evt_security_1",
            type="payment_intent.succeeded",
            payload='{"id": "evt_security_1", "type": "payment_intent.succeeded"}',
            state="processed",
            received_at=clock.now(),
        )
    )
    db.session.add(
        EmailLog(
            created_at=clock.now(),
            recipient="someone@customer.example",
            subject="Your invoice",
            template="invoice",
            language="en",
            customer_id=owner.id,
        )
    )
    db.session.commit()


def _owner():
    """The demo customer with a contact, a purchase order and a group (see seed.demo)."""
    from models import Contact, Customer, db

    return db.session.scalar(
        db.select(Customer).join(Contact, Contact.customer_id == Customer.id).limit(1)
    )


@pytest.fixture(scope="session")
def demo_template(demo_database, tmp_path_factory) -> str:
    """The demo database with the extras, built once."""
    from models import db

    def build(path) -> None:
        clock = FixedClock(berlin(2026, 11, 15, 10, 0))
        app = app_on_copy(demo_database, path, clock)
        with app.app_context():
            _extras(clock)
            db.session.remove()
            db.engine.dispose()

    return built_once(tmp_path_factory, "security-demo.db", build)


def demo_ids() -> Demo:
    """The ids of real records for every route argument (inside an app context)."""
    from billing.customers import lookup
    from models import (
        BillingRun,
        Contact,
        CustomerGroup,
        EmailLog,
        Invoice,
        Partner,
        ProjectKey,
        PurchaseOrder,
        SavedView,
        ScheduledChange,
        ServiceSubscription,
        StripeEvent,
        TeamInvitation,
        User,
        db,
    )

    owner = _owner()

    def first(column, *where):
        return db.session.scalar(db.select(column).where(*where).order_by(column).limit(1))

    member = db.session.scalar(db.select(User).where(User.email == "member@security.example"))
    ids = {
        "customer_id": owner.id,
        "contact_id": first(Contact.id, Contact.customer_id == owner.id),
        "order_id": first(PurchaseOrder.id, PurchaseOrder.customer_id == owner.id),
        "group_id": first(CustomerGroup.id),
        "run_id": first(BillingRun.id, BillingRun.state == "awaiting_approval"),
        "invoice_id": first(Invoice.id, Invoice.customer_id == owner.id),
        "partner_id": first(Partner.id),
        "change_id": first(ScheduledChange.id),
        "service_id": first(ServiceSubscription.id, ServiceSubscription.customer_id == owner.id),
        "view_id": first(SavedView.id),
        "event_id": first(StripeEvent.id),
        "email_log_id": first(EmailLog.id),
        "project_key_id": first(ProjectKey.id),
        "user_id": member.id,
        "invitation_id": first(TeamInvitation.id, TeamInvitation.customer_id == owner.id),
        "export_type": "csv",
        "export_format": "csv",
        "action": "disable",
        "token": "not-a-real-token",
        "filename": "css/admin.css",
    }
    assert all(value is not None for value in ids.values()), ids
    return Demo(ids, lookup.main_user(owner.id).email, member.email)


@pytest.fixture(scope="session")
def demo_shared(demo_template, tmp_path_factory):
    """This test process's app on a copy of the demo database (see tests/conftest.py)."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    shutil.copy(demo_template, path)
    shared = SharedApp(f"sqlite:///{path}")
    yield shared
    shared.close()


@pytest.fixture
def demo_app(request, demo_template, tmp_path, clock):
    """The app on the demo database, inside an app context; what the test writes is rolled back
    after it (a copy of its own when marked ``fresh_database``)."""
    if request.node.get_closest_marker("fresh_database") is None:
        with rolled_back(request.getfixturevalue("demo_shared"), clock) as app:
            app.demo = demo_ids()
            yield app
        return
    path = tmp_path / "demo.db"
    shutil.copy(demo_template, path)
    app, ctx, db = _build(f"sqlite:///{path}", clock)
    app.demo = demo_ids()
    yield app
    db.session.remove()
    db.engine.dispose()
    ctx.pop()


STAFF_LOGINS = {role: (email, password) for email, role, password in DEMO_STAFF}


def staff_signed_in(app, role: str):
    """A client signed in as the demo staff member with ``role``; ``.token`` is its CSRF token."""
    client = app.test_client()
    email, password = STAFF_LOGINS[role]
    assert sign_in(client, email, password).status_code == 302
    client.token = csrf_token(client, "/admin/")
    return client


def portal_signed_in(app, email: str, password: str = CUSTOMER_PASSWORD):
    """A client signed in to the portal; ``.token`` is its CSRF token."""
    client = app.test_client()
    token = csrf_token(client, "/portal/login")
    response = client.post(
        "/portal/login", data={"csrf_token": token, "email": email, "password": password}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    client.token = csrf_token(client, "/portal/account")
    return client


def _stable(value) -> str:
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC)
    return repr(value)


def fingerprint() -> dict[str, tuple[int, str]]:
    """Per table: the row count and a hash of every row, in primary-key order. Audit events of
    reads (downloads are audited) are left out; every other audit event counts."""
    from models import db

    db.session.rollback()
    result = {}
    inspector = inspect(db.engine)
    for table in sorted(inspector.get_table_names()):
        if table.startswith("customer_search_"):
            continue  # the full-text index's shadow tables follow the customer table
        where = ""
        if table == "audit_event":
            listed = ", ".join(f"'{action}'" for action in sorted(READ_AUDIT_ACTIONS))
            where = f" WHERE action NOT IN ({listed})"
        rows = db.session.execute(text(f'SELECT * FROM "{table}"{where} ORDER BY 1')).all()
        digest = hashlib.sha256()
        for row in rows:
            digest.update("|".join(_stable(value) for value in row).encode())
            digest.update(b"\n")
        result[table] = (len(rows), digest.hexdigest())
    db.session.rollback()
    return result


# what a refused submission or a page view may add rows to: the audit trail and the e-mail log
LOG_TABLES = frozenset({"audit_event", "email_log", "alembic_version"})


def pg_fingerprint() -> dict[str, str]:
    """Per table but the logs, an md5 digest of every row (PostgreSQL, one query per call)."""
    from models import db

    db.session.rollback()
    tables = db.session.scalars(
        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    ).all()
    digest = " UNION ALL ".join(
        f"SELECT '{table}', md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
        f'FROM "{table}" t'
        for table in tables
        if table not in LOG_TABLES
    )
    digests = dict(db.session.execute(text(digest)).all())
    db.session.rollback()
    return digests


def changed_tables(before: dict, after: dict) -> list[str]:
    return sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )


# The page fixtures of the e2e tests (a context and page per test, a screenshot of a failure),
# here opening their pages on this package's ``live_server``; ``browser`` is tests/conftest.py's.
context = e2e.context
page = e2e.page
pytest_runtest_makereport = e2e.pytest_runtest_makereport


@pytest.fixture(scope="session")
def security_server(demo_database, tmp_path_factory, localstripe):
    """The app on a copy of the demo database with the payload corpus; yields (LiveServer,
    Planted)."""
    from billing.kernel.audit import SYSTEM
    from billing.kernel.mail import save_mail_settings
    from models import db

    sink = SmtpSink().start()
    clock = FixedClock(berlin(2026, 11, 15, 10, 0))
    path = tmp_path_factory.mktemp("security") / "security.db"
    app = app_on_copy(demo_database, path, clock, STRIPE_API_BASE=localstripe.url)
    with app.app_context():
        stripe_on(app, localstripe)
        save_mail_settings(
            "127.0.0.1", sink.port, "none", "", "", "MSP", "billing@msp.example", SYSTEM, clock
        )
        planted = corpus.plant(clock, DEMO_ADMIN[0])
        db.session.remove()
    with serving(app, clock, "security-server") as server:
        yield server, planted
    sink.stop()


@pytest.fixture(scope="session")
def live_server(security_server) -> LiveServer:
    """The shared ``context``/``page`` fixtures open their pages on this server."""
    return security_server[0]


@pytest.fixture(scope="session")
def planted(security_server) -> corpus.Planted:
    return security_server[1]


def _cookies(browser, live_server, sign_in_page) -> list:
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    try:
        sign_in_page(context.new_page())
        return context.cookies()
    finally:
        context.close()


@pytest.fixture(scope="session")
def admin_cookies(browser, live_server) -> list:
    def admin(page) -> None:
        browser_sign_in(page, DEMO_ADMIN[0], DEMO_ADMIN[2])
        expect(page).to_have_url(re.compile(r"/admin/$"))

    return _cookies(browser, live_server, admin)


@pytest.fixture(scope="session")
def customer_cookies(browser, live_server, planted) -> list:
    def customer(page) -> None:
        portal_sign_in(page, corpus.EMAIL, corpus.PASSWORD)
        expect(page).to_have_url(re.compile(r"/portal/$"))

    return _cookies(browser, live_server, customer)
