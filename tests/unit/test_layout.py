"""The tree reads as the pipeline: `ingest/` stands below `query_api/`, never beside it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_ingest_never_imports_query_api() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if name.split(".")[0] == "query_api"
        )
        for path in (ROOT / "ingest").rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_schemas_import_no_service() -> None:
    services = {"ingest", "query_api", "deploy"}
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if name.split(".")[0] in services
        )
        for path in (ROOT / "schemas").rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}
