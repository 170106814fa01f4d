"""The check of a landed snapshot, from local files: the work of the ``check_snapshot`` Processing
job (``include/jobs/check_snapshot.py``), so that no Airflow worker holds a catalog. The snapshot
suite runs on its products; against the newest earlier validated snapshot, the diff
(``include/sql/catalog_diff.sql``) also holds the row count within tolerance of that snapshot's
and reports the churn. The task that follows (``stages.refresh.validate_snapshot``) reads the
small summary, publishes the report and marks the snapshot validated only when it passed.

Files under the output folder: ``SUMMARY_FILE`` (the suite's report and the diff) and the Data
Docs (``DATA_DOCS_DIR``). A failed check is a summary that says so, not a failed job: the task
raises it as the validation failure it is, with the report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from catalog_search import sql, validation
from catalog_search.store import object_store

SUMMARY_FILE = "summary.json"
DATA_DOCS_DIR = "data_docs/"
SUITE = "catalog_snapshot"
DIFF_COLUMNS = ["product_id", "title", "category"]  # what catalog_diff.sql reads of the earlier snapshot


@dataclass(frozen=True)
class Inputs:
    """What the job reads, as local paths (the Processing job's channels), and how it judges."""
    products: Path  # the snapshot's products
    previous: Path | None  # the newest earlier validated snapshot's (None: the first)
    previous_snapshot: str | None  # its id, named in the diff
    where: str  # the snapshot's URI, for the report
    row_tolerance: float  # the share by which the row count may move from the previous snapshot's
    include_dir: Path  # the folder holding sql/catalog_diff.sql


def check(inputs: Inputs, output: Path) -> dict:
    """Run the suite (and the diff) and write the summary and Data Docs under ``output``; returns the summary."""
    output.mkdir(parents=True, exist_ok=True)
    products = object_store.read_parquet(inputs.products)
    diff = None
    if inputs.previous is not None:
        previous = object_store.read_parquet(inputs.previous, DIFF_COLUMNS)
        diff = {"previous_snapshot": inputs.previous_snapshot, **sql.catalog_diff(products, previous, inputs.include_dir)}
        del previous
    expectations = validation.snapshot_expectations(diff["previous_rows"] if diff else None, inputs.row_tolerance)
    report = validation.validate(products, SUITE, inputs.where, expectations, docs_dir=output / DATA_DOCS_DIR)
    summary = {"validation": report.as_dict(), "diff": diff}
    (output / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, sort_keys=True))
    return summary
