"""What each side of the library may import: search and serving never load Airflow (they run
outside it, and Airflow adds seconds before the first query); no import cycle, not even through
an import inside a function; the ground floor (names, errors) imports nothing of the library and
the settings only the errors; no module imports more than about half of the library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support.imports import PACKAGE, imports_of, library_path

GROUND_FLOOR = {"catalog_search.naming": set(), "catalog_search.errors": set(),
                "catalog_search.settings": {"catalog_search.errors"}}


def module_name(path: Path) -> str:
    return ".".join(("catalog_search", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")


def library_graph() -> dict[str, set[str]]:
    """``module -> the library modules it imports`` (anywhere in it: functions too)."""
    graph = {}
    for path in sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts):
        found = {library_path(m) for m in imports_of(path) if m == "catalog_search" or m.startswith("catalog_search.")}
        graph[module_name(path)] = {module_name(p) for p in found if p is not None} - {module_name(path)}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph.get(module, ())):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


@pytest.mark.parametrize("module", ["catalog_search.search.query", "catalog_search.training.encoder", "catalog_search.clients",
                                    "catalog_search.cli", "catalog_search.search.api"])
def test_search_side_imports_no_airflow(module):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"{module} pulled in {out}"


def test_the_library_has_no_import_cycle():
    graph = library_graph()
    assert len(graph) > 40 and "catalog_search.training.pairs" in graph["catalog_search.training.training_data"]
    assert cycles(graph) == []


def test_cycles_are_found_through_imports_inside_functions_too():
    """The finder itself: settings once built the training spec inside a method, importing pairs,
    which took its defaults from settings."""
    assert cycles({"settings": {"pairs"}, "pairs": {"settings"}, "naming": set()}) == [["pairs", "settings"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_ground_floor_stands_on_nothing_above_it():
    graph = library_graph()
    assert {module: graph[module] for module in GROUND_FLOOR} == GROUND_FLOOR


def test_no_module_imports_more_than_half_of_the_library():
    graph = library_graph()
    modules = [m for m in graph if not (PACKAGE.joinpath(*m.split(".")[1:]) / "__init__.py").is_file()]
    for module in modules:
        assert len(graph[module]) <= len(modules) // 2, f"{module} imports {len(graph[module])} of {len(modules)} modules"
