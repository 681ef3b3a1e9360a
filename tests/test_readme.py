"""The README and docs/ document what a user needs: the two commands and a map of the docs in a
short README, the export schema in the user guide, every setting in the operations guide."""

from __future__ import annotations

import re
from pathlib import Path

from billing.reporting.exports import EXPORT_FIELDS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
GUIDE = (ROOT / "docs" / "user-guide.md").read_text()
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
APP = (Path(__file__).resolve().parents[1] / "app.py").read_text()


def test_two_commands_and_a_map_of_the_docs_in_a_short_readme():
    assert "make run" in README and "make test" in README
    assert len(README.splitlines()) <= 200
    for linked in re.findall(r"\]\((docs/[a-z-]+\.md)\)", README):
        assert (ROOT / linked).exists(), linked
    assert {path.name for path in (ROOT / "docs").glob("*.md")} <= set(
        Path(linked).name for linked in re.findall(r"\]\((docs/[a-z-]+\.md)\)", README)
    )


def test_every_export_key_is_documented_in_order():
    """SPEC §3: stable snake_case keys, documented."""
    documented = re.findall(r"^\| `([a-z_]+)` \|", GUIDE.split("### Export schema")[1], re.M)
    assert documented[: len(EXPORT_FIELDS)] == [f.key for f in EXPORT_FIELDS]


PRODUCT = [
    path
    for room in ("admin_views", "billing", "jobs", "portal", "seed", "models")
    for path in (Path(__file__).resolve().parents[1] / room).rglob("*.py")
]


def test_every_environment_variable_is_documented():
    """Every setting read from the environment (app.py) and every environment variable a
    command takes (``envvar=``) is named in the operations guide."""
    used = set(re.findall(r'env(?:\.get)?\(\s*"([A-Z_]+)"', APP)) | set(
        re.findall(r'_env_bool\("([A-Z_]+)"', APP)
    )
    assert used, "app.py reads its settings from the environment"
    for path in PRODUCT:
        code = path.read_text()
        used |= set(re.findall(r'(?:environ(?:\.get)?|getenv)\(\s*"([A-Z_]+)"', code))
        used |= set(re.findall(r'envvar="([A-Z_]+)"', code))
    for name in used:
        assert f"`{name}`" in OPERATIONS, name
