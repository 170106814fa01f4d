"""Upsert the enriched catalog into DynamoDB, build a new versioned k-NN index, validate it
and swap the search alias to it atomically."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from catalog_search.dag_support import DEFAULT_ARGS, ENRICHED_CATALOG, LIVE_INDEX, TAGS, emit, given, run_stage

with DAG(
    dag_id="search_index_publish",
    doc_md="""
### search_index_publish
DynamoDB upsert → build index → validate → golden queries → swap alias.

Runs when an **enriched catalog** is published. Items are upserted by `product_id` (re-runs
converge). The index `products-{snapshot}-{hash}` is rebuilt from scratch by each try, validated
(document count, every sampled product finds itself by vector), then must answer the golden
queries (`CATALOG_SEARCH_GOLDEN_QUERIES`, the dev set by default) in the default search mode no
worse than the live index (within a tolerance) and above a floor; only then does the alias move,
in one atomic `_aliases` call, and never to an older snapshot than the live one (backfills are
safe). With `CATALOG_SEARCH_QUERY_ENCODER=endpoint` the query encoder's SageMaker endpoint is
first made to serve the new index's model, in the same task, so index and encoder switch together.
Old indices beyond the retention count are deleted; the live one never is.
Conf: `snapshot_id`, `model_version` (defaults: the triggering event, else `enrichment/latest.json`).
""",
    schedule=[ENRICHED_CATALOG],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=TAGS + ["search"],
    params={
        "snapshot_id": Param(None, type=["null", "string"]),
        "model_version": Param(None, type=["null", "string"]),
    },
) as dag:

    @task
    def resolve_inputs() -> dict:
        return run_stage("publish.resolve_inputs", **given("snapshot_id", "model_version", assets=(ENRICHED_CATALOG,)))

    @task
    def upsert_dynamodb(inputs: dict) -> dict:
        return run_stage("publish.upsert_items", **inputs)

    @task
    def build_and_validate_index(inputs: dict) -> dict:
        return run_stage("publish.build_index", **inputs)

    @task
    def check_search_quality(built: dict) -> dict:
        run_stage("publish.check_search_quality", index_name=built["index"])
        return built

    @task(outlets=[LIVE_INDEX])
    def swap_alias(built: dict) -> dict:
        result = run_stage("publish.swap_alias", index_name=built["index"])
        emit(LIVE_INDEX, index=result["live"], moved=result["moved"])
        return result

    inputs = resolve_inputs()
    built = build_and_validate_index(inputs)
    upsert_dynamodb(inputs) >> built
    swap_alias(check_search_quality(built))
