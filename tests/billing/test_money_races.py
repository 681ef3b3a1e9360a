"""Money actions under concurrency on PostgreSQL (issue 13 item 2, SPEC §13 reliability, §14).

Each test fires the same action N times at once (threads released together by a barrier, each
with its own app context and database session, like N web processes or a double click) and
checks that exactly one of them had an effect and that the others got a clear message, never
a 500.
"""

from __future__ import annotations

import threading
from datetime import date

import pytest

from billing.audit import SYSTEM
from billing.distribution import change_ip_distribution
from billing.errors import DomainError
from billing.project_keys import create_key, redeem
from models import (
    AuditEvent,
    Customer,
    ProjectKey,
    ScheduledChange,
    Subscription,
    db,
)
from tests import factories
from tests.conftest import csrf_token, make_staff, sign_in

N = 4
OCTOBER = date(2026, 10, 1)


def together(app, work, n: int = N) -> list:
    """Run ``work(i)`` in ``n`` threads started at the same moment, each in its own app
    context (its own session); returns what each returned, or the DomainError it raised."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                results[i] = work(i)
            except DomainError as error:
                results[i] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def staff_clients(app, n: int = N) -> list:
    """``n`` browsers signed in as billing staff, each with its CSRF token."""
    staff = make_staff(app, "billing")
    clients = []
    for _ in range(n):
        client = app.test_client()
        assert sign_in(client, staff.email).status_code == 302
        client.token = csrf_token(client, "/admin/")
        clients.append(client)
    return clients


def post_together(app, clients: list, url: str, data: dict | None = None) -> list[str]:
    """Every client POSTs ``url`` at the same moment and follows the redirect; returns the
    pages (each must answer 200)."""

    def post(i: int):
        client = clients[i]
        response = client.post(
            url, data={"csrf_token": client.token, **(data or {})}, follow_redirects=True
        )
        return response.status_code, response.get_data(as_text=True)

    answers = together(app, post, len(clients))
    assert [status for status, _page in answers] == [200] * len(clients), "never a 500"
    return [page for _status, page in answers]


def count(model, *conditions) -> int:
    db.session.expire_all()
    return db.session.scalar(db.select(db.func.count()).select_from(model).where(*conditions))


def events(action: str) -> int:
    return count(AuditEvent, AuditEvent.action == action)


def messages(results: list) -> list[str]:
    return sorted(r.message for r in results if isinstance(r, DomainError))


@pytest.mark.postgres
def test_concurrent_ip_distribution_saves_answer_the_losers_with_a_conflict(pg_app):
    """Issue 13 note (SPEC §13 optimistic locking): four saves of the IP Distribution form
    opened at the same version: one applies, the others get "changed by someone else",
    never a 500; no second subscription, no stray change."""
    factories.reference(pg_app)
    customer = factories.customer(pg_app, internal=8, external=4)
    version = db.session.get(Customer, customer.id).version
    pages = post_together(
        pg_app,
        staff_clients(pg_app),
        f"/admin/customer/{customer.id}/ip-distribution/",
        {
            "version": str(version),
            "total_ips": "20",
            "internal_ips": "16",
            "external_ips": "4",
            "instantly": "y",
        },
    )
    assert sum("The new IP distribution applies now." in page for page in pages) == 1
    assert sum("was changed by someone else in the meantime" in page for page in pages) == N - 1
    active = db.session.scalars(
        db.select(Subscription).where(
            Subscription.customer_id == customer.id, Subscription.state == "active"
        )
    ).all()
    assert [(s.internal_ips, s.external_ips) for s in active] == [(16, 4)]
    assert count(ScheduledChange, ScheduledChange.customer_id == customer.id) == 0
    assert events("subscription.change") == 1


@pytest.mark.postgres
def test_concurrent_reactivations_start_one_subscription(pg_app):
    """IP Distribution on a cancelled customer starts a subscription (SPEC §4 reactivation):
    sent four times at once, one subscription starts."""
    factories.reference(pg_app)
    customer = factories.customer(pg_app, state="inactive")
    version = db.session.get(Customer, customer.id).version
    clock = pg_app.config["CLOCK"]
    results = together(
        pg_app,
        lambda i: change_ip_distribution(
            customer.id, 5, 5, False, SYSTEM, clock, expected_version=version
        ),
    )
    assert len(messages(results)) == N - 1
    assert all("changed by someone else" in m for m in messages(results))
    assert (
        count(Subscription, Subscription.customer_id == customer.id, Subscription.state == "active")
        == 1
    )


@pytest.mark.postgres
@pytest.mark.parametrize("keys", ["same key", "different keys"])
def test_a_project_key_wizard_finished_several_times_redeems_once(pg_app, keys):
    """Project-key redemption (SPEC §4 3.2.6) sent four times at once with one key, or with
    four keys for one customer: one key is redeemed, one key subscription starts; the others
    are refused with a clear message."""
    clock = pg_app.config["CLOCK"]
    factories.reference(pg_app)
    customer = factories.customer(pg_app, internal=8, external=4)
    names = [f"PK-RACE-{i}" for i in range(N)] if keys == "different keys" else ["PK-RACE-0"]
    for name in names:
        create_key(name, 100, 12, "1800.00", SYSTEM, clock)
    version = db.session.get(Customer, customer.id).version
    results = together(
        pg_app,
        lambda i: redeem(
            customer.id, names[i % len(names)], "2880", 80, 20, True, SYSTEM, clock, version
        ),
    )
    assert len(messages(results)) == N - 1
    assert all(
        "changed by someone else" in m or "already been used" in m for m in messages(results)
    )
    assert count(ProjectKey, ProjectKey.state == "redeemed") == 1
    active = db.session.scalars(
        db.select(Subscription).where(
            Subscription.customer_id == customer.id, Subscription.state == "active"
        )
    ).all()
    assert [(s.payment_method, s.total_ips) for s in active] == [("project_key", 100)]
    assert events("project_key.redeem") == 1


@pytest.mark.postgres
def test_one_key_for_several_customers_goes_to_one(pg_app):
    clock = pg_app.config["CLOCK"]
    factories.reference(pg_app)
    customers = [factories.customer(pg_app).id for _ in range(N)]
    create_key("PK-SHARED", 50, 12, "900.00", SYSTEM, clock)
    results = together(
        pg_app,
        lambda i: redeem(customers[i], "PK-SHARED", "1200", 50, 0, True, SYSTEM, clock),
    )
    assert messages(results) == ["This project key has already been used."] * (N - 1)
    assert count(ProjectKey, ProjectKey.state == "redeemed") == 1
    assert count(Subscription, Subscription.payment_method == "project_key") == 1
