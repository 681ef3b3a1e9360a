"""The first hour (issue 14): `make run` from a fresh ``instance/``, and the sales demo walked in
Chromium against the processes it starts.

scripts/run.sh runs unchanged in a copy of the working tree (so a developer's own ``instance/``
is never touched) with free ports: Redis, the mail sink with its Maildir, the local Stripe, the
demo seed against it, an RQ worker, the scheduler and the web app. The walk: an admin signs in →
the customer list → a new customer → the invite e-mail in Settings → Demo mailbox → the customer
accepts it in the portal → IP Distribution, raised with "Perform action instantly" → the customer
saves a card in the portal and confirms 3-D Secure → month end: Start on the demo's last month
(billed by the seed: "done already"), then the current month billed ahead of time as a
rehearsal (``flask billing run-month-end --now … --queue``), watched and approved on the Billing
Runs screen → the new customer's invoice is paid at the local Stripe, its PDF opens in the
portal and its e-mail is in the Maildir, and no invoice of the demo's history was touched.

It fails on each defect of issue 14 the walk would hit: an empty mail folder (every e-mail
failed), card payment without a local Stripe (no card form), a run that charges and e-mails
invoices it did not draft (the seeded history), and a queued run shown as "stalled".

While a run waits for a worker, the worker process is held (SIGSTOP, then SIGCONT): the run
page is caught in its queued state, as it would be behind a busy worker.

Screenshots of the key steps go to test-artifacts/first-hour/; on a failure the logs of
run.sh and its processes are copied there too.
"""

from __future__ import annotations

import mailbox
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from datetime import time as day_time
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdfium2 as pdfium
import pytest
import stripe
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from billing.kernel.clock import add_months
from seed.demo import DEMO_STAFF
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import exactly, portal_sign_in, search, sign_in
from tests.e2e.test_customer_lifecycle import customer_row, expect_flash, row_action
from tests.support.services import free_port

# slow as well: `make run` starts the product in processes of its own and seeds the whole demo
# (the longest test of the suite, so it is handed out first)
pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ARTIFACTS / "first-hour"
BERLIN = ZoneInfo("Europe/Berlin")
ADMIN_EMAIL, _ROLE, ADMIN_PASSWORD = next(s for s in DEMO_STAFF if s[1] == "admin")
STRIPE_SECRET_KEY = "sk_test_msp_demo_local"  # scripts/run.sh's published demo key

COMPANY = "Kranich Analytics GmbH"
CONTACT = "Kim Kranich"
CONTACT_EMAIL = "kim@kranich-analytics.example"
CUSTOMER_PASSWORD = "Kranich-Passwort-2026"
# Stripe's "authenticate unless set up" card: 3-D Secure when saved, then charged off-session
THREE_D_SECURE_CARD = "4000002500003155"

# limits for a busy machine: they bound the waits, the test goes on as soon as a condition holds
START_LIMIT_S = 420  # migrations and the demo seed (about 1,000 commits, argon2 hashes)
MAIL_LIMIT_S = 120
RUN_LIMIT_S = 600  # drafting, then finalizing, charging and e-mailing every customer's invoice
UI_TIMEOUT_MS = 30_000
# what run.sh needs from the environment; nothing else leaks in (DATABASE_URL, REDIS_URL, …)
PASSED_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")
# what a developer's tree holds besides the sources (see .gitignore), left out of the copy
NOT_COPIED = {
    ".git",
    ".venv",
    "instance",
    "test-artifacts",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "build",
}
INVOICE_NUMBER = re.compile(r"\b\d{4}-\d{6}\b")


def _copy_ignore(folder: str, names: list[str]) -> set[str]:
    ignored = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
    if Path(folder) == ROOT:
        ignored |= NOT_COPIED & set(names)
    elif Path(folder) == ROOT / "bench":
        ignored |= {"results"} & set(names)
    return ignored


def _until(condition: Callable, limit_s: float, what: Callable[[], str] | str):
    """``condition()``'s first true value, polled until ``limit_s``; fails saying ``what``."""
    deadline = time.monotonic() + limit_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {limit_s} s: {what() if callable(what) else what}")
        time.sleep(0.25)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append(int(entry.name))
    return found


