"""The Amazon provider's SageMaker operators, deferrable, taught to re-attach to their own job.

The provider's job operators fail or add a timestamp when a job of the same name exists
(``action_if_job_exists``), and its model operator fails when the model exists. Our job names are deterministic per snapshot and run so that a
retried task finds the job it started; ``jobs.attempt_name`` looks the name up first:

- a job in progress is deferred on (the triggerer waits, not a worker slot), never started twice;
- a completed job is the result, as the provider's operator would have returned it;
- a job that Failed or was Stopped keeps its name forever (SageMaker never reuses one), so the
  next try runs under the next attempt name (``{name}-a2``, ``-a3`` …).

Imported only when ``CATALOG_SEARCH_RUNNER=sagemaker`` (``dag_support.sagemaker_job``); the local
runner's ``dag_support.LocalJobOperator`` returns the same shapes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.sagemaker import (
    SageMakerModelOperator,
    SageMakerProcessingOperator,
    SageMakerTrainingOperator,
    SageMakerTransformOperator,
    serialize,
)
from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger
from airflow.sdk.exceptions import AirflowSkipException

from catalog_search.run_report import recording_failure
from catalog_search.sagemaker import job_requests
from catalog_search.sagemaker.jobs import attempt_name, described

if TYPE_CHECKING:  # what the mixins below are mixed into, for the type checker only
    from airflow.providers.amazon.aws.operators.sagemaker import SageMakerBaseOperator as _JobOperator
else:
    _JobOperator = object


class _RecordsFailure(_JobOperator):
    """The error of a failed try left for the run report (``run_report.recording_failure``), as
    ``dag_support.run_stage`` does for every other task."""

    def execute(self, context: Any) -> Any:
        with recording_failure(context.get("ti")):
            return super().execute(context)

    def execute_complete(self, context: Any, event: Any = None) -> Any:
        with recording_failure(context.get("ti")):
            return super().execute_complete(context, event)  # type: ignore[misc]  # each job operator it is mixed into has one


class _Reattaching(_JobOperator):
    """``execute`` of a provider SageMaker operator, after a look-up of the deterministic name.

    The wait is as long as the job may run: the trigger polls every ``check_interval`` for the
    job's ``MaxRuntimeInSeconds`` plus ``WAIT_MARGIN`` (a transform job, which has no limit of its
    own, for ``Settings.transform_max_runtime``), a re-attaching try for what is left of it. The
    provider's default (60 polls of 30 s) gave up on any job over 30 minutes while the job ran on."""

    job_type: str  # SageMakerTrigger's job_type
    name_key: str  # the request's name field
    status_key: str  # the description's status field
    # the provider's job operators' attributes, which the mixin uses
    check_interval: int
    max_attempts: int
    max_ingestion_time: int | None
    region_name: str | None
    verify: bool | str | None
    botocore_config: dict | None

    if TYPE_CHECKING:
        def serialize_result(self, job_name: str) -> dict: ...

    def _describe(self, name: str) -> dict:
        raise NotImplementedError

    def _max_runtime(self, request: dict) -> int:
        return request["StoppingCondition"]["MaxRuntimeInSeconds"]

    def execute(self, context: Any) -> dict:
        request = self.config
        if job_requests.NO_JOB in request:
            raise AirflowSkipException(f"no SageMaker {self.job_type.lower()} job to run: {request[job_requests.NO_JOB]}")
        budget = self._max_runtime(request) + job_requests.WAIT_MARGIN
        name, found = attempt_name(self._describe, request[self.name_key], self.status_key)
        request[self.name_key] = name
        if found is None:
            self.log.info("starting SageMaker %s job %s (waiting up to %d s)", self.job_type.lower(), name, budget)
            self.max_attempts, self.max_ingestion_time = job_requests.poll_attempts(budget, self.check_interval), budget
            return super().execute(context)
        status = found[self.status_key]
        if status == "Completed":
            self.log.info("SageMaker %s job %s already completed: its result is reused", self.job_type.lower(), name)
            return self.serialize_result(name)  # what the provider's operator returns
        started = found.get("CreationTime") or datetime.now(UTC)
        left = max(job_requests.WAIT_MARGIN, budget - (datetime.now(UTC) - started).total_seconds())
        self.log.info("re-attaching to SageMaker %s job %s (%s; waiting up to %d s more)", self.job_type.lower(), name,
                      status, left)
        self.defer(
            trigger=SageMakerTrigger(job_name=name, job_type=self.job_type, waiter_delay=self.check_interval,
                                     waiter_max_attempts=job_requests.poll_attempts(left, self.check_interval),
                                     aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify,
                                     botocore_config=self.botocore_config),
            method_name="execute_complete",
            timeout=timedelta(seconds=left),
        )


class TrainingJobOperator(_RecordsFailure, _Reattaching, SageMakerTrainingOperator):
    """CreateTrainingJob, deferrable, re-attaching (returns ``{"Training": description}``)."""

    job_type, name_key, status_key = "Training", "TrainingJobName", "TrainingJobStatus"

    def __init__(self, **kwargs: Any):
        super().__init__(deferrable=True, check_if_job_exists=False, print_log=False, check_interval=job_requests.POLL_INTERVAL,
                         **kwargs)

    def _describe(self, name: str) -> dict:
        return self.hook.describe_training_job(name)


class TransformJobOperator(_RecordsFailure, _Reattaching, SageMakerTransformOperator):
    """CreateTransformJob of an existing model, deferrable, re-attaching
    (returns ``{"Model": …, "Transform": description}``)."""

    job_type, name_key, status_key = "Transform", "TransformJobName", "TransformJobStatus"

    def __init__(self, *, max_runtime: int, **kwargs: Any):
        super().__init__(deferrable=True, check_if_job_exists=False, check_if_model_exists=False,
                         check_interval=job_requests.POLL_INTERVAL, **kwargs)
        self.max_runtime = max_runtime  # Settings.transform_max_runtime

    def _max_runtime(self, request: dict) -> int:
        return self.max_runtime

    def _describe(self, name: str) -> dict:
        return self.hook.describe_transform_job(name)


class ProcessingJobOperator(_RecordsFailure, _Reattaching, SageMakerProcessingOperator):
    """CreateProcessingJob, deferrable, re-attaching (returns ``{"Processing": description}``)."""

    job_type, name_key, status_key = "Processing", "ProcessingJobName", "ProcessingJobStatus"

    def __init__(self, **kwargs: Any):
        super().__init__(deferrable=True, print_log=False, check_interval=job_requests.POLL_INTERVAL, **kwargs)

    def _describe(self, name: str) -> dict:
        return self.hook.describe_processing_job(name)

    def serialize_result(self, job_name: str) -> dict:
        return {"Processing": serialize(self.hook.describe_processing_job(job_name))}


class ModelOperator(_RecordsFailure, SageMakerModelOperator):
    """CreateModel, once: a retried task (or a model registered before) finds the model of its
    name (returns ``{"Model": description}``)."""

    def execute(self, context: Any) -> dict:
        found = described(self.hook.describe_model, self.config["ModelName"])
        if found is not None:
            self.log.info("SageMaker model %s exists: reused", self.config["ModelName"])
            return {"Model": serialize(found)}
        return super().execute(context)
