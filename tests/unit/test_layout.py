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


PACKAGES = ("schemas", "ingest", "query_api", "deploy")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def load_time_imports(path: Path, modules: set[str]) -> set[str]:
    """The project's modules `path` imports when it loads: module-level imports, not those
    inside functions or under `if TYPE_CHECKING`. `from package import module` is an import
    of that module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.If) and "TYPE_CHECKING" in ast.unparse(statement.test):
            continue
        if not isinstance(statement, ast.Import | ast.ImportFrom | ast.If | ast.Try):
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = package[: len(package) - node.level + 1]
                    base = ".".join([*here, base] if base else here)
                submodules = {f"{base}.{alias.name}" for alias in node.names} & modules
                found.update(submodules)
                if len(submodules) < len(node.names):
                    found.add(base)
    return found & modules


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for other in graph[module]:
            if other not in order:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], order[other])
        if low[module] == order[module]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in graph:
        if module not in order:
            visit(module)
    return circles


def test_no_import_circles() -> None:
    """Every module can be read after what it imports: the import graph has no circle."""
    paths = {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    graph = {name: load_time_imports(path, set(paths)) for name, path in paths.items()}
    assert sum(len(targets) for targets in graph.values()) > 200  # the graph was read
    assert import_circles(graph) == []


def test_a_circle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert import_circles(graph) == [["a", "b", "c"]]
