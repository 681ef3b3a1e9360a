"""The lifecycle live server for the concurrent-edit tests (a database of its own per test, CSRF
on); Chromium is the session's ``browser`` from tests/conftest.py."""

from tests.e2e.lifecycle_fixtures import lifecycle_server, open_context  # noqa: F401 - fixtures
