"""The browser fixtures for the concurrent-edit tests: the lifecycle live server (a database of
its own per test, CSRF on); Chromium is the suite's session ``browser`` (tests/conftest.py)."""

from tests.e2e.lifecycle_fixtures import lifecycle_server, open_context  # noqa: F401 - fixtures
