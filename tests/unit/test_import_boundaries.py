"""What each side of the library may import: search and serving never load Airflow (they run
outside it, and Airflow adds seconds before the first query); no module imports more than
about half of the library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "catalog_search"


@pytest.mark.parametrize("module", ["catalog_search.search", "catalog_search.encoder", "catalog_search.clients",
                                    "catalog_search.cli", "catalog_search.api"])
def test_search_side_imports_no_airflow(module):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"{module} pulled in {out}"


def _library_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("catalog_search"):
            names |= {f"{node.module}.{a.name}" if node.module == "catalog_search" else node.module for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("catalog_search")}
    return names


def test_no_module_imports_more_than_half_of_the_library():
    modules = [p for p in PACKAGE.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    for path in modules:
        imported = _library_imports(path)
        assert len(imported) <= len(modules) // 2, f"{path.name} imports {len(imported)} of {len(modules)} modules"
