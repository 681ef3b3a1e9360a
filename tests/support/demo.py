"""The demo seed in a throwaway SQLite database, for fixtures that build it once per session."""

from __future__ import annotations

import shutil
from collections.abc import Callable

from sqlalchemy import event

from tests.conftest import _config


def _no_fsync(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


def seeded_demo_app(
    template: str, path, clock, then: Callable | None = None, *, stripe=None, **config
):
    """Copy the migrated ``template`` to ``path``, seed the demo into it (then call ``then`` with
    the clock, inside the app context) and return the app bound to it. ``stripe``
    (``seed.demo_cards.DemoStripe``) seeds card payment as `make run` does, at the Stripe server
    ``config`` names (``STRIPE_API_BASE``)."""
    from app import create_app
    from models import db
    from seed.demo import seed_demo

    shutil.copy(template, path)
    app = create_app(_config(f"sqlite:///{path}", clock, **config))
    with app.app_context():
        # A throwaway database: no fsync per commit (seeding commits ~1,000 times).
        event.listen(db.engine, "connect", _no_fsync)
        db.engine.dispose()
        seed_demo(clock, stripe)
        if then is not None:
            then(clock)
        db.session.remove()
    return app
