"""The stat reference shares no code with what it checks: it imports nothing from the
services (`query_api/`, `ingest/`), and neither does any reference it leans on."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"query_api", "ingest"}


def imports_of(source: str, package: str) -> set[str]:
    """Every module `source` imports, relative imports resolved against `package`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                names.add(f"{base}.{node.module}" if node.module else base)
            else:
                names.add(node.module or "")
    return names


def reached_from(module: str) -> dict[str, set[str]]:
    """The project modules `module` imports, directly or through another project module."""
    seen: dict[str, set[str]] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        path = ROOT / (name.replace(".", "/") + ".py")
        if name in seen or not path.exists():
            continue
        seen[name] = imports_of(path.read_text(), name.rpartition(".")[0])
        todo.extend(seen[name])
    return seen


def test_the_stat_reference_imports_nothing_it_checks() -> None:
    graph = reached_from("tests.reference.stat_eval")
    assert "tests.reference.list_eval" in graph  # the walk does follow the references
    offenders = {
        module: sorted(name for name in names if name.split(".")[0] in SERVICES)
        for module, names in graph.items()
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_the_walk_sees_every_form_of_import() -> None:
    """The check above can fail: an import of the planner is seen however it is written."""
    source = (
        "import ingest.process\n"
        "from query_api.query import stat\n"
        "def f():\n    from query_api.query.stat import rows\n"
        "from ..query_api import services\n"
    )
    assert imports_of(source, "tests.reference") == {
        "ingest.process", "query_api.query", "query_api.query.stat", "tests.query_api",
    }  # fmt: skip
