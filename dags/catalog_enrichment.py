"""Embed every product of a snapshot with the champion model (Batch Transform) and publish
the enriched catalog asset."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Param, task

from catalog_search.dag_support import (
    CATALOG_SNAPSHOT, DEFAULT_ARGS, EMBEDDING_MODEL, ENRICHED_CATALOG, TAGS, emit, given, run_stage, sagemaker_job,
)

with DAG(
    dag_id="catalog_enrichment",
    doc_md="""
### catalog_enrichment
tokenize → batch transform → validate embeddings → enriched catalog.

Runs nightly and whenever a new catalog snapshot or champion model is published. Writes
Object2Vec inference JSON Lines to `enrichment/{snapshot_id}/{model_version}/input/`, runs a
Batch Transform job (or the local runner) whose `.out` lines land in `output/`, checks them with
Great Expectations (one vector per product, right dimension, finite and non-zero) and writes
`enriched/products.parquet`, emitting the **enriched catalog** asset.
Conf: `snapshot_id`, `model_version` (defaults: the triggering/newest snapshot, the champion).
""",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 2 * * *", timezone="UTC"), assets=(CATALOG_SNAPSHOT | EMBEDDING_MODEL)
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=TAGS + ["enrichment"],
    params={
        "snapshot_id": Param(None, type=["null", "string"], description="Snapshot to embed (default: newest)"),
        "model_version": Param(None, type=["null", "string"], description="Model to embed with (default: champion)"),
    },
) as dag:

    @task
    def resolve_inputs() -> dict:
        inputs = given("snapshot_id", "model_version", assets=(CATALOG_SNAPSHOT, EMBEDDING_MODEL))
        return run_stage("enrichment.resolve_inputs", **inputs)

    @task
    def prepare_transform_input(inputs: dict) -> dict:
        return run_stage("enrichment.prepare_transform_input", **inputs)

    @task(outlets=[ENRICHED_CATALOG])
    def validate_and_assemble(inputs: dict) -> dict:
        result = run_stage("enrichment.assemble_enriched", **inputs)
        emit(ENRICHED_CATALOG, snapshot_id=inputs["snapshot_id"], model_version=inputs["model_version"])
        return result

    inputs = resolve_inputs()
    batch_transform = sagemaker_job("batch_transform", "transform", prepare_transform_input(inputs))
    batch_transform >> validate_and_assemble(inputs)
