"""The security sweep's demo (tests/security/conftest.py): the seed plus a team member, a pending
invite, an additional subscription, a run awaiting approval, a Stripe event and an e-mail log
entry, with the ids of real records for every route argument."""

from tests.security.conftest import (  # noqa: F401 - shared fixtures
    demo_app,
    demo_shared,
    demo_template,
)
