"""The injectable clock (SPEC §0: "time comes from one injectable clock"): billing code reads
time only from a clock; the app factory gives the running clock the system time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app import system_clock
from billing.kernel import clock as clock_module
from billing.kernel.clock import Clock, lease_now


def test_a_clock_without_a_time_source_refuses_instead_of_guessing():
    with pytest.raises(RuntimeError, match="time source"):
        Clock().now()


def test_a_clock_reads_its_source_as_utc_and_dates_in_its_time_zone():
    late_evening = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    clock = Clock("Europe/Berlin", lambda: late_evening)
    assert clock.now() == late_evening and clock.now().tzinfo is UTC
    assert str(clock.today()) == "2027-01-01"


@pytest.mark.fresh_database
def test_the_app_runs_billing_and_worker_leases_on_the_system_time(app):
    from app import create_app

    create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    assert abs(lease_now() - datetime.now(UTC)) < timedelta(seconds=5)
    assert clock_module.WORKER_CLOCK.source is not None
    assert abs(system_clock().now() - datetime.now(UTC)) < timedelta(seconds=5)
