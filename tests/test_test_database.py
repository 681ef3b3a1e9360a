"""The suite's per-test rollback (tests/conftest.py): what one test commits, through the
product's functions or a request, is visible within the test and gone for the next one."""

from __future__ import annotations

import pytest
from sqlalchemy import func

from models import Customer, db
from tests import factories
from tests.conftest import make_staff, rolled_back, sign_in


def _customers() -> int:
    return db.session.scalar(db.select(func.count()).select_from(Customer))


@pytest.mark.parametrize(
    "shared", ["sqlite_shared", pytest.param("pg_shared", marks=pytest.mark.postgres)]
)
def test_what_a_test_commits_is_gone_for_the_next_test(request, clock, shared):
    shared = request.getfixturevalue(shared)
    with rolled_back(shared, clock) as app:
        factories.reference(app)
        factories.customer(app, company="Committed GmbH")
        make_staff(app, "admin")
        client = app.test_client()
        assert sign_in(client, "admin@staff.example").status_code == 302
        assert "Committed GmbH" in client.get("/admin/customer/").get_data(as_text=True)
        assert _customers() == 1
    with rolled_back(shared, clock):
        assert _customers() == 0
