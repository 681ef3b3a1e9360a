"""docs/development.md: every recipe names the tests that perform it, and they exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_recipe_is_backed_by_a_test_that_exists():
    recipes = (ROOT / "docs" / "development.md").read_text().split("\n## ")[1:]
    defined = {
        name
        for path in (ROOT / "tests").rglob("test_*.py")
        for name in re.findall(r"^def (test_\w+)", path.read_text(), re.M)
    }
    assert len(recipes) >= 5
    for recipe in recipes:
        named = re.findall(r"`(test_\w+)`", recipe.rsplit("\nTest", 1)[-1])
        assert named, f"recipe without a test: {recipe.splitlines()[0]}"
        assert set(named) <= defined, recipe.splitlines()[0]
