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


def offenders_of(folder: str, roots: set[str]) -> dict[str, list[str]]:
    found = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if name.split(".")[0] in roots
        )
        for path in (ROOT / folder).rglob("*.py")
    }
    return {path: names for path, names in found.items() if names}


def test_schemas_import_no_framework() -> None:
    """The ground floor: models only, importable by anything without dragging a client in."""
    frameworks = {"faust", "aiokafka", "fastapi", "starlette", "elasticsearch", "grpc", "uvicorn"}
    assert offenders_of("schemas", frameworks) == {}


def test_the_query_core_has_no_web_framework() -> None:
    assert offenders_of("query_api/query", {"fastapi", "starlette", "grpc", "uvicorn"}) == {}
    assert offenders_of("query_api/services", {"fastapi", "starlette", "grpc", "uvicorn"}) == {}


def test_kafka_clients_stay_behind_the_wall() -> None:
    """aiokafka is made and read in ingest/kafka (and by the webhook topic's own reader);
    the intake and the worker's steps only call it."""
    assert offenders_of("ingest/intake", {"aiokafka", "faust"}) == {}
    steps = {"aiokafka", "faust"}
    found = offenders_of("ingest/process", steps)
    assert set(found) <= {"ingest/process/worker.py"}  # the wiring to Kafka and faust
