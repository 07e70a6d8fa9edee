"""The stat package reads one way: each module imports only modules below it, never the
package itself (its `__init__` is for callers), and no module grows past ~300 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "query_api" / "query" / "stat"
NAME = "query_api.query.stat"


def stat_imports(path: Path) -> set[str]:
    """The modules of the stat package (or the package itself) that `path` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(NAME):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(NAME))
    return found


def test_modules_import_downward_only() -> None:
    graph = {
        f"{NAME}.{path.stem}": stat_imports(path)
        for path in PACKAGE.glob("*.py")
        if path.stem != "__init__"
    }
    assert {m: sorted(i) for m, i in graph.items() if NAME in i} == {}  # never the package
    done: list[str] = []
    remaining = dict(graph)
    while remaining:  # peel off modules whose imports are all placed: a cycle never peels
        ready = [m for m, imports in remaining.items() if imports <= set(done)]
        assert ready, f"import cycle among {sorted(remaining)}"
        for module in sorted(ready):
            done.append(module)
            del remaining[module]
    assert done[0] == f"{NAME}.limits"


def test_no_module_is_long() -> None:
    lengths = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert {name: n for name, n in lengths.items() if n > 300} == {}
