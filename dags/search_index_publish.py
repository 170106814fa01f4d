"""Build a new versioned k-NN index of an enriched catalog, check it, then write DynamoDB and
swap the search alias to it atomically."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from catalog_search.dag_support import DEFAULT_ARGS, ENRICHED_CATALOG, LIVE_INDEX, OPENSEARCH_LOAD_POOL, TAGS, add_run_report, emit, given, run_stage

with DAG(
    dag_id="search_index_publish",
    doc_md="""
### search_index_publish
needs publishing? → build index → validate → golden queries → DynamoDB → swap alias.

Runs when an **enriched catalog** is published, one run at a time. A run whose (snapshot, model)
is already live, or whose snapshot is older than the live one (a backfill), ends at
**needs_publishing** and says so: nothing is built and neither DynamoDB nor the alias moves back.
The index `products-{snapshot}-{hash}` is built by each try (pool `opensearch_loads`): a clone
of the live index with the changed products applied when the live index has the same model and
schema (an older snapshot), else loaded from scratch; then validated (document count; k-NN recall@10 of a product sample against exact
search, ties between identical vectors counted as hits), then must answer the golden queries
(`CATALOG_SEARCH_GOLDEN_QUERIES`, the dev set by default) in the default search mode no worse than
the live index (within a tolerance) and above a floor. Only then are the items upserted into
DynamoDB by `product_id` (re-runs converge) and the alias moved, in one atomic `_aliases` call,
never to an older snapshot than the live one. With `CATALOG_SEARCH_QUERY_ENCODER=endpoint` the
query encoder's SageMaker endpoint is first made to serve the new index's model, in the same
task, so index and encoder switch together. Old indices beyond the retention count are deleted;
the live one never is.
Conf: `snapshot_id`, `model_version` (defaults: the triggering event, else `enrichment/latest.json`);
`rebuild: true` builds from scratch and swaps in a new index of what is already live, with
`source: dynamodb` from the DynamoDB table instead of the enriched catalog in S3 (docs/operations.md).
""",
    schedule=[ENRICHED_CATALOG],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # two publishes would race for the alias and the table
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "search"],
    params={
        "snapshot_id": Param(None, type=["null", "string"]),
        "model_version": Param(None, type=["null", "string"]),
        "rebuild": Param(False, type="boolean", description="Rebuild and swap in an index of what is already live"),
        "source": Param("s3", enum=["s3", "dynamodb"],
                        description="Where the products come from: the enriched catalog in S3, or (to rebuild when it is gone) DynamoDB"),
    },
) as dag:

    @task
    def resolve_inputs() -> dict:
        return run_stage("publish.resolve_inputs", **given("snapshot_id", "model_version", assets=(ENRICHED_CATALOG,)))

    @task.short_circuit
    def needs_publishing(inputs: dict, params: dict | None = None) -> bool:
        return run_stage("publish.needs_publishing", **inputs, rebuild=bool((params or {}).get("rebuild")))

    @task(pool=OPENSEARCH_LOAD_POOL)
    def build_and_validate_index(inputs: dict, params: dict | None = None) -> dict:
        params = params or {}
        return run_stage("publish.build_index", **inputs, rebuild=bool(params.get("rebuild")), source=params.get("source") or "s3")

    @task
    def check_search_quality(built: dict) -> dict:
        return {**built, "search_quality": run_stage("publish.check_search_quality", index_name=built["index"])}

    @task
    def upsert_dynamodb(inputs: dict) -> dict:
        return run_stage("publish.upsert_items", **inputs)

    @task(outlets=[LIVE_INDEX])
    def swap_alias(built: dict) -> dict:
        result = run_stage("publish.swap_alias", index_name=built["index"])
        emit(LIVE_INDEX, index=result["live"], moved=result["moved"])
        return result

    inputs = resolve_inputs()
    built = build_and_validate_index(inputs)
    checked = check_search_quality(built)
    # DynamoDB takes the snapshot only once its index passed every check, right before the swap.
    needs_publishing(inputs) >> built
    checked >> upsert_dynamodb(inputs) >> swap_alias(checked)
    add_run_report(dag)
