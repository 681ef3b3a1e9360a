"""The README documents what a user needs: the two commands, the export schema, the settings."""

from __future__ import annotations

import re
from pathlib import Path

from billing.exports import EXPORT_FIELDS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
APP = (Path(__file__).resolve().parents[1] / "app.py").read_text()


def test_two_commands():
    assert "make run" in README and "make test" in README


def test_every_export_key_is_documented_in_order():
    """SPEC §3: stable snake_case keys, documented."""
    documented = re.findall(r"^\| `([a-z_]+)` \|", README.split("### Export schema")[1], re.M)
    assert documented[: len(EXPORT_FIELDS)] == [f.key for f in EXPORT_FIELDS]


PRODUCT = [
    path
    for room in ("admin_views", "billing", "jobs", "portal", "seed", "models")
    for path in (Path(__file__).resolve().parents[1] / room).rglob("*.py")
]


def test_every_environment_variable_is_documented():
    """Every setting read from the environment (app.py) and every environment variable a
    command takes (``envvar=``) is named in the README."""
    used = set(re.findall(r'env(?:\.get)?\(\s*"([A-Z_]+)"', APP)) | set(
        re.findall(r'_env_bool\("([A-Z_]+)"', APP)
    )
    assert used, "app.py reads its settings from the environment"
    for path in PRODUCT:
        code = path.read_text()
        used |= set(re.findall(r'(?:environ(?:\.get)?|getenv)\(\s*"([A-Z_]+)"', code))
        used |= set(re.findall(r'envvar="([A-Z_]+)"', code))
    for name in used:
        assert f"`{name}`" in README, name
