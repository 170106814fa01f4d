"""Manual: point the search alias back at an earlier index."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from catalog_search.dag_support import DEFAULT_ARGS, LIVE_INDEX, TAGS, add_run_report, given, run_stage

with DAG(
    dag_id="search_index_rollback",
    doc_md="""
### search_index_rollback
Moves the search alias to `target_index` (default: the newest index older than the live one) in
one atomic call, and the query encoder's endpoint (`CATALOG_SEARCH_QUERY_ENCODER=endpoint`) back
to that index's model. An index of another model than the champion makes that model the champion
again (from the record it was promoted with), so the nights keep embedding and publishing with it.
Use it when a published index turns out bad; the next publish moves forward again.
""",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "search", "manual"],
    params={"target_index": Param(None, type=["null", "string"], description="Index to make live")},
) as dag:

    @task(outlets=[LIVE_INDEX])
    def rollback() -> dict:
        return run_stage("publish.rollback", **given("target_index"))

    rollback()
    add_run_report(dag)
