"""Upsert the enriched catalog into DynamoDB, build a new versioned k-NN index, validate it
and swap the search alias to it atomically."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, get_current_context, task

from catalog_search.dag_support import DEFAULT_ARGS, ENRICHED_CATALOG, LIVE_INDEX, TAGS, emit, from_context

with DAG(
    dag_id="search_index_publish",
    doc_md="""
### search_index_publish
DynamoDB upsert → build index → validate → swap alias.

Runs when an **enriched catalog** is published. Items are upserted by `product_id` (re-runs
converge). The index `products-{snapshot}-{hash}` is rebuilt from scratch by each try, validated
(document count, every sampled product finds itself by vector) and only then does the alias move,
in one atomic `_aliases` call, and never to an older snapshot than the live one (backfills are
safe). Old indices beyond the retention count are deleted; the live one never is.
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
        from catalog_search import pipeline
        from catalog_search.settings import Settings

        from functools import cache

        store = pipeline.Services(Settings.from_env()).store
        context = get_current_context()
        latest = cache(lambda: pipeline.latest_enriched(store))  # read the pointer once, only if needed
        return {key: from_context(context, key, ENRICHED_CATALOG, lambda key=key: latest()[key])
                for key in ("snapshot_id", "model_version")}

    @task
    def upsert_dynamodb(inputs: dict) -> dict:
        from catalog_search import pipeline
        from catalog_search.settings import Settings

        return pipeline.upsert_items(pipeline.Services(Settings.from_env()), inputs["snapshot_id"], inputs["model_version"])

    @task
    def build_and_validate_index(inputs: dict) -> dict:
        from catalog_search import pipeline
        from catalog_search.settings import Settings

        run_key = pipeline.run_key_for(get_current_context()["run_id"])
        services = pipeline.Services(Settings.from_env())
        return pipeline.build_index(services, inputs["snapshot_id"], inputs["model_version"], run_key)

    @task(outlets=[LIVE_INDEX])
    def swap_alias(built: dict) -> dict:
        from catalog_search import pipeline
        from catalog_search.settings import Settings

        result = pipeline.swap_alias(pipeline.Services(Settings.from_env()), built["index"])
        emit(get_current_context(), LIVE_INDEX, index=result["live"], moved=result["moved"])
        return result

    inputs = resolve_inputs()
    built = build_and_validate_index(inputs)
    upsert_dynamodb(inputs) >> built
    swap_alias(built)
