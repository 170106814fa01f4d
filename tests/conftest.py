"""Shared fixtures: the repo's paths and the fashion data it carries (data/fashion)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FASHION = ROOT / "data" / "fashion"
sys.path.insert(0, str(ROOT / "plugins"))  # as Airflow does; also installed editable


INCLUDE = ROOT / "include"


@pytest.fixture(scope="session")
def include_dir() -> Path:
    return INCLUDE


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    assert (FASHION / "styles.csv").is_file(), f"the fashion catalog belongs in {FASHION} (see data/README.md)"
    return FASHION
