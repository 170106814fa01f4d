"""Land the source catalog as an immutable snapshot and check it (a Processing job); publish the snapshot asset."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from catalog_search.dag_support import CATALOG_SNAPSHOT, DEFAULT_ARGS, TAGS, add_run_report, emit, given, run_stage, sagemaker_job
from catalog_search.settings import Settings

with DAG(
    dag_id="catalog_refresh",
    doc_md="""
### catalog_refresh
Reads the source catalog (`CATALOG_SEARCH_SOURCE_DIR`: the fashion dataset, or any Parquet /
CSV / JSON Lines catalog with the canonical columns), writes it as snapshot
`catalog/snapshots/{snapshot_id}/` (products, rejects with reasons, manifest), checks it with
Great Expectations in the **check_snapshot** Processing job (contract rules; size within tolerance
of the newest earlier snapshot; category churn reported), publishes the report in
**validate_snapshot** (Data Docs under `reports/catalog_refresh/{run}/data_docs/`), and only then moves
`catalog/latest.json` forward and emits the **catalog snapshot** asset. A failed validation
publishes nothing. `derive_from` in the conf simulates a refresh of an earlier snapshot
(products added, removed, retitled, recategorised) instead of reading the source: a snapshot id,
or `previous` for the newest validated snapshot before this one (a simulated night; `make night`).
Runs daily at `CATALOG_SEARCH_REFRESH_SCHEDULE` (01:00 UTC).
The snapshot id comes from the run's logical date (or `snapshot_id` in the run's conf), so a
re-run rewrites the same snapshot and a backfill writes an older one without moving `latest`.
""",
    schedule=Settings.from_env().refresh_schedule,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "catalog"],
    params={
        "snapshot_id": Param(None, type=["null", "string"], description="Override the snapshot id"),
        "derive_from": Param(None, type=["null", "string"],
                             description="Simulate a refresh of this snapshot (or 'previous') instead of reading the source"),
    },
) as dag:

    @task
    def land_snapshot() -> str:
        return run_stage("refresh.land_snapshot", **given("snapshot_id", "derive_from"))["snapshot_id"]

    @task
    def snapshot_check_config(snapshot_id: str) -> dict:
        return run_stage("refresh.snapshot_check_config", snapshot_id=snapshot_id)

    @task
    def validate_snapshot(snapshot_id: str, job: dict) -> str:
        return run_stage("refresh.validate_snapshot", snapshot_id=snapshot_id, job=job)["snapshot_id"]

    @task(outlets=[CATALOG_SNAPSHOT])
    def publish_snapshot(snapshot_id: str) -> dict:
        pointer = run_stage("refresh.publish_snapshot", snapshot_id=snapshot_id)
        emit(CATALOG_SNAPSHOT, snapshot_id=snapshot_id)
        return pointer

    snapshot_id = land_snapshot()
    check = sagemaker_job("check_snapshot", "processing", snapshot_check_config(snapshot_id))
    publish_snapshot(validate_snapshot(snapshot_id, check.output))
    add_run_report(dag)
