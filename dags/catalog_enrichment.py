"""Embed every product of a snapshot with the champion model (Batch Transform) and publish
the enriched catalog asset."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Param, task

from catalog_search.dag_support import (
    CATALOG_SNAPSHOT,
    DEFAULT_ARGS,
    EMBEDDING_MODEL,
    ENRICHED_CATALOG,
    TAGS,
    add_run_report,
    emit,
    given,
    run_stage,
    sagemaker_job,
)
from catalog_search.settings import Settings

with DAG(
    dag_id="catalog_enrichment",
    doc_md="""
### catalog_enrichment
needs embedding? → tokenize (a Processing job) → batch transform → assemble and check (a Processing job) → publish
the enriched catalog.

Runs nightly and whenever a new catalog snapshot or champion model is published, one run at a
time; a run whose (snapshot, model) is already enriched (the night's cron after the snapshot's
event, say) ends at **needs_embedding** and says so, publishing nothing twice, and so does a run
for a snapshot older than the newest enriched one (a backfill's: it would never be published)
unless its conf says `embed_older: true`. The **prepare_transform_input** Processing job writes
Object2Vec inference JSON Lines to `enrichment/{snapshot_id}/{model_version}/input/` (only the
products whose token ids changed since the last snapshot enriched with the model, the others'
vectors carried over), then a Batch Transform job (or the local runner) whose `.out` lines land in
`output/`; the
**assemble_enriched** Processing job joins them to their products with the carried-over vectors,
checks them with Great Expectations (one vector per product, right dimension, finite and non-zero)
and writes the catalog, the changes since the night before and the projector's sample under
`assembled/{run}/`; **publish_enriched** publishes the suite's report and, when it passed, copies
them to `enriched/products.parquet` and beside it, emitting the **enriched catalog** asset; then a sample of it as
Embedding Projector files under `projector/` (`tensors.tsv`, `metadata.tsv`, `projector_config.pbtxt`).
Conf: `snapshot_id`, `model_version` (defaults: the triggering/newest snapshot, the champion).
""",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(Settings.from_env().enrichment_schedule, timezone="UTC"), assets=(CATALOG_SNAPSHOT | EMBEDDING_MODEL)
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "enrichment"],
    params={
        "snapshot_id": Param(None, type=["null", "string"], description="Snapshot to embed (default: newest)"),
        "model_version": Param(None, type=["null", "string"], description="Model to embed with (default: champion)"),
        "embed_older": Param(False, type="boolean",
                             description="Embed a snapshot older than the newest enriched one (a backfill's; never published)"),
    },
) as dag:

    @task
    def resolve_inputs() -> dict:
        inputs = given("snapshot_id", "model_version", assets=(CATALOG_SNAPSHOT, EMBEDDING_MODEL))
        return run_stage("enrichment.resolve_inputs", **inputs)

    @task.short_circuit
    def needs_embedding(inputs: dict, params: dict | None = None) -> bool:
        return run_stage("enrichment.needs_embedding", **inputs, embed_older=bool((params or {}).get("embed_older")))

    @task
    def transform_input_config(inputs: dict) -> dict:
        return run_stage("enrichment.transform_input_config", **inputs)

    @task
    def transform_config(inputs: dict) -> dict:
        return run_stage("enrichment.transform_config", **inputs)

    @task
    def assembly_config(inputs: dict) -> dict:
        return run_stage("enrichment.assembly_config", **inputs)

    @task(outlets=[ENRICHED_CATALOG])
    def publish_enriched(inputs: dict, job: dict) -> dict:
        result = run_stage("enrichment.publish_enriched", **inputs, job=job)
        emit(ENRICHED_CATALOG, snapshot_id=inputs["snapshot_id"], model_version=inputs["model_version"])
        return result

    @task
    def export_projector(inputs: dict) -> dict:
        return run_stage("enrichment.export_projector", **inputs)

    inputs = resolve_inputs()
    tokenize_config = transform_input_config(inputs)
    needs_embedding(inputs) >> tokenize_config
    tokenize = sagemaker_job("prepare_transform_input", "processing", tokenize_config)
    config = transform_config(inputs)
    tokenize >> config
    batch_transform = sagemaker_job("batch_transform", "transform", config)
    assemble_config = assembly_config(inputs)
    batch_transform >> assemble_config
    assemble = sagemaker_job("assemble_enriched", "processing", assemble_config)
    publish_enriched(inputs, assemble.output) >> export_projector(inputs)
    add_run_report(dag)
