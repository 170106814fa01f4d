"""The docs read as a front door and pages: the README within 200 lines, no prose line over 120
characters in any page (tables and code aside), and every link to a file of the repository resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "data" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def prose(path: Path) -> list[tuple[int, str]]:
    """The lines outside code fences and tables, numbered."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and not line.lstrip().startswith("|"):
            lines.append((number, line))
    return lines


def test_the_readme_is_a_front_door():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_no_prose_line_is_over_120_characters(page):
    long = [f"{page.name}:{number} ({len(line)})" for number, line in prose(page) if len(line) > 120]
    assert not long, long


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_link_to_a_file_resolves(page):
    broken = [target for target in LINK.findall(page.read_text()) if "://" not in target and not (page.parent / target).exists()]
    assert not broken, broken
