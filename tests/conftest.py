"""Shared fixtures: the repo's paths and the shared fashion data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_FASHION = ROOT.parent / "shared" / "data" / "fashion"
sys.path.insert(0, str(ROOT / "plugins"))  # as Airflow does; also installed editable


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    if not (SHARED_FASHION / "styles.csv").is_file():
        pytest.fail(f"the fashion catalog is expected at {SHARED_FASHION} (../shared/ beside the repo)")
    return SHARED_FASHION
