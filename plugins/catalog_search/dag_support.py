"""What the DAG files share: assets, default arguments and retry policy, and the one way a
task runs a stage.

Imported at DAG parse time, so it must stay light: no I/O, no connections, no heavy imports
(stage modules are imported by name when the task runs).
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, BaseNotifier, BaseOperator, RetryDecision, RetryPolicy, get_current_context

from catalog_search.settings import (
    ASSET_CATALOG_SNAPSHOT,
    ASSET_EMBEDDING_MODEL,
    ASSET_ENRICHED_CATALOG,
    ASSET_LIVE_INDEX,
    AWS_CONN_ID,
    Settings,
)

CATALOG_SNAPSHOT = Asset(ASSET_CATALOG_SNAPSHOT, group="catalog")
EMBEDDING_MODEL = Asset(ASSET_EMBEDDING_MODEL, group="model")
ENRICHED_CATALOG = Asset(ASSET_ENRICHED_CATALOG, group="catalog")
LIVE_INDEX = Asset(ASSET_LIVE_INDEX, group="search")


class StageRetryPolicy(RetryPolicy):
    """Airflow 3's retry policy, by kind of error (``catalog_search.errors``): a permanent error
    (contract, validation, gate, missing input, bad params, a failed index check) fails the task
    at once with its message; a transient one (refused, throttled, 5xx, timeout) is retried
    with the task's exponential backoff; anything else gets the ordinary retries."""

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int, context: Any = None) -> RetryDecision:
        from catalog_search.errors import ErrorKind, classify

        kind = classify(exception)
        if kind is ErrorKind.PERMANENT:
            return RetryDecision.fail(f"{type(exception).__name__} is permanent: a retry cannot fix it ({exception})")
        if kind is ErrorKind.TRANSIENT:
            return RetryDecision.retry(reason=f"{type(exception).__name__} is transient: retrying with backoff")
        return RetryDecision.default()


class FailureAlert(BaseNotifier):
    """A task that failed for good (retries spent, or a permanent error such as a refused gate)
    alerts with its reason (``catalog_search.alerts``): to SNS through ``aws_default`` when
    ``CATALOG_SEARCH_ALERT_TOPIC_ARN`` is set, else to the log."""

    def notify(self, context: Any) -> None:
        from catalog_search import alerts

        ti = context["ti"]
        alert = alerts.failure_alert(ti.dag_id, ti.task_id, ti.run_id, ti.try_number, context.get("exception"))
        alerts.send(alert, Settings.from_env().alert_topic_arn, _sns_client)


def _sns_client() -> Any:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type="sns").get_conn()


DEFAULT_ARGS = {
    "owner": "catalog-search",
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,  # 30 s, 60 s, 120 s
    "max_retry_delay": timedelta(minutes=10),
    "retry_policy": StageRetryPolicy(),
    "on_failure_callback": FailureAlert(),
}
TAGS = ["catalog-search"]
# Pools (created from include/airflow/pools.json by `scripts/airflow.sh init` and the compose
# file's airflow-init): SageMaker jobs running at once, and index builds loading OpenSearch.
SAGEMAKER_POOL = "sagemaker_jobs"
OPENSEARCH_LOAD_POOL = "opensearch_loads"


def run_stage(stage: str, **inputs: Any) -> Any:
    """Run ``stages.{module}.{function}`` (e.g. ``"refresh.land_snapshot"``) for the current
    task: clients from the Airflow connections, settings from the environment, the run from
    the task's context."""
    from catalog_search.clients import Clients
    from catalog_search.run_report import recording_failure
    from catalog_search.settings import Settings
    from catalog_search.stages import Run

    context = get_current_context()
    run = Run(context["dag"].dag_id, context["run_id"],
              context.get("logical_date") or context["dag_run"].run_after)
    with recording_failure(context["ti"]):
        return stage_function(stage)(Clients.from_airflow(Settings.from_env()), run, **inputs)


def stage_function(stage: str) -> Any:
    module, _, function = stage.rpartition(".")
    return getattr(importlib.import_module(f"catalog_search.stages.{module}"), function)


