"""The demo seed in a throwaway SQLite database: seeded once per run (``demo_database`` in
tests/conftest.py), and an app on a copy of it for each fixture that serves or changes it."""

from __future__ import annotations

import shutil

from sqlalchemy import event

from tests.conftest import _config


def _no_fsync(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


def app_on_copy(database: str, path, clock, **extra):
    """Copy the SQLite file ``database`` to ``path`` and return the app bound to the copy, with
    the settings ``extra``. A throwaway database: no fsync per commit."""
    from app import create_app
    from models import db

    shutil.copy(database, path)
    app = create_app(_config(f"sqlite:///{path}", clock, **extra))
    with app.app_context():
        event.listen(db.engine, "connect", _no_fsync)
        db.engine.dispose()
    return app


def seed_demo_into(template: str, path, clock) -> None:
    """Copy the migrated ``template`` to ``path`` and seed the demo into it (argon2 hashes and
    ~1,000 commits: a few seconds of CPU)."""
    from models import db
    from seed.demo import seed_demo

    app = app_on_copy(template, path, clock)
    with app.app_context():
        seed_demo(clock)
        db.session.remove()
        db.engine.dispose()


def seeded_demo_app(template: str, path, clock, *, stripe=None, **extra):
    """An app on a demo of its own, seeded into a copy of the migrated ``template`` with card
    payment as `make run` seeds it (``stripe``: ``seed.demo_cards.DemoStripe``) at the Stripe
    server ``extra`` names (``STRIPE_API_BASE``): for tests whose demo differs from the shared
    one."""
    from models import db
    from seed.demo import seed_demo

    app = app_on_copy(template, path, clock, **extra)
    with app.app_context():
        seed_demo(clock, stripe)
        db.session.remove()
    return app
