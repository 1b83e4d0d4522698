"""The offline verifier depends on the standard library, `cryptography` and four small
domain modules, nothing else: another government reads those files and no more.

Checked twice: statically (the import statements of every domain module it reaches,
followed transitively) and by importing it in a fresh interpreter and listing what was
loaded."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERIFIER = "domain.offline_verifier"
# What another government has to read, beside the standard library and `cryptography`.
ALLOWED_DOMAIN = {
    "domain",
    VERIFIER,
    "domain.export_file",
    "domain.log_bytes",
    "domain.merkle",
    "domain.checkpoint",
}
ALLOWED_OUTSIDE = set(sys.stdlib_module_names) | {"cryptography"}


def imports_of(module: str) -> set[str]:
    """The modules one domain module imports, as absolute dotted names."""
    path = ROOT / (module.replace(".", "/") + ("/__init__.py" if module == "domain" else ".py"))
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}: a relative import"
            assert node.module is not None
            names.add(node.module)
            if node.module == "domain":  # from domain import merkle
                names.update(f"domain.{alias.name}" for alias in node.names)
    return names


def domain_closure(start: str) -> tuple[set[str], set[str]]:
    """Every domain module reached from `start`, and every other module they import."""
    seen, outside, todo = set(), set(), [start]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in imports_of(module):
            if name == "domain" or name.startswith("domain."):
                todo.append(name)
            else:
                outside.add(name)
    return seen, outside


def test_the_verifier_imports_only_the_standard_library_cryptography_and_four_modules() -> None:
    reached, outside = domain_closure(VERIFIER)
    assert reached <= ALLOWED_DOMAIN, reached - ALLOWED_DOMAIN
    assert ALLOWED_DOMAIN - {"domain"} <= reached
    foreign = {name for name in outside if name.split(".")[0] not in ALLOWED_OUTSIDE}
    assert not foreign, foreign
    assert any(name.startswith("cryptography") for name in outside)


def test_the_walk_would_see_a_forbidden_import() -> None:
    """The check above is not vacuous: it follows domain imports and names a library."""
    reached, outside = domain_closure("domain.tracker")  # the application: eventsourcing
    assert "eventsourcing" in {name.split(".")[0] for name in outside}
    assert "domain.commitment" in reached


def test_importing_the_verifier_loads_nothing_of_the_server() -> None:
    script = f"import json, sys\nimport {VERIFIER}\nprint(json.dumps(sorted(sys.modules)))\n"
    ran = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(ran.stdout))
    tops = {name.split(".")[0] for name in loaded}
    for server_side in ("sqlalchemy", "fastapi", "eventsourcing", "pydantic", "typer", "adapters"):
        assert server_side not in tops, server_side
    assert {m for m in loaded if m == "domain" or m.startswith("domain.")} <= ALLOWED_DOMAIN
