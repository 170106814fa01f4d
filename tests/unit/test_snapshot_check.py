"""The check_snapshot job's work (``catalog_search.snapshot_check``) on local files, and its entry
point's answer to bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from catalog_search import snapshot_check
from catalog_search.training.catalog import canonicalize

ROOT = Path(__file__).resolve().parents[2]


def _snapshot(path: Path, ids: range, retitled: int = 0) -> Path:
    frame = pd.DataFrame({"product_id": [str(i) for i in ids],
                          "title": [f"Shirt {i}" + (" new" if i < ids.start + retitled else "") for i in ids],
                          "category": [f"Apparel > Type{i % 3}" for i in ids], "price": ["9.5"] * len(ids)})
    canonicalize(frame).to_parquet(path, index=False)
    return path


def _inputs(tmp_path: Path, products: Path, previous: Path | None) -> snapshot_check.Inputs:
    return snapshot_check.Inputs(products, previous, "20261128T010000Z-x" if previous else None, "s3://b/catalog/snapshots/x/",
                                 0.1, ROOT / "include")


def test_a_healthy_night_passes_with_its_diff_against_the_previous_snapshot(tmp_path):
    previous = _snapshot(tmp_path / "previous.parquet", range(0, 100))
    products = _snapshot(tmp_path / "products.parquet", range(5, 103), retitled=4)
    summary = snapshot_check.check(_inputs(tmp_path, products, previous), tmp_path / "out")
    assert summary["validation"]["success"], summary["validation"]
    expected = {"previous_snapshot": "20261128T010000Z-x", "current_rows": 98, "previous_rows": 100, "added": 3, "removed": 5,
                "retitled": 4, "recategorised": 0}
    assert {name: summary["diff"][name] for name in expected} == expected
    assert json.loads((tmp_path / "out" / snapshot_check.SUMMARY_FILE).read_text()) == summary
    assert (tmp_path / "out" / snapshot_check.DATA_DOCS_DIR / "index.html").is_file()


def test_the_first_snapshot_has_no_diff_and_no_size_rule(tmp_path):
    summary = snapshot_check.check(_inputs(tmp_path, _snapshot(tmp_path / "p.parquet", range(10)), None), tmp_path / "out")
    assert summary["diff"] is None and summary["validation"]["success"]
    assert sum("row_count" in r["rule"] for r in summary["validation"]["results"]) == 1  # at least one row, no tolerance


def test_a_feed_that_lost_half_the_catalog_fails_in_the_summary_not_the_job(tmp_path):
    previous = _snapshot(tmp_path / "previous.parquet", range(0, 100))
    products = _snapshot(tmp_path / "products.parquet", range(0, 50))
    summary = snapshot_check.check(_inputs(tmp_path, products, previous), tmp_path / "out")
    failed = [r for r in summary["validation"]["results"] if not r["success"]]
    assert [r["rule"].split("(")[0] for r in failed] == ["expect_table_row_count_to_be_between"] and failed[0]["observed"] == 50


def test_the_entry_point_says_in_one_line_what_input_is_missing(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "include" / "jobs" / "check_snapshot.py"), "--products", str(tmp_path / "none.parquet"),
                           "--output", str(tmp_path / "out"), "--where", "s3://b/x/", "--row-tolerance", "0.1"],
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT / "plugins"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("check_snapshot: ") and "none.parquet" in done.stderr and len(done.stderr.splitlines()) == 1
