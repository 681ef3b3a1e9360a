"""The house's layout rules, checked on the product's source (ARCHITECTURE.md, "Rooms"):

- no module over ``MAX_MODULE_LINES`` lines and no function over ``MAX_FUNCTION_LINES`` (its
  docstring not counted), unless ``LONG`` names it with the reason;
- no ``_private`` name of one module used by another (``from x import _name``, or
  ``module._name``): a helper two modules share is public, named for what it does;
- ``billing/`` does not read Flask's configuration (``current_app.config``) but where
  ``CONFIG_READS`` says why: the deployment's values are handed in like the clock
  (``billing.kernel.site.Site``).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOMS = (
    "app.py",
    "extensions.py",
    "models",
    "billing",
    "jobs",
    "admin_views",
    "portal",
    "seed",
    "cli",
)
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60

#: Modules and functions allowed to be longer: ``"path"`` or ``"path:qualified.name"`` → why.
LONG: dict[str, str] = {}

#: The reads of ``current_app.config`` billing keeps, per module, and why (each read says so
#: next to it too): infrastructure of the running app, not values a rule decides with.
CONFIG_READS: dict[str, tuple[int, str]] = {
    "billing/kernel/mail.py": (1, "the mail transport and the templates every message renders"),
    "billing/kernel/secrets.py": (1, "the encryption keys, never handed around"),
    "billing/kernel/mail_limits.py": (1, "the rate limiter's storage prefix"),
    "billing/payments/stripe_account.py": (1, "the server the Stripe client connects to"),
    "billing/infra/backup.py": (1, "the database a backup is taken of"),
}


def _sources(*rooms: str) -> dict[str, ast.Module]:
    files = []
    for room in rooms:
        path = ROOT / room
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return {str(f.relative_to(ROOT)): ast.parse(f.read_text(encoding="utf-8")) for f in files}


def _docstring_lines(node) -> int:
    first = node.body[0] if node.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        if isinstance(first.value.value, str):
            return first.end_lineno - first.lineno + 1
    return 0


def _functions(tree: ast.Module):
    """(qualified name, lines without the docstring) of every function, methods included."""
    found = []

    def walk(node, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = child.end_lineno - child.lineno + 1 - _docstring_lines(child)
                found.append((f"{prefix}{child.name}", lines))
                walk(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}{child.name}.")

    walk(tree, "")
    return found


def _too_long() -> dict[str, str]:
    found = {}
    for path, tree in _sources(*ROOMS).items():
        lines = (ROOT / path).read_text(encoding="utf-8").count("\n")
        if lines > MAX_MODULE_LINES:
            found[path] = f"{lines} lines"
        for name, length in _functions(tree):
            if length > MAX_FUNCTION_LINES:
                found[f"{path}:{name}"] = f"{length} lines"
    return found


def test_no_module_or_function_is_too_long_without_a_reason():
    found = _too_long()
    unexplained = {where: size for where, size in found.items() if where not in LONG}
    assert not unexplained, (
        f"over {MAX_MODULE_LINES} lines per module or {MAX_FUNCTION_LINES} per function: "
        f"{unexplained}; split it by what it is for, or name it in LONG with the reason"
    )
    assert not set(LONG) - set(found), f"LONG names what is short now: {set(LONG) - set(found)}"
    assert all(reason.strip() for reason in LONG.values())


def _module_name(path: str) -> str:
    parts = list(Path(path).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _absolute(path: str, node: ast.ImportFrom) -> str:
    """The module an ``ImportFrom`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = _module_name(path).split(".")
    if not path.endswith("__init__.py"):
        package = package[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _private_uses(path: str, tree: ast.Module) -> list[str]:
    """``from x import _name`` and ``module._name`` of another project module in ``path``
    (``_``, the translation function, is everyone's)."""
    own = _module_name(path)
    modules: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(path, node)
            if not _is_module(source.split(".")[0]) or source == own:
                continue
            for alias in node.names:
                if _is_module(f"{source}.{alias.name}"):
                    modules.add(alias.asname or alias.name)
                elif alias.name.startswith("_") and alias.name != "_":
                    found.append(f"{path}:{node.lineno} from {source} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and _is_module(alias.name):
                    modules.add(alias.asname)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append(f"{path}:{node.lineno} {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    found = [use for path, tree in _sources(*ROOMS).items() for use in _private_uses(path, tree)]
    assert not found, f"private names used across modules (make them public there): {found}"


def _config_reads(tree: ast.Module) -> int:
    names = {"current_app"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "flask":
            names |= {a.asname for a in node.names if a.name == "current_app" and a.asname}
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "config"
        and isinstance(node.value, ast.Name)
        and node.value.id in names
    )


def test_billing_reads_flasks_configuration_only_where_it_says_why():
    reads = {path: n for path, tree in _sources("billing").items() if (n := _config_reads(tree))}
    allowed = {path: n for path, (n, _reason) in CONFIG_READS.items()}
    assert reads == allowed, (
        "billing reads current_app.config: hand the value in from the view or job (a Site, "
        f"like the clock), or list the read in CONFIG_READS with its reason; found {reads}"
    )


def _float_uses(tree: ast.Module) -> list[int]:
    """Lines that convert to, test for or annotate ``float`` (amounts, counts and estimates in
    billing/ are Decimal or int; the PDF's layout points are plain numbers and not looked at)."""
    return [
        node.lineno for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == "float"
    ]


def test_billing_has_no_float():
    found = {
        path: lines for path, tree in _sources("billing").items() if (lines := _float_uses(tree))
    }
    assert not found, f"billing/ uses float (use Decimal, or int for whole numbers): {found}"


def test_the_checks_see_what_they_look_for():
    """Each check finds its own kind of offence in a sample, so a passing run means clean."""
    sample = ast.parse(
        "from flask import current_app as app\n"
        "from billing.kernel import audit\n"
        "from billing.kernel.clock import _hidden\n"
        "def f():\n"
        + "    x = 1\n" * (MAX_FUNCTION_LINES + 1)
        + "    return audit._step(app.config)\n"
        + "def g(rows: float) -> int:\n"
        + "    return int(float(rows))\n"
    )
    assert [n for n, length in _functions(sample) if length > MAX_FUNCTION_LINES] == ["f"]
    assert len(_private_uses("portal/sample.py", sample)) == 2
    assert _config_reads(sample) == 1
    assert len(_float_uses(sample)) == 2