@dataclass(frozen=True)
class Mail:
    key: str
    to: str
    subject: str
    message: EmailMessage

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        return body.get_content() if body is not None else ""

    def attachments(self) -> list[tuple[str, bytes]]:
        return [(a.get_filename() or "", a.get_content()) for a in self.message.iter_attachments()]


@dataclass
class Demo:
    """`make run` started in ``root`` (a copy of the working tree) on free ports."""

    root: Path
    process: subprocess.Popen
    ports: dict[str, int]
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['PORT']}"

    @property
    def instance(self) -> Path:
        return self.root / "instance"

    def output(self) -> str:
        return (self.root / "run.out").read_text(errors="replace")

    def mails(self) -> list[Mail]:
        """Every e-mail the sink kept, read from its Maildir as a mail program would."""
        folder = self.instance / "maildir"
        if not all((folder / sub).is_dir() for sub in ("new", "cur")):
            return []
        box = mailbox.Maildir(folder, create=False)
        found = []
        for key in box.keys():
            try:
                message = BytesParser(policy=policy.default).parsebytes(box.get_bytes(key))
            except KeyError:
                continue
            found.append(Mail(key, str(message["To"]), str(message["Subject"]), message))
        return found

    def mail_to(self, address: str, subject: str) -> Mail:
        def found():
            return next((m for m in self.mails() if address in m.to and subject in m.subject), None)

        return _until(
            found,
            MAIL_LIMIT_S,
            lambda: (
                f"no e-mail to {address} with {subject!r} in {self.instance / 'maildir'}; "
                f"the E-mail log says: {self.email_log(address)}"
            ),
        )

    def query(self, sql: str, *args) -> list[tuple]:
        """The demo's SQLite database, read-only (what the screens show, checked at the source)."""
        connection = sqlite3.connect(f"file:{self.instance / 'msp.db'}?mode=ro", uri=True)
        try:
            connection.execute("PRAGMA busy_timeout=10000")
            return connection.execute(sql, args).fetchall()
        finally:
            connection.close()

    def email_log(self, address: str) -> list[tuple]:
        return self.query("SELECT state, error FROM email_log WHERE recipient = ?", address)

    def flask(self, *args: str) -> str:
        """A `flask` command in the demo's folder, with the environment run.sh gives its own."""
        result = subprocess.run(
            [str(self.root / ".venv" / "bin" / "flask"), *args],
            cwd=self.root,
            env={
                **self.env,
                "FLASK_APP": "app:create_app",
                "REDIS_URL": f"redis://127.0.0.1:{self.ports['REDIS_PORT']}/0",
                "STRIPE_API_BASE": f"http://127.0.0.1:{self.ports['STRIPE_PORT']}",
                "PUBLIC_URL": self.url,
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    @contextmanager
    def worker_held(self) -> Iterator[None]:
        """The RQ worker takes no job inside the block (stopped, then continued)."""
        (worker,) = [
            pid
            for pid in _children(self.process.pid)
            if b"worker" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        ]
        os.kill(worker, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(worker, signal.SIGCONT)

    def stop(self) -> int:
        """TERM to run.sh: it stops every process it started, by its process id."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=120)


def _start(root: Path) -> Demo:
    env = {name: os.environ[name] for name in PASSED_ENVIRONMENT if name in os.environ}
    env["PYTHONPATH"] = str(root)  # the copy's code, whatever the caller's PYTHONPATH says
    for attempt in range(3):  # a free port may be taken by another process in between
        shutil.rmtree(root / "instance", ignore_errors=True)
        ports = {name: free_port() for name in ("PORT", "REDIS_PORT", "MAIL_PORT", "STRIPE_PORT")}
        with (root / "run.out").open("w") as out:
            process = subprocess.Popen(
                ["bash", str(root / "scripts" / "run.sh")],
                cwd=root,
                env={**env, **{name: str(port) for name, port in ports.items()}},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        demo = Demo(root, process, ports, env)
        deadline = time.monotonic() + START_LIMIT_S
        while process.poll() is None and time.monotonic() < deadline:
            if _port_open(ports["PORT"]) and "Stop with Ctrl+C." in demo.output():
                return demo
            time.sleep(0.5)
        demo.stop()
        if attempt == 2 or "is port" not in demo.output():
            raise AssertionError(f"make run did not start:\n{demo.output()[-4000:]}")
    raise AssertionError("unreachable")


@pytest.fixture
def demo(tmp_path, request) -> Iterator[Demo]:
    root = tmp_path / "msp"
    shutil.copytree(ROOT, root, ignore=_copy_ignore)
    (root / ".venv").symlink_to(Path(sys.prefix))
    demo = _start(root)
    try:
        yield demo
    finally:
        demo.stop()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / "run.out", SHOTS / "run.out")
            for log in demo.instance.glob("*.log"):
                shutil.copy(log, SHOTS / log.name)


@pytest.fixture
def contexts(browser, demo, request):
    """Browser contexts on the demo (own cookies each); a failure screenshots every page."""
    opened = []

    def open_(locale: str = "en-US"):
        context = browser.new_context(
            base_url=demo.url,
            locale=locale,
            accept_downloads=True,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(UI_TIMEOUT_MS)
        opened.append(context)
        return context

    yield open_
    report = getattr(request.node, "rep_call", None)
    for number, context in enumerate(opened):
        if report is not None and report.failed:
            SHOTS.mkdir(parents=True, exist_ok=True)
            for index, page in enumerate(context.pages):
                try:
                    page.screenshot(
                        path=str(SHOTS / f"failed-{number}-{index}.png"), full_page=True
                    )
                except Exception:  # noqa: BLE001 - a screenshot must never mask the failure
                    pass
        context.close()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def open_menu(page: Page, category: str, item: str) -> None:
    page.locator(".navbar a.dropdown-toggle", has_text=category).click()
    with page.expect_navigation():
        page.locator(".navbar .dropdown-menu a", has_text=exactly(item)).click()


READ_RUN_PAGE = """() => {
    const state = document.getElementById("run-state");
    return state && document.readyState === "complete" ? [
        state.dataset.state,
        state.dataset.activity,
        document.getElementById("run-refreshes") !== null,
        document.body.innerText.includes("stalled"),
    ] : null;
}"""


def run_page(page: Page) -> tuple[str, str, bool, bool]:
    """The run page read at one moment: (state, activity, refreshes itself, says "stalled")."""
    for _ in range(40):
        try:
            found = page.evaluate(READ_RUN_PAGE)
        except PlaywrightError:  # it was reloading
            found = None
        if found:
            return tuple(found)
        page.wait_for_load_state()
        time.sleep(0.1)
    raise AssertionError(f"no run page at {page.url}")


def run_state(page: Page) -> tuple[str, str]:
    return run_page(page)[:2]


def follow_the_run(page: Page, until: str) -> list[tuple[str, str]]:
    """Stay on the run page, which reloads itself while the run works, until its state is
    ``until``; the states seen on the way. Never "stalled"."""
    seen: list[tuple[str, str]] = []
    deadline = time.monotonic() + RUN_LIMIT_S
    while True:
        state, activity, refreshes, stalled = run_page(page)
        if not seen or seen[-1] != (state, activity):
            seen.append((state, activity))
        assert activity != "stalled" and not stalled, seen
        if state == until:
            return seen
        assert state in ("drafting", "finalizing"), f"expected {until}: {seen}"
        assert refreshes, f"the run page does not refresh itself: {seen}"
        assert time.monotonic() < deadline, f"the run is not {until} after {RUN_LIMIT_S} s: {seen}"
        try:
            page.wait_for_event("load", timeout=UI_TIMEOUT_MS)
        except PlaywrightTimeoutError:
            # the reload may have finished between reading the page and waiting for it
            assert run_state(page) != seen[-1], f"the run page stopped refreshing itself: {seen}"


def pdf_text(data: bytes) -> str:
    document = pdfium.PdfDocument(data)
    try:
        return " ".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def test_the_first_hour_of_make_run(demo: Demo, contexts):
    started = time.monotonic()
    banner = demo.output()
    assert f"MSP Billing is running at {demo.url}/admin/" in banner
    assert f"{ADMIN_EMAIL}" in banner and ADMIN_PASSWORD in banner

    # --- the admin signs in and opens the customer list ------------------------------------
    staff = contexts().new_page()
    sign_in(staff, ADMIN_EMAIL, ADMIN_PASSWORD)
    expect(staff).to_have_url(re.compile(r"/admin/$"))
    open_menu(staff, "Billing", "Customers")
    expect(staff.locator("h1")).to_have_text("Customers")
    expect(customer_row(staff, "Acme Logistics GmbH")).to_be_visible()
    shot(staff, "01-customer-list")

    # --- a new customer; the invite e-mail arrives in the sink --------------------------------
    staff.locator("#new-customer").click()
    form = staff.locator("#new-customer-form")
    form.locator("#company_name").fill(COMPANY)
    form.locator("#street").fill("Speicherstadt 3")
    form.locator("#postal_code").fill("20457")
    form.locator("#city").fill("Hamburg")
    form.locator("#country").select_option(label="Germany")
    form.locator("#language").select_option(label="English")
    form.locator("#contact_name").fill(CONTACT)
    form.locator("#contact_email").fill(CONTACT_EMAIL)
    form.get_by_role("button", name="Create").click()
    expect_flash(
        staff, f"Customer {COMPANY} created; the invite e-mail is on its way to {CONTACT_EMAIL}."
    )
    invite = demo.mail_to(CONTACT_EMAIL, "Your invitation to the MSP Billing customer portal")
    links = re.findall(rf"{re.escape(demo.url)}/portal/invite/[A-Za-z0-9_-]+", invite.text)
    assert len(links) == 1, invite.text

    open_menu(staff, "Settings", "Demo mailbox")
    staff.locator("#mail-sink-messages tr", has_text=CONTACT_EMAIL).get_by_role("link").click()
    expect(staff.locator("#mail-sink-text")).to_contain_text(links[0])
    shot(staff, "02-invite-in-the-demo-mailbox")

    # --- the customer accepts the invite in the portal -----------------------------------------
    customer = contexts().new_page()
    customer.goto(links[0])
    expect(customer.locator("main")).to_contain_text(COMPANY)
    customer.locator("#password").fill(CUSTOMER_PASSWORD)
    customer.locator("#password_again").fill(CUSTOMER_PASSWORD)
    customer.locator("#invite-form button[type=submit]").click()
    expect(customer.locator("#email")).to_have_value(CONTACT_EMAIL)
    portal_sign_in(customer, CONTACT_EMAIL, CUSTOMER_PASSWORD)
    expect(customer).to_have_url(re.compile(r"/portal/$"))

    # --- IP Distribution: a subscription today, then raised with "instantly" -------------------
    open_menu(staff, "Billing", "Customers")
    search(staff, COMPANY)
    row_action(staff, "ip_distribution", COMPANY)
    staff.locator("#total_ips").fill("20")
    staff.locator("#split").fill("15")
    expect(staff.locator("#external_ips")).to_have_value("5")
    staff.get_by_role("button", name="Save").click()
    expect_flash(staff, "A new subscription starts today.")
    subscribed = datetime.now(BERLIN).date()
    search(staff, COMPANY)
    row_action(staff, "ip_distribution", COMPANY)
    staff.locator("#external_ips").fill("15")
    expect(staff.locator("#total_ips")).to_have_value("30")
    staff.get_by_label("Perform action instantly").check()
    expect(staff.locator('#price-preview [data-preview="note"]')).to_have_text(
        "Applies immediately."
    )
    shot(staff, "03-ip-distribution-instantly")
    staff.get_by_role("button", name="Save").click()
    expect_flash(staff, "The new IP distribution applies now.")
    search(staff, COMPANY)
    row = customer_row(staff, COMPANY)
    expect(row.locator("td.col-internal_ips")).to_have_text("15")
    expect(row.locator("td.col-external_ips")).to_have_text("15")
    expect(row.locator("td.col-payment_method")).to_have_text("Credit card")

    # --- the customer saves a card and confirms 3-D Secure ------------------------------------
    customer.goto("/portal/payment")
    expect(customer.locator("#no-card")).to_be_visible()
    card = customer.locator("#card-element")
    card.locator("input[placeholder=number]").fill(THREE_D_SECURE_CARD)
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("30")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("20457")
    customer.locator("#card-form button[type=submit]").click()
    confirm = customer.get_by_role("button", name="Complete authentication")
    expect(customer.get_by_text("3D Secure")).to_be_visible()
    shot(customer, "04-3d-secure")
    with customer.expect_navigation():
        confirm.click()
    expect_flash(customer, "Your card Visa ending in 3155 is saved")
    expect(customer.locator('[data-card="last4"]')).to_have_text("3155")

    # --- month end: Start on the month the form offers, which the demo has billed already -----
    period = subscribed.replace(day=1)
    last_month = add_months(period, -1)
    open_menu(staff, "Billing", "Billing Runs")
    expect(staff.locator("#start-run-form #period")).to_have_value(f"{last_month:%Y-%m}")
    history = demo.query("SELECT id, state, number, emailed_at, paid_at FROM invoice ORDER BY id")
    attempts = demo.query("SELECT id, state FROM payment_attempt ORDER BY id")
    mails_before = {m.key for m in demo.mails()}
    staff.locator("#start-run-form button[type=submit]").click()
    expect(staff.get_by_role("heading", name=f"Billing run {last_month:%B %Y}")).to_be_visible()
    follow_the_run(staff, "done")  # nothing to review: not "Finalize 0 invoices"
    shot(staff, "05-last-month-done-already")

    # --- month end of the current month, ahead of time: start, review, approve ---------------
    rehearsal_at = datetime.combine(add_months(period, 1), day_time(0, 30), tzinfo=BERLIN)
    with demo.worker_held():
        output = demo.flask(
            "billing",
            "run-month-end",
            "--period",
            f"{period:%Y-%m}",
            "--now",
            rehearsal_at.isoformat(),
            "--queue",
        )
        run_id = int(re.search(r"\(run (\d+)\)", output).group(1))
        open_menu(staff, "Billing", "Billing Runs")
        staff.locator("td.col-period a", has_text=f"{period:%B %Y}").click()
        expect(staff.locator("#run-state")).to_have_attribute("data-activity", "queued")
        assert run_state(staff) == ("drafting", "queued")
        expect(staff.locator("#run-queued")).to_be_visible()
        expect(staff.get_by_text("stalled")).to_have_count(0)
        expect(staff.locator("#run-refreshes")).to_be_visible()
        shot(staff, "06-run-queued")
    follow_the_run(staff, "awaiting_approval")
    (drafts,) = demo.query(
        "SELECT count(*) FROM invoice WHERE billing_run_id = ? AND state = 'draft'", run_id
    )[0]
    assert (
        drafts
        == demo.query(
            "SELECT count(*) FROM invoice WHERE period = ? AND kind = 'invoice'", period.isoformat()
        )[0][0]
    )
    assert drafts < len(history)
    expect(staff.locator("#run-actions")).to_contain_text(f"{drafts} drafts to review")
    shot(staff, "07-run-awaiting-approval")

    prompts: list[str] = []

    def accept(dialog) -> None:
        prompts.append(dialog.message)
        dialog.accept()

    staff.once("dialog", accept)
    with demo.worker_held():
        with staff.expect_navigation():
            staff.locator("#approve-form button[type=submit]").click()
        assert prompts and prompts[0].startswith(f"Finalize {drafts} invoices:"), prompts
        expect_flash(
            staff, f"The invoices for {period:%m/%Y} are being finalized, charged and sent."
        )
        expect(staff.locator("#run-state")).to_have_attribute("data-activity", "queued")
        assert run_state(staff) == ("finalizing", "queued")
        expect(staff.locator("#run-queued")).to_be_visible()
        expect(staff.get_by_text("stalled")).to_have_count(0)
        shot(staff, "08-run-approved-queued")
    follow_the_run(staff, "done")
    counts = staff.locator("#run-counts")
    expect(counts.locator("tr", has_text="Finalized").locator("td")).to_have_text(str(drafts))
    shot(staff, "09-run-done")

    # --- the new customer's invoice: paid at the local Stripe ---------------------------------
    ((invoice_id, number, gross, state),) = demo.query(
        "SELECT invoice.id, number, gross, invoice.state FROM invoice "
        "JOIN customer ON customer.id = invoice.customer_id "
        "WHERE customer.company_name = ? AND period = ?",
        COMPANY,
        period.isoformat(),
    )
    assert state == "paid"
    ((intent_id,),) = demo.query(
        "SELECT payment_intent_id FROM payment_attempt WHERE invoice_id = ? AND state = ?",
        invoice_id,
        "succeeded",
    )
    local_stripe = stripe.StripeClient(
        STRIPE_SECRET_KEY,
        base_addresses={"api": f"http://127.0.0.1:{demo.ports['STRIPE_PORT']}"},
    )
    intent = local_stripe.v1.payment_intents.retrieve(intent_id)
    assert (intent.status, intent.amount) == ("succeeded", int(Decimal(str(gross)) * 100))

    # --- its PDF opens in the portal, and its e-mail arrives ----------------------------------
    customer.goto("/portal/invoices")
    invoice_row = customer.locator(f'#portal-invoices tr[data-invoice="{invoice_id}"]')
    expect(invoice_row).to_contain_text(number)
    expect(invoice_row).to_contain_text("Paid")
    shot(customer, "10-portal-invoices")
    with customer.expect_download() as download:
        invoice_row.get_by_role("link", name="PDF").click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-") and number in pdf_text(pdf)

    mail = demo.mail_to(CONTACT_EMAIL, f"Your invoice {number}")
    ((name, attached),) = [a for a in mail.attachments() if a[0].endswith(".pdf")]
    assert number in name and number in pdf_text(attached)

    # --- only the run's own invoices were numbered, charged and e-mailed ----------------------
    run_invoices = dict(
        demo.query(
            "SELECT number, state FROM invoice WHERE billing_run_id = ? AND kind = 'invoice'",
            run_id,
        )
    )
    assert len(run_invoices) == drafts and None not in run_invoices

    def run_mails() -> list[Mail]:
        return [m for m in demo.mails() if m.key not in mails_before]

    def every_run_invoice_mailed() -> bool:
        subjects = " ".join(m.subject for m in run_mails())
        return set(INVOICE_NUMBER.findall(subjects)) >= set(run_invoices)

    _until(every_run_invoice_mailed, MAIL_LIMIT_S, "the run's invoice e-mails")
    for mail in run_mails():
        named = INVOICE_NUMBER.findall(mail.subject)
        assert named and set(named) <= set(run_invoices), (mail.to, mail.subject)
        if "failed" in mail.subject or "fehlgeschlagen" in mail.subject:
            assert run_invoices[named[0]] == "payment_failed", (mail.to, mail.subject)
    assert (
        demo.query(
            "SELECT id, state, number, emailed_at, paid_at FROM invoice WHERE id <= ? ORDER BY id",
            history[-1][0],
        )
        == history
    )
    assert (
        demo.query(
            "SELECT id, state FROM payment_attempt WHERE id <= ? ORDER BY id", attempts[-1][0]
        )
        == attempts
    )

    # --- Ctrl+C: run.sh stops every process it started -----------------------------------------
    assert demo.stop() == 128 + signal.SIGTERM
    _until(
        lambda: not any(_port_open(port) for port in demo.ports.values()),
        30,
        lambda: f"ports still open: {[p for p in demo.ports.values() if _port_open(p)]}",
    )
    print(f"the first hour took {time.monotonic() - started:.0f} s after make run started")
