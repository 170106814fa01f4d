"""DAG integrity: every DAG file parses without import errors, without touching the metadata
DB or any connection, and declares an owner, tags, retries, docs and an explicit schedule; in
both runner modes (the local runner, and SageMaker through the provider's operators)."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from catalog_search.settings import Settings

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
EXPECTED_DAGS = {"catalog_refresh", "embedding_training", "catalog_enrichment", "search_index_publish", "search_index_rollback"}
MANUAL_DAGS = {"search_index_rollback"}


class ParseTimeAccess(AssertionError):
    pass


def _refuse(what):
    def refuse(*args, **kwargs):
        raise ParseTimeAccess(f"{what} at DAG parse time: {args} {kwargs}")

    return refuse


@pytest.fixture(scope="module", params=["local", "sagemaker"])
def parsed(request):
    """DagBag of the dags folder in one runner mode, with every SQL statement and connection lookup recorded."""
    from airflow.dag_processing.dagbag import DagBag
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        with mock.patch.dict("os.environ", {"CATALOG_SEARCH_RUNNER": request.param}), \
             mock.patch("airflow.sdk.definitions.connection.Connection.get", _refuse("connection lookup")), \
             mock.patch("airflow.models.connection.Connection.get_connection_from_secrets", _refuse("connection lookup")), \
             mock.patch("airflow.sdk.bases.hook.BaseHook.get_connection", _refuse("connection lookup")):
            bag = DagBag(dag_folder=str(DAGS_FOLDER))
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    return bag, statements


def test_no_import_errors(parsed):
    bag, _ = parsed
    assert bag.import_errors == {}


def test_parsing_runs_no_metadata_db_query(parsed):
    _, statements = parsed
    assert statements == []


def test_exactly_the_expected_dags(parsed):
    bag, _ = parsed
    assert set(bag.dag_ids) == EXPECTED_DAGS


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_declares_owner_tags_retries_docs_and_schedule(parsed, dag_id):
    dag = parsed[0].dags[dag_id]
    assert dag.doc_md and len(dag.doc_md.strip()) > 80
    assert "catalog-search" in dag.tags
    assert not dag.catchup
    for task in dag.tasks:
        assert task.owner not in ("", "airflow"), f"{task.task_id}: set a real owner"
        assert task.retries >= 1, f"{task.task_id}: retries must be ≥ 1"
    # Airflow 3's default schedule is None, so "explicit" is checked in the source.
    assert "schedule=" in Path(dag.fileloc).read_text(), f"{dag_id}: pass schedule= explicitly"
    is_manual = type(dag.timetable).__name__ == "NullTimetable"
    assert is_manual == (dag_id in MANUAL_DAGS)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_has_no_cycles_and_one_root(parsed, dag_id):
    dag = parsed[0].dags[dag_id]
    dag.check_cycle()  # raises on a cycle
    assert len(dag.roots) == 1, [t.task_id for t in dag.roots]


def test_assets_chain_the_dags(parsed):
    from catalog_search.settings import ASSET_CATALOG_SNAPSHOT, ASSET_EMBEDDING_MODEL, ASSET_ENRICHED_CATALOG

    bag, _ = parsed

    def outlets(dag_id):
        return {o.uri for t in bag.dags[dag_id].tasks for o in t.outlets}

    assert ASSET_CATALOG_SNAPSHOT in outlets("catalog_refresh")
    assert ASSET_EMBEDDING_MODEL in outlets("embedding_training")
    assert ASSET_ENRICHED_CATALOG in outlets("catalog_enrichment")
    enrichment_trigger = bag.dags["catalog_enrichment"].timetable.asset_condition
    assert {a.uri for a in enrichment_trigger.objects} == {ASSET_CATALOG_SNAPSHOT, ASSET_EMBEDDING_MODEL}
    assert {a.uri for a in bag.dags["search_index_publish"].timetable.asset_condition.objects} == {ASSET_ENRICHED_CATALOG}


def test_sagemaker_jobs_are_deferrable_provider_operators_on_aws_and_the_local_runner_otherwise(parsed, request):
    bag, _ = parsed
    training = bag.dags["embedding_training"]
    jobs = [training.get_task("build_word_vectors"), training.get_task("prepare_training_data"), training.get_task("train"),
            training.get_task("embed_purity_sample"), bag.dags["catalog_enrichment"].get_task("batch_transform")]
    model = training.get_task("create_model")
    if request.node.callspec.params["parsed"] == "sagemaker":
        from catalog_search.sagemaker.operators import ModelOperator, ProcessingJobOperator, TrainingJobOperator, TransformJobOperator

        assert [type(t) for t in jobs] == [ProcessingJobOperator, ProcessingJobOperator, TrainingJobOperator,
                                           TransformJobOperator, TransformJobOperator]
        assert all(t.deferrable and t.aws_conn_id == "aws_default" for t in jobs)
        assert all(t.max_runtime == Settings().transform_max_runtime for t in jobs if isinstance(t, TransformJobOperator))
        assert type(model) is ModelOperator and model.aws_conn_id == "aws_default"
    else:
        assert {type(t).__name__ for t in [*jobs, model]} == {"LocalJobOperator"}


def test_the_training_data_waits_for_word_vectors_built_or_skipped(parsed):
    """build_word_vectors skips when no vectors are needed; the training data goes on either way."""
    training = parsed[0].dags["embedding_training"]
    prepare_config = training.get_task("processing_config")
    assert "build_word_vectors" in prepare_config.upstream_task_ids and prepare_config.trigger_rule == "none_failed"
    assert training.get_task("build_word_vectors").pool == "sagemaker_jobs"


def test_waiting_for_model_approval_holds_no_worker_slot(parsed):
    bag, _ = parsed
    sensor = bag.dags["embedding_training"].get_task("await_approval")
    assert sensor.mode == "reschedule" and sensor.timeout == 7 * 24 * 3600
    assert {t.task_id for t in sensor.downstream_list} == {"promote"}


POOLS_FILE = DAGS_FOLDER.parent / "include" / "airflow" / "pools.json"


def test_every_pool_a_task_uses_is_created_by_the_pools_file(parsed):
    import json

    bag, _ = parsed
    pools = json.loads(POOLS_FILE.read_text())
    used = {t.pool for dag in bag.dags.values() for t in dag.tasks} - {"default_pool"}
    assert used == set(pools) and pools["sagemaker_jobs"]["include_deferred"]  # a deferred job holds its slot
    assert bag.dags["search_index_publish"].get_task("build_and_validate_index").pool == "opensearch_loads"
    assert {bag.dags["embedding_training"].get_task(t).pool for t in ("prepare_training_data", "train")} == {"sagemaker_jobs"}


@pytest.mark.parametrize("dag_id", ["embedding_training", "catalog_enrichment", "search_index_publish"])
def test_runs_that_must_not_overlap_run_one_at_a_time(parsed, dag_id):
    assert parsed[0].dags[dag_id].max_active_runs == 1


def test_a_run_with_nothing_new_ends_before_any_work_and_dynamodb_moves_only_after_every_index_check(parsed):
    bag, _ = parsed
    enrichment, publish = bag.dags["catalog_enrichment"], bag.dags["search_index_publish"]
    assert "transform_input_config" in enrichment.get_task("needs_embedding").downstream_task_ids
    assert "build_and_validate_index" in publish.get_task("needs_publishing").downstream_task_ids
    upsert = publish.get_task("upsert_dynamodb")
    assert "check_search_quality" in upsert.upstream_task_ids and upsert.downstream_task_ids == {"swap_alias"}
    assert publish.params["rebuild"] is False  # the runbook's rebuild of what is live is asked for, never implied


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_every_run_ends_with_its_report_page_whatever_happened(parsed, dag_id):
    dag = parsed[0].dags[dag_id]
    report = dag.get_task("write_run_report")
    assert report.is_teardown  # runs after failures too; its own outcome does not decide the run's
    assert [t.task_id for t in dag.tasks if not t.downstream_list] == ["write_run_report"]


def test_every_stage_a_dag_names_exists_with_the_one_stage_signature():
    """``run_stage("module.function")`` resolves when the task runs: a name that does not is found here."""
    import ast
    import inspect

    from catalog_search.dag_support import stage_function

    sources = [*DAGS_FOLDER.glob("*.py"), DAGS_FOLDER.parent / "plugins" / "catalog_search" / "dag_support.py"]
    named = {node.args[0].value for path in sources for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "run_stage" and isinstance(node.args[0], ast.Constant)}
    assert len(named) > 25
    for stage in sorted(named):
        parameters = list(inspect.signature(stage_function(stage)).parameters)
        assert parameters[:2] == ["clients", "run"], f"{stage}: stage(clients, run, **keys), not {parameters}"
