"""The browser fixtures for the concurrent-edit tests: Chromium and the lifecycle live server
(a database of its own per test, CSRF on)."""

from tests.e2e.conftest import browser  # noqa: F401 - fixture
from tests.e2e.lifecycle_fixtures import lifecycle_server, open_context  # noqa: F401 - fixtures
