"""The import graph of the project's code, read statically: which library modules a set of entry
points reaches (imports inside functions too, not those under ``TYPE_CHECKING``), which other
modules they import, and the installed distribution that provides each (by its files: namespace
packages such as ``sagemaker`` or ``airflow.providers`` are shared by several). Nothing is imported."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "plugins" / "catalog_search"


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(path: Path) -> dict[str, str]:
    """``name -> version`` of a uv/pip-compile lock."""
    pins = (re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;]+)", line) for line in path.read_text().splitlines())
    return {normalized(m[1]): m[2] for m in pins if m}


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (functions too), but under ``TYPE_CHECKING``
    and in a ``try`` that carries on without it (an ``ImportError`` handler that does not raise)."""
    tree = ast.parse(path.read_text())
    guarded = [node.body for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)]
    guarded += [node.body for node in ast.walk(tree) if isinstance(node, ast.Try) and any(
        handler.type is not None and re.search(r"\b(ImportError|ModuleNotFoundError)\b", ast.unparse(handler.type))
        and not any(isinstance(n, ast.Raise) for n in ast.walk(handler)) for handler in node.handlers)]
    skipped = {id(n) for body in guarded for child in body for n in ast.walk(child)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # a submodule imported by name
    return found


def library_path(module: str) -> Path | None:
    relative = module.split(".")[1:]
    for candidate in (PACKAGE.joinpath(*relative).with_suffix(".py"), PACKAGE.joinpath(*relative, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def reached_from(entry_points: list[Path]) -> tuple[set[Path], set[str]]:
    """The library files that ``entry_points`` reach, and every other module they import (dotted names)."""
    seen: set[Path] = set()
    frontier = list(entry_points)
    outside: set[str] = set()
    while frontier:
        path = frontier.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in imports_of(path):
            if module == "catalog_search" or module.startswith("catalog_search."):
                found = library_path(module)
                if found:
                    frontier.append(found)
                    if found.name != "__init__.py" and (found.parent / "__init__.py").is_file():
                        frontier.append(found.parent / "__init__.py")
            elif module.split(".")[0] not in sys.stdlib_module_names and module != "__future__":
                outside.add(module)
    return seen, outside


@functools.lru_cache(maxsize=1)
def _providers() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


@functools.cache
def installed_files(dist: str) -> frozenset[str]:
    return frozenset(str(f).replace("\\", "/") for f in importlib.metadata.distribution(dist).files or ())


def distribution_of(module: str) -> str:
    """The distribution that installed the most specific part of ``module`` (namespace packages
    such as ``sagemaker`` or ``airflow.providers`` are shared by several), found by its files,
    without importing anything."""
    parts = module.split(".")
    candidates = _providers().get(parts[0], [])
    for end in range(len(parts), 0, -1):
        for relative in ("/".join(parts[:end]) + ".py", "/".join(parts[:end]) + "/__init__.py"):
            owners = [dist for dist in candidates if relative in installed_files(dist)]
            if owners:
                return normalized(owners[0])
    return normalized(candidates[0] if len(candidates) == 1 else parts[0])  # named as imported, to be reported


def distributions(modules: set[str]) -> dict[str, set[str]]:
    """``distribution -> the imported modules it provides``."""
    found: dict[str, set[str]] = {}
    for module in modules:
        found.setdefault(distribution_of(module), set()).add(module)
    return found
