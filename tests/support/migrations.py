"""An empty database to run one migration's test in: a SQLite file, or a PostgreSQL database
of its own on the suite's server, dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg


def empty_database(request, tmp_path, name: str) -> Iterator[str]:
    """For a fixture parametrized with "sqlite" and "postgresql": yields the database URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    postgres = request.getfixturevalue("postgres")
    admin_url = postgres.url().replace("+psycopg", "")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield postgres.url(name)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
