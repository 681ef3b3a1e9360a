"""The Alembic migrations form one chain whose file numbers follow it, so the next migration's
place is obvious and two branches that each added one are caught before they reach a database.

The rules: a migration lives in ``migrations/versions/NNNN_what_it_does.py`` with
``revision = "NNNN"`` (``flask db revision --rev-id NNNN -m "what it does"`` names it so), its
``down_revision`` is the current head, and NNNN is above every number and revision id in use.
A revision id never changes once a database may hold it (``alembic_version``), so the files of
``RENUMBERED`` keep their old ids under new numbers.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
VERSIONS = MIGRATIONS / "versions"
FILE_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.py")

# file number -> revision id, for the files renamed to follow the chain after their revision
# ids had reached databases
RENUMBERED = {"0011": "0016", "0012": "0011", "0013": "0015"}


@dataclass(frozen=True)
class Migration:
    file: str
    number: str
    revision: str
    down_revision: str | None


def _assigned(path: Path) -> dict[str, object]:
    values = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant):
                values[target.id] = node.value.value
    return values


def _migrations() -> list[Migration]:
    found = []
    for path in sorted(VERSIONS.glob("*.py")):
        values = _assigned(path)
        match = FILE_NAME.fullmatch(path.name)
        found.append(
            Migration(
                file=path.name,
                number=match.group(1) if match else "",
                revision=str(values.get("revision")),
                down_revision=values.get("down_revision"),
            )
        )
    return found


def _next_number(migrations: list[Migration]) -> str:
    used = [m.number for m in migrations] + [m.revision for m in migrations]
    return f"{max(int(n) for n in used if n.isdigit()) + 1:04d}"


def _chain(migrations: list[Migration], head: Migration) -> list[Migration]:
    """The migrations from the first to ``head``, following ``down_revision``."""
    by_revision: dict[str, Migration] = {}
    for migration in migrations:
        by_revision.setdefault(migration.revision, migration)
    chain = [head]
    while chain[-1].down_revision in by_revision and len(chain) <= len(migrations):
        chain.append(by_revision[chain[-1].down_revision])
    return chain[::-1]


def _heads(migrations: list[Migration]) -> list[Migration]:
    """The migrations no other one follows, by file number."""
    followed = {m.down_revision for m in migrations}
    return [m for m in migrations if m.revision not in followed or _twin(migrations, m)]


def _twin(migrations: list[Migration], migration: Migration) -> bool:
    """Whether an earlier file has the same revision id (then this one follows nothing)."""
    return any(m.revision == migration.revision for m in migrations[: migrations.index(migration)])


def test_every_migration_file_has_a_number_and_a_revision_of_its_own():
    migrations = _migrations()
    next_number = _next_number(migrations)
    for migration in migrations:
        assert migration.number, (
            f"migrations/versions/{migration.file}: name it {next_number}_what_it_does.py "
            f"with revision = {next_number!r} (flask db revision --rev-id {next_number})"
        )
    for field in ("number", "revision"):
        seen: dict[str, str] = {}
        for migration in migrations:
            value = getattr(migration, field)
            if value in seen:
                others = [m for m in migrations if m is not migration]
                raise AssertionError(
                    f"{seen[value]} and {migration.file} have the same {field} {value!r} (two "
                    f"branches each added a migration?): keep the one merged first and rename "
                    f"the other to {next_number}_….py with revision = {next_number!r} and "
                    f"down_revision = {_heads(others)[-1].revision!r}"
                )
            seen[value] = migration.file
    for migration in migrations:
        expected = RENUMBERED.get(migration.number, migration.number)
        assert migration.revision == expected, (
            f"{migration.file} has revision = {migration.revision!r}; a new migration's "
            f"revision id is its file number ({expected!r}); if a database may already hold "
            f"{migration.revision!r}, rename the file to {migration.revision}_….py instead"
        )


def test_the_migrations_have_one_head():
    migrations = _migrations()
    heads = _heads(migrations)
    if len(heads) > 1:
        first = _chain(migrations, heads[0])
        advice = []
        for head in heads[1:]:
            branch = [m for m in _chain(migrations, head) if m not in first]
            advice.append(
                f"set down_revision = {first[-1].revision!r} (the revision of "
                f"{first[-1].file}) in {branch[0].file}, and renumber "
                f"{', '.join(m.file for m in branch)} from {_next_number(migrations)} up "
                f"(file name and revision)"
            )
        raise AssertionError(
            f"{len(heads)} heads: {', '.join(m.file for m in heads)}: two branches each added "
            "a migration after the same revision. Chain them: " + "; ".join(advice)
        )
    assert heads, "no migrations found"
    assert len({m.revision for m in migrations}) == len(migrations), "revision ids repeat"
    assert ScriptDirectory(str(MIGRATIONS)).get_heads() == [heads[0].revision]


def test_the_file_numbers_follow_the_chain():
    migrations = _migrations()
    chain = _chain(migrations, _heads(migrations)[-1])
    assert chain[0].down_revision is None, (
        f"{chain[0].file} follows revision {chain[0].down_revision!r}, which no file has"
    )
    next_number = _next_number(migrations)
    for earlier, later in zip(chain, chain[1:], strict=False):
        assert later.number > earlier.number, (
            f"{later.file} follows {earlier.file} in the chain (down_revision = "
            f"{later.down_revision!r}) but has a lower number; chain order: "
            f"{' → '.join(m.file for m in chain)}. Rename {later.file} to "
            f"{next_number}_….py with revision = {next_number!r}; only if a database may "
            f"already hold revision {later.revision!r}, keep that id and add the new number "
            f"to RENUMBERED in tests/test_migrations.py"
        )
    assert len(chain) == len(migrations), (
        f"files outside the chain that ends at {chain[-1].file}: "
        + ", ".join(m.file for m in migrations if m not in chain)
        + " (the test of the heads says how to chain them)"
    )
