"""Land the source catalog as an immutable snapshot and validate it; publish the snapshot asset."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, get_current_context, task

from catalog_search.dag_support import CATALOG_SNAPSHOT, DEFAULT_ARGS, TAGS, emit

with DAG(
    dag_id="catalog_refresh",
    doc_md="""
### catalog_refresh
Reads the source catalog (`CATALOG_SEARCH_SOURCE_DIR`: the fashion dataset, or any Parquet /
CSV / JSON Lines catalog with the canonical columns), writes it as snapshot
`catalog/snapshots/{snapshot_id}/` (products, rejects with reasons, manifest), validates it with
Great Expectations (contract rules; size within tolerance of the newest earlier snapshot; category
churn reported; Data Docs under `reports/catalog_refresh/{run}/data_docs/`), and only then moves
`catalog/latest.json` forward and emits the **catalog snapshot** asset. A failed validation
publishes nothing. `derive_from` in the conf simulates a refresh of an earlier snapshot
(products added, removed, retitled, recategorised) instead of reading the source.
The snapshot id comes from the run's logical date (or `snapshot_id` in the run's conf), so a
re-run rewrites the same snapshot and a backfill writes an older one without moving `latest`.
""",
    schedule="0 1 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=TAGS + ["catalog"],
    params={
        "snapshot_id": Param(None, type=["null", "string"], description="Override the snapshot id"),
        "derive_from": Param(None, type=["null", "string"],
                             description="Simulate a refresh of this snapshot instead of reading the source"),
    },
) as dag:

    @task
    def land_snapshot() -> str:
        from catalog_search import pipeline
        from catalog_search.settings import Settings, snapshot_id_for

        context = get_current_context()
        settings = Settings.from_env()
        when = context.get("logical_date") or context["dag_run"].run_after
        snapshot_id = context["params"].get("snapshot_id") or snapshot_id_for(settings.source_dir.name, when)
        pipeline.land_snapshot(settings, pipeline.Services(settings).store, snapshot_id, context["params"].get("derive_from"))
        return snapshot_id

    @task
    def validate_snapshot(snapshot_id: str) -> str:
        from catalog_search import pipeline
        from catalog_search.settings import Layout, Settings

        settings = Settings.from_env()
        report_prefix = Layout.report(dag.dag_id, get_current_context()["run_id"])
        pipeline.validate_snapshot(settings, pipeline.Services(settings).store, snapshot_id, report_prefix)
        return snapshot_id

    @task(outlets=[CATALOG_SNAPSHOT])
    def publish_snapshot(snapshot_id: str) -> dict:
        from catalog_search import pipeline
        from catalog_search.settings import Settings

        pointer = pipeline.publish_snapshot_pointer(pipeline.Services(Settings.from_env()).store, snapshot_id)
        emit(get_current_context(), CATALOG_SNAPSHOT, snapshot_id=snapshot_id)
        return pointer

    publish_snapshot(validate_snapshot(land_snapshot()))