def given(*keys: str, assets: tuple[Asset, ...] = ()) -> dict:
    """A run's inputs as given: the run's conf first (backfills, manual runs), then the newest
    asset event that triggered the run; a key given by neither is left out (the stage then
    takes the newest published value)."""
    context = get_current_context()
    conf = (context.get("dag_run") and context["dag_run"].conf) or {}
    return inputs_given(keys, conf, context.get("triggering_asset_events") or {}, assets)


def inputs_given(keys: tuple[str, ...], conf: dict, events: Any, assets: tuple[Asset, ...]) -> dict:
    """``given`` without the context. A run can be triggered by several events of one asset (two
    snapshots landed while the DAG was paused or busy); Airflow hands them over in no particular
    order, so the newest is the one with the latest timestamp, not the last in the list."""
    found: dict = {}
    for key in keys:
        if conf.get(key):
            found[key] = str(conf[key])
            continue
        for asset in assets:
            carrying = [e for e in (events.get(asset) or []) if (e.extra or {}).get(key)]
            if carrying:
                found[key] = str(max(carrying, key=lambda e: e.timestamp).extra[key])
                break
    return found


def emit(asset: Asset, **extra: Any) -> None:
    """Attach what downstream DAGs need (snapshot id, model version) to the asset event."""
    get_current_context()["outlet_events"][asset].extra = extra


def add_run_report(dag: Any) -> None:
    """End the DAG with ``write_run_report``, downstream of every other leaf: a teardown, so it
    runs whatever happened before it and its own outcome does not decide the run's."""
    from airflow.sdk import task

    from catalog_search.run_report import FAILURE_KEY

    @task
    def write_run_report() -> dict:
        context = get_current_context()
        ti, order = context["ti"], [t for t in context["dag"].topological_sort() if t.task_id != "write_run_report"]
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=[t.task_id for t in order], run_ids=[ti.run_id])
        outcomes = [{"task_id": t.task_id, "state": str(states.get(ti.run_id, {}).get(t.task_id)),
                     "result": ti.xcom_pull(task_ids=t.task_id),
                     "failure": ti.xcom_pull(task_ids=t.task_id, key=FAILURE_KEY)} for t in order]
        return run_stage("reporting.write_run_report", outcomes=outcomes)

    leaves = [t for t in dag.tasks if not t.downstream_list]
    report = write_run_report().as_teardown()
    for leaf in leaves:
        leaf >> report


JOB_KINDS = ("processing", "training", "model", "transform")


def sagemaker_job(task_id: str, kind: str, config: Any) -> BaseOperator:
    """The task that runs a SageMaker job from its request (``kind`` one of ``JOB_KINDS``): the
    provider's operator, deferrable and re-attaching on retry (``CATALOG_SEARCH_RUNNER=sagemaker``),
    or the local runner; both return the provider's result shape (``{"Processing": …}``,
    ``{"Training": …}``, ``{"Model": …}``, ``{"Transform": …}``), so the DAG reads the same either way.
    A config of ``job_requests.no_job(reason)`` skips the task with its reason, either way."""
    if kind not in JOB_KINDS:
        raise ValueError(f"job kind {kind!r}: expected one of {JOB_KINDS}")
    settings = Settings.from_env()
    if settings.runner == "sagemaker":
        from catalog_search.sagemaker import operators

        if kind == "transform":
            return operators.TransformJobOperator(task_id=task_id, config=config, aws_conn_id=AWS_CONN_ID,
                                                           pool=SAGEMAKER_POOL, max_runtime=settings.transform_max_runtime)
        operator = {"processing": operators.ProcessingJobOperator,
                    "training": operators.TrainingJobOperator,
                    "model": operators.ModelOperator}[kind]
        return operator(task_id=task_id, config=config, aws_conn_id=AWS_CONN_ID, pool=SAGEMAKER_POOL)
    return LocalJobOperator(task_id=task_id, kind=kind, config=config, pool=SAGEMAKER_POOL)


class LocalJobOperator(BaseOperator):
    """A SageMaker job run by the local runner (``sagemaker.local_runner.LocalRunner``) in the task."""

    template_fields = ("config",)

    def __init__(self, *, kind: str, config: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.kind, self.config = kind, config

    def execute(self, context: Any) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from catalog_search.sagemaker.job_requests import NO_JOB

        if NO_JOB in self.config:
            raise AirflowSkipException(f"no {self.kind} job to run: {self.config[NO_JOB]}")
        return run_stage("jobs.run_locally", kind=self.kind, config=self.config)
