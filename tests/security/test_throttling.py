"""Sign-in throttling (SPEC §13 "login rate limits"; issue 8 item 3), staff and portal alike:
failed attempts are counted per account and per client IP in the real Redis server, shared by
every web process; unknown user and wrong password get the same answer in about the same time;
the real user signs in again once the window has passed."""

from __future__ import annotations

import re
import shutil
import statistics
import time

import pytest
from argon2 import PasswordHasher
from redis import Redis

from models import StaffUser, User, db
from seed.demo import CUSTOMER_PASSWORD
from tests.conftest import _build, csrf_token
from tests.security.conftest import STAFF_LOGINS, demo_ids
from tests.support.services import wait_until

# a busy machine may need a few runs to make the attempts within one window (_within_one_window)
WINDOW_SECONDS = 5
PER_ACCOUNT, PER_IP = 3, 5
SIGN_IN = {"admin": "/admin/login/", "portal": "/portal/login"}


@pytest.fixture
def limited_app(demo_template, tmp_path, clock, redis_server):
    """The demo app counting in the suite's Redis, with a short window (set in the config)."""
    path = tmp_path / "demo.db"
    shutil.copy(demo_template, path)
    app, ctx, _db = _build(
        f"sqlite:///{path}",
        clock,
        REDIS_URL=redis_server.url,
        RATELIMIT_STORAGE_URI=redis_server.url,
        SIGN_IN_LIMIT_PER_ACCOUNT=f"{PER_ACCOUNT} per {WINDOW_SECONDS} seconds",
        SIGN_IN_LIMIT_PER_IP=f"{PER_IP} per {WINDOW_SECONDS} seconds",
    )
    app.demo = demo_ids()
    app.redis_url = redis_server.url
    yield app
    db.session.remove()
    db.engine.dispose()
    ctx.pop()


def _account(app, where: str) -> tuple[str, str]:
    if where == "admin":
        return STAFF_LOGINS["billing"]
    return app.demo.customer_email, CUSTOMER_PASSWORD


def _other_account(app, where: str) -> tuple[str, str]:
    if where == "admin":
        return STAFF_LOGINS["support"]
    return app.demo.member_email, "Member-Pass-12"


def _attempt(app, where: str, email: str, password: str, ip: str = "10.0.0.1"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    token = csrf_token(client, SIGN_IN[where])
    return client.post(
        SIGN_IN[where], data={"csrf_token": token, "email": email, "password": password}
    )


def _wait_for_the_window(app) -> None:
    """Until every counter of the limiter has expired in Redis."""
    redis = Redis.from_url(app.redis_url)
    wait_until(lambda: not redis.keys("*msp-limits*"), "the window has passed", interval=0.1)


def _within_one_window(app, attempts):
    """What ``attempts`` returns, from a run that fell into one window: on a busy machine a run
    can outlast the window and then proves nothing, so it runs again once the counters expired."""

    def run():
        _wait_for_the_window(app)
        started = time.monotonic()
        outcome = attempts()
        return outcome if time.monotonic() - started < WINDOW_SECONDS else None

    return wait_until(run, "the attempts fall into one window", interval=0)


@pytest.mark.parametrize("where", SIGN_IN)
def test_failed_sign_ins_are_limited_per_account(limited_app, where):
    """Failed attempts from many addresses against one account (any spelling of the address)
    block that account, not others; the counters live in Redis; after the window the real user
    signs in."""
    email, password = _account(limited_app, where)
    spellings = [email, email.upper(), f" {email.title()} "]

    def attempts():
        failed = [
            _attempt(limited_app, where, spellings[n], "wrong-password", f"10.0.1.{n}")
            for n in range(PER_ACCOUNT)
        ]
        blocked = _attempt(limited_app, where, email, password, "10.0.2.1")
        counted = Redis.from_url(limited_app.redis_url).keys("*msp-limits*")
        other = _attempt(limited_app, where, *_other_account(limited_app, where))
        return failed, blocked, counted, other

    failed, blocked, counted, other = _within_one_window(limited_app, attempts)
    assert [response.status_code for response in failed] == [200] * PER_ACCOUNT
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == str(WINDOW_SECONDS)
    assert other.status_code == 302
    assert counted, "counted in Redis"
    _wait_for_the_window(limited_app)
    assert _attempt(limited_app, where, email, password, "10.0.2.1").status_code == 302


@pytest.mark.parametrize("where", SIGN_IN)
def test_failed_sign_ins_are_limited_per_ip(limited_app, where):
    """Guessing many accounts from one address blocks that address, not other addresses."""
    email, password = _account(limited_app, where)

    def attempts():
        probes = [
            _attempt(limited_app, where, f"probe{n}@nowhere.example", "whatever-123")
            for n in range(PER_IP)
        ]
        blocked = _attempt(limited_app, where, email, password)
        elsewhere = _attempt(limited_app, where, email, password, "10.9.9.9")
        return probes, blocked, elsewhere

    probes, blocked, elsewhere = _within_one_window(limited_app, attempts)
    assert [response.status_code for response in probes] == [200] * PER_IP
    assert blocked.status_code == 429
    assert elsewhere.status_code == 302
    _wait_for_the_window(limited_app)
    assert _attempt(limited_app, where, email, password).status_code == 302


@pytest.mark.parametrize("where", SIGN_IN)
def test_successful_sign_ins_do_not_count(limited_app, where):
    email, password = _account(limited_app, where)
    for _ in range(PER_IP + 2):
        assert _attempt(limited_app, where, email, password).status_code == 302


def _normalised(response, typed: str) -> str:
    """The page with the typed address, the CSRF token and the CSP nonces (new on every
    response) replaced."""
    page = response.get_data(as_text=True).replace(typed, "TYPED")
    page = re.sub(r'nonce="[^"]+"', 'nonce="NONCE"', page)
    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]+"', r"\1TOKEN", page)


