"""Backups of the whole database: PostgreSQL as a ``pg_dump`` custom-format archive, SQLite through
its online backup API (a consistent copy while the app keeps running).

``create_backup`` writes a file; ``restore_backup`` replaces the configured database with one
(PostgreSQL: ``pg_restore --clean`` in one transaction). Both raise DomainError with a clear
message on a bad file or a failing tool, and a failed restore changes nothing.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from flask import current_app
from sqlalchemy.engine import make_url

from billing.kernel import audit
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from models import db

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"


@dataclass(frozen=True)
class Backup:
    path: Path
    backend: str
    size: int


def _url():
    # a backup is of the database the running app is configured with, and goes next to it
    return make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])


def backend() -> str:
    """``postgresql`` or ``sqlite``: the kind of the configured database."""
    return _url().get_backend_name()


def target_label() -> str:
    """The configured database, without its password (for prompts and messages)."""
    return _url().render_as_string(hide_password=True)


def default_path(clock: Clock) -> Path:
    """``instance/backups/msp-<UTC timestamp>.<dump|sqlite>``."""
    suffix = "dump" if backend() == "postgresql" else "sqlite"
    stamp = clock.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(current_app.instance_path) / "backups" / f"msp-{stamp}.{suffix}"


def _pg_tool(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    path = found[-1] if found else shutil.which(name)
    if path is None:
        raise DomainError(_("%(tool)s is not installed (it comes with PostgreSQL).", tool=name))
    return path


def _pg_args() -> tuple[list[str], dict[str, str]]:
    """Connection arguments and environment for the PostgreSQL client tools."""
    url = _url()
    args = ["--dbname", url.database or ""]
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    return args, env


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        raise DomainError(
            _(
                "%(tool)s failed: %(error)s",
                tool=Path(command[0]).name,
                error=lines[-1] if lines else result.returncode,
            )
        )


def _sqlite_path() -> Path:
    database = _url().database
    if not database or database == ":memory:":
        raise DomainError(_("An in-memory SQLite database cannot be backed up or restored."))
    return Path(database)


def create_backup(output: Path | None, clock: Clock) -> Backup:
    """Write a backup of the configured database to ``output`` (or ``default_path``).

    Raises DomainError when the file exists already, its folder cannot be created, or the dump
    fails (no file is left behind then).
    """
    path = Path(output) if output else default_path(clock)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # created empty and private first, so the dump is never readable by others
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise DomainError(
            _("%(path)s exists already; choose another file.", path=str(path))
        ) from None
    except OSError as error:
        raise DomainError(
            _("Cannot write to %(path)s: %(error)s", path=str(path), error=error)
        ) from None
    kind = backend()
    db.session.remove()
    try:
        if kind == "postgresql":
            args, env = _pg_args()
            _run([_pg_tool("pg_dump"), "--format=custom", "--file", str(path), *args], env)
        else:
            source = sqlite3.connect(_sqlite_path())
            target = sqlite3.connect(path)
            try:
                with target:
                    source.backup(target)
            finally:
                target.close()
                source.close()
    except (DomainError, sqlite3.Error) as error:
        path.unlink(missing_ok=True)
        if isinstance(error, DomainError):
            raise
        raise DomainError(_("The backup failed: %(error)s", error=error)) from None
    audit.record(audit.SYSTEM, "backup.create", clock, after={"file": path.name, "kind": kind})
    db.session.commit()
    return Backup(path, kind, path.stat().st_size)


def check_backup(path: Path) -> str:
    """The backend a backup file belongs to; DomainError for a missing or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise DomainError(_("%(path)s does not exist.", path=str(path)))
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head.startswith(PG_MAGIC):
        kind = "postgresql"
    elif head == SQLITE_MAGIC:
        kind = "sqlite"
    else:
        raise DomainError(_("%(path)s is not a backup made by this product.", path=str(path)))
    if kind != backend():
        raise DomainError(
            _(
                "%(path)s is a %(kind)s backup, but the configured database is %(configured)s.",
                path=str(path),
                kind=kind,
                configured=backend(),
            )
        )
    return kind


def restore_backup(path: Path, clock: Clock) -> Backup:
    """Replace the configured database with the backup at ``path``.

    PostgreSQL: ``pg_restore --clean --if-exists --single-transaction`` (on any error nothing is
    changed). SQLite: the online backup API copies the file over the database. Stop the web
    and worker processes first. Raises DomainError for a missing, foreign or broken file.
    """
    path = Path(path)
    kind = check_backup(path)
    db.session.remove()
    db.engine.dispose()
    if kind == "postgresql":
        args, env = _pg_args()
        _run([_pg_tool("pg_restore"), "--list", str(path)], env)
        _run(
            [
                _pg_tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                *args,
                str(path),
            ],
            env,
        )
    else:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in source.execute("SELECT name FROM sqlite_master")}
            if "alembic_version" not in tables:
                raise DomainError(
                    _("%(path)s is not a backup made by this product.", path=str(path))
                )
            target = sqlite3.connect(_sqlite_path())
            try:
                with target:
                    source.backup(target)
            finally:
                target.close()
        except sqlite3.Error as error:
            raise DomainError(_("The restore failed: %(error)s", error=error)) from None
        finally:
            source.close()
    db.engine.dispose()
    audit.record(audit.SYSTEM, "backup.restore", clock, after={"file": path.name, "kind": kind})
    db.session.commit()
    return Backup(path, kind, path.stat().st_size)
