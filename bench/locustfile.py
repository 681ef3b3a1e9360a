"""The load scenario run by ``bench/load.py``: staff browse the customer list, portal users look
at their subscription and invoices. Every request is named by its page type, so the statistics
come per page type. Settings come from the environment (``bench/load.py`` sets them):

``LOAD_STAFF``          ``email:password`` of a staff account
``LOAD_PORTAL_USERS``   ``email,email,...`` of portal users sharing ``LOAD_PORTAL_PASSWORD``
``LOAD_MAX_CUSTOMER``   the highest customer id (details pages pick ids up to it)
``LOAD_SEARCH_WORDS``   words to search for (comma-separated)
``LOAD_RECORD``         where to write every request's page type, phase, time and outcome (JSON)

Users are locust's ``FastHttpUser`` (geventhttpclient): the load generator shares the machine
with the server, and this client needs a fraction of the CPU of the ``requests``-based one.

The phase is ``ramp-up`` while users are still being started (each one signs in first) and
``steady`` once all of them are running. A request counts in the phase it started in, and a
user's sign-in always in the ramp-up, so slow answers (on a busy machine) move nothing of the
ramp-up into the steady phase.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import re
import time

from locust import FastHttpUser, between, events, task

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
STAFF_EMAIL, STAFF_PASSWORD = os.environ.get("LOAD_STAFF", ":").split(":", 1)
PORTAL_USERS = itertools.cycle(
    [u for u in os.environ.get("LOAD_PORTAL_USERS", "").split(",") if u] or [""]
)
PORTAL_PASSWORD = os.environ.get("LOAD_PORTAL_PASSWORD", "")
MAX_CUSTOMER = int(os.environ.get("LOAD_MAX_CUSTOMER", "1"))
WORDS = [w for w in os.environ.get("LOAD_SEARCH_WORDS", "gmbh").split(",") if w]
RECORD = os.environ.get("LOAD_RECORD", "")
SIGN_IN = ("sign-in page", "sign-in")
_steady = {"from": math.inf}  # when the last user was started (seconds since the epoch)
_requests: list[tuple[str, str, float, bool]] = []


@events.spawning_complete.add_listener
def _all_users_running(user_count: int, **_kwargs) -> None:
    _steady["from"] = time.time()


@events.request.add_listener
def _record(
    name: str, response_time: float, exception: Exception | None, start_time: float, **_kwargs
) -> None:
    ramp_up = name in SIGN_IN or start_time < _steady["from"]
    phase = "ramp-up" if ramp_up else "steady"
    _requests.append((phase, name, response_time, exception is None))


@events.quitting.add_listener
def _write(**_kwargs) -> None:
    if RECORD:
        with open(RECORD, "w") as handle:
            json.dump(_requests, handle)


FILTERS = (
    "flt0_status_equals=active&flt1_service_mode_equals=managed",
    "flt0_status_equals=locked",
    "flt0_payment_method_equals=card&flt1_status_equals=active",
    "flt0_service_mode_equals=self_service",
)


def _sign_in(user: FastHttpUser, login: str, email: str, password: str) -> None:
    page = user.client.get(login, name="sign-in page")
    token = CSRF.search(page.text)
    with user.client.post(
        login,
        data={"email": email, "password": password, "csrf_token": token.group(1) if token else ""},
        name="sign-in",
        allow_redirects=False,
        catch_response=True,
    ) as response:
        if response.status_code != 302:
            response.failure(f"sign-in of {email} answered {response.status_code}")


class Staff(FastHttpUser):
    """A billing clerk: the list, filters, a search, a customer's details, an export."""

    weight = 3
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        _sign_in(self, "/admin/login/", STAFF_EMAIL, STAFF_PASSWORD)

    @task(4)
    def customer_list(self) -> None:
        page = random.randint(0, 20)
        self.client.get(f"/admin/customer/?page={page}", name="staff: list")

    @task(3)
    def filtered(self) -> None:
        self.client.get(f"/admin/customer/?{random.choice(FILTERS)}", name="staff: filter")

    @task(3)
    def search(self) -> None:
        self.client.get(f"/admin/customer/?search={random.choice(WORDS)}", name="staff: search")

    @task(3)
    def details(self) -> None:
        customer = random.randint(1, MAX_CUSTOMER)
        self.client.get(f"/admin/customer/details/?id={customer}", name="staff: details")

    @task(1)
    def export(self) -> None:
        word = random.choice(WORDS)
        self.client.get(
            f"/admin/customer/export/json/?search={word}&flt0_status_equals=locked",
            name="staff: export",
        )


class Customer(FastHttpUser):
    """A customer's user: the subscription page and the invoices."""

    weight = 2
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        _sign_in(self, "/portal/login", next(PORTAL_USERS), PORTAL_PASSWORD)

    @task(2)
    def subscription(self) -> None:
        self.client.get("/portal/subscription", name="portal: subscription")

    @task(1)
    def invoices(self) -> None:
        self.client.get("/portal/invoices", name="portal: invoices")