@pytest.mark.parametrize("where", SIGN_IN)
def test_unknown_user_and_wrong_password_get_the_same_answer(limited_app, where):
    """No account probing: the same status and the same page (but for the address typed in)."""
    email, _password = _account(limited_app, where)
    unknown_email = "nobody-" + email
    wrong = _attempt(limited_app, where, email, "wrong-password", "10.0.3.1")
    unknown = _attempt(limited_app, where, unknown_email, "wrong-password", "10.0.3.2")
    assert wrong.status_code == unknown.status_code == 200
    assert _normalised(wrong, email) == _normalised(unknown, unknown_email)
    assert "Invalid e-mail or password." in wrong.get_data(as_text=True)


def _seconds(app, where, email, password, n) -> float:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"10.0.4.{n}"
    token = csrf_token(client, SIGN_IN[where])
    # the CPU time of this process (the request runs in it), which other work on a busy machine
    # leaves alone: the answer's time is its work, the argon2id hash above all
    started = time.process_time()
    response = client.post(
        SIGN_IN[where], data={"csrf_token": token, "email": email, "password": password}
    )
    assert response.status_code == 200
    return time.process_time() - started


@pytest.mark.parametrize("where", SIGN_IN)
def test_unknown_user_and_wrong_password_take_about_as_long(limited_app, where, monkeypatch):
    """With production-strength argon2id, an unknown address still costs one password hash
    (a dummy), so the answer time does not tell whether the account exists."""
    import billing.access.passwords as passwords

    strong = PasswordHasher()
    monkeypatch.setattr(passwords, "_hasher", strong)
    monkeypatch.setattr(passwords, "_DUMMY", strong.hash("not-a-real-password"))
    limited_app.config["SIGN_IN_LIMIT_PER_ACCOUNT"] = "1000 per minute"
    limited_app.config["SIGN_IN_LIMIT_PER_IP"] = "1000 per minute"
    email, password = _account(limited_app, where)
    model = StaffUser if where == "admin" else User
    account = db.session.scalar(db.select(model).where(model.email == email))
    account.password_hash = strong.hash(password)
    db.session.commit()
    wrong, unknown = [], []
    for n in range(5):  # in turns
        wrong.append(_seconds(limited_app, where, email, "wrong-password", n))
        unknown.append(_seconds(limited_app, where, "nobody-" + email, "wrong-password", n))
    wrong, unknown = statistics.median(wrong), statistics.median(unknown)
    assert max(wrong, unknown) / min(wrong, unknown) < 3, (wrong, unknown)


@pytest.mark.parametrize("where", SIGN_IN)
def test_a_huge_typed_address_is_refused_and_keeps_the_counter_keys_small(limited_app, where):
    """Issue 13 item 8: the address typed in is capped (320 characters, the longest an e-mail
    address can be) and the per-account counter's key is a fixed-size digest of it, not the
    text itself (a 400 kB address made a 400 kB Redis key)."""
    huge = "a" * 400_000 + "@example.com"
    response = _attempt(limited_app, where, huge, "wrong-password", "10.0.5.1")
    assert response.status_code == 200
    assert "Field cannot be longer than 320 characters." in response.get_data(as_text=True)
    email, _password = _account(limited_app, where)
    _attempt(limited_app, where, email, "wrong-password", "10.0.5.2")
    forgot = limited_app.test_client()
    token = csrf_token(forgot, "/portal/forgot")
    assert (
        forgot.post("/portal/forgot", data={"csrf_token": token, "email": huge}).status_code < 500
    )
    keys = Redis.from_url(limited_app.redis_url).keys("*")
    assert keys and max(len(key) for key in keys) < 200, sorted(len(key) for key in keys)
    assert not [key for key in keys if email.encode() in key.lower()], "no address in clear"


def test_the_portal_sign_in_reads_the_address_from_the_form_only(limited_app):
    """An address in the query string is a pre-filled field for the sign-in page, never the
    account a submission signs in to: it would bypass that account's counter."""
    email, password = _account(limited_app, "portal")
    client = limited_app.test_client()
    token = csrf_token(client, f"/portal/login?email={email}")
    response = client.post(
        f"/portal/login?email={email}", data={"csrf_token": token, "password": password}
    )
    assert response.status_code == 200 and client.get("/portal/").status_code == 302
    page = limited_app.test_client().get(f"/portal/login?email={email}").get_data(as_text=True)
    assert f'value="{email}"' in page, "the link from the invite still fills the field"


@pytest.mark.parametrize("where", SIGN_IN)
def test_every_way_of_submitting_an_account_shares_its_counter(limited_app, where):
    """Form bodies in both encodings, any spelling of the address: one counter per account;
    a JSON body or an address in the query string is no attempt on the account at all."""
    email, password = _account(limited_app, where)
    url = SIGN_IN[where]
    attempts = [
        ({"email": email.upper()}, None),
        ({"email": f"  {email}\t"}, "multipart/form-data"),
        ({"email": email.title()}, None),
    ]
    for n, (fields, content_type) in enumerate(attempts):
        client = limited_app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.6.{n}"
        token = csrf_token(client, url)
        data = {"csrf_token": token, "password": "wrong-password", **fields}
        assert client.post(url, data=data, content_type=content_type).status_code == 200
    client = limited_app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.0.6.9"
    token = csrf_token(client, url)
    blocked = client.post(url, data={"csrf_token": token, "email": email, "password": password})
    assert blocked.status_code == 429
