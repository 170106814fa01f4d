"""SageMaker jobs on AWS: the provider's deferrable operators taught to re-attach, and the one job a
task waits for itself, each with ``create_autospec(SageMakerHook)`` (a call that does not match the
pinned provider's signatures fails here). Against moto server: tests/integration/test_sagemaker_mode_moto.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest.mock import create_autospec

import pytest
from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger
from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred
from botocore.exceptions import ClientError

from catalog_search.dag_support import LocalJobOperator
from catalog_search.errors import BadInput
from catalog_search.naming import job_name
from catalog_search.sagemaker import job_requests
from catalog_search.sagemaker.jobs import JobFailed, SageMakerRunner, attempt_name
from catalog_search.sagemaker.operators import ModelOperator, ProcessingJobOperator, TrainingJobOperator, TransformJobOperator
from catalog_search.settings import Settings

NAME = job_name("o2v", "20261129T010000Z-fashion", "scheduled-2026-11-29")
SUCCESS = {"ResponseMetadata": {"HTTPStatusCode": 200}}


def not_found(operation: str = "Describe") -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": "Requested resource not found."}}, operation)


def jobs_by_name(jobs: dict, status_key: str):
    """A describe function over {name: status}: a missing name is SageMaker's ValidationException."""
    def describe(name):
        if name not in jobs:
            raise not_found()
        return {status_key: jobs[name], "TrainingJobName": name, "TransformJobName": name, "ProcessingJobName": name,
                "ModelName": "m", "ResourceConfig": {"InstanceCount": 1}}
    return describe


def hook_for(jobs: dict, status_key: str) -> SageMakerHook:
    hook = create_autospec(SageMakerHook, instance=True)
    for constant in ("non_terminal_states", "failed_states"):  # class constants autospec leaves out
        setattr(hook, constant, getattr(SageMakerHook, constant))
    describe = jobs_by_name(jobs, status_key)
    hook.describe_training_job.side_effect = describe
    hook.describe_transform_job.side_effect = describe
    hook.describe_processing_job.side_effect = describe

    def starts(name_key: str):  # a created job is in progress under its name
        return lambda config, **_: jobs.update({config[name_key]: "InProgress"}) or SUCCESS

    hook.create_training_job.side_effect = starts("TrainingJobName")
    hook.create_transform_job.side_effect = starts("TransformJobName")
    hook.create_processing_job.side_effect = starts("ProcessingJobName")
    return hook


def training_operator(hook: SageMakerHook) -> TrainingJobOperator:
    config = job_requests.training_job_config(Settings(), "us-east-1", NAME, "s3://b/training/", "s3://b/models/", {"epochs": "4"})
    operator = TrainingJobOperator(task_id="train", config=config, aws_conn_id="aws_default")
    operator.__dict__["hook"] = hook  # the operator's cached hook
    return operator


def test_attempt_names_skip_jobs_that_failed_or_stopped_and_stay_within_sagemaker_s_limit():
    describe = jobs_by_name({NAME: "Failed", f"{NAME}-a2": "Stopped"}, "TrainingJobStatus")
    name, found = attempt_name(describe, NAME, "TrainingJobStatus")
    assert (name, found) == (f"{NAME}-a3", None) and len(name) <= 63
    assert attempt_name(describe, "fresh", "TrainingJobStatus") == ("fresh", None)
    running = jobs_by_name({NAME: "InProgress"}, "TrainingJobStatus")
    assert attempt_name(running, NAME, "TrainingJobStatus")[0] == NAME


def test_a_new_training_job_is_created_and_the_task_defers_while_it_runs():
    hook = hook_for({}, "TrainingJobStatus")
    with pytest.raises(TaskDeferred) as deferred:
        training_operator(hook).execute({})
    assert hook.create_training_job.call_count == 1 and hook.create_training_job.call_args.args[0]["TrainingJobName"] == NAME
    assert isinstance(deferred.value.trigger, SageMakerTrigger) and deferred.value.trigger.job_name == NAME


def test_a_retried_task_re_attaches_to_its_running_job_instead_of_starting_another():
    hook = hook_for({NAME: "InProgress"}, "TrainingJobStatus")
    with pytest.raises(TaskDeferred) as deferred:
        training_operator(hook).execute({})
    hook.create_training_job.assert_not_called()
    assert deferred.value.trigger.job_name == NAME and deferred.value.method_name == "execute_complete"


def test_a_completed_job_is_the_result_without_a_second_job():
    hook = hook_for({NAME: "Completed"}, "TrainingJobStatus")
    assert training_operator(hook).execute({})["Training"]["TrainingJobName"] == NAME
    hook.create_training_job.assert_not_called()


def test_after_a_failed_job_the_next_try_runs_under_the_next_attempt_name():
    hook = hook_for({NAME: "Failed"}, "TrainingJobStatus")
    with pytest.raises(TaskDeferred) as deferred:
        training_operator(hook).execute({})
    assert hook.create_training_job.call_args.args[0]["TrainingJobName"] == f"{NAME}-a2"
    assert deferred.value.trigger.job_name == f"{NAME}-a2"


def test_the_transform_operator_re_attaches_too():
    hook = hook_for({"cs-embed-x": "InProgress"}, "TransformJobStatus")
    config = job_requests.transform_job_config("cs-embed-x", "m", "s3://b/in/", "s3://b/out/", "ml.m5.xlarge")
    operator = TransformJobOperator(task_id="batch_transform", config=config, aws_conn_id="aws_default", max_runtime=3600)
    operator.__dict__["hook"] = hook
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({})
    hook.create_transform_job.assert_not_called()
    assert deferred.value.trigger.job_name == "cs-embed-x"


def processing_operator(hook: SageMakerHook) -> ProcessingJobOperator:
    config = job_requests.processing_job_config(Settings(), "cs-prep-x", "prepare_training_data.py", "s3://b/code/h/",
                                                  {"catalog": "s3://b/catalog/products.parquet"}, "s3://b/training/x/", [])
    operator = ProcessingJobOperator(task_id="prepare_training_data", config=config, aws_conn_id="aws_default")
    operator.__dict__["hook"] = hook
    return operator


def test_the_processing_operator_starts_defers_re_attaches_and_renames_like_the_others():
    jobs = {}
    hook = hook_for(jobs, "ProcessingJobStatus")
    with pytest.raises(TaskDeferred) as started:
        processing_operator(hook).execute({})
    assert hook.create_processing_job.call_count == 1 and started.value.trigger.job_type == "Processing"
    with pytest.raises(TaskDeferred) as retried:  # the retry finds its running job
        processing_operator(hook).execute({})
    assert hook.create_processing_job.call_count == 1 and retried.value.trigger.job_name == "cs-prep-x"
    jobs["cs-prep-x"] = "Completed"
    assert processing_operator(hook).execute({})["Processing"]["ProcessingJobName"] == "cs-prep-x"
    jobs["cs-prep-x"] = "Failed"
    with pytest.raises(TaskDeferred) as renamed:
        processing_operator(hook).execute({})
    assert hook.create_processing_job.call_args.args[0]["ProcessingJobName"] == renamed.value.trigger.job_name == "cs-prep-x-a2"


def test_the_model_operator_creates_a_model_once():
    hook = create_autospec(SageMakerHook, instance=True)
    models = {}

    def describe_model(name):
        if name not in models:
            raise not_found()
        return models[name]

    hook.describe_model.side_effect = describe_model
    hook.create_model.side_effect = lambda config: models.update({config["ModelName"]: {"ModelName": config["ModelName"]}}) or SUCCESS
    config = job_requests.model_config(Settings(), "us-east-1", "cs-o2v-x", "s3://b/models/cs-o2v-x/output/model.tar.gz")
    for _ in range(2):
        operator = ModelOperator(task_id="create_model", config=dict(config), aws_conn_id="aws_default")
        operator.__dict__["hook"] = hook
        assert operator.execute({}) == {"Model": {"ModelName": "cs-o2v-x"}}
    assert hook.create_model.call_count == 1


def test_the_runner_waits_for_a_short_transform_and_names_a_failure():
    jobs = {}
    hook = hook_for(jobs, "TransformJobStatus")
    hook.create_transform_job.side_effect = lambda config, **_: jobs.update({config["TransformJobName"]: "Completed"}) or SUCCESS
    config = job_requests.transform_job_config("cs-qvec-x", "m", "s3://b/in/", "s3://b/out/", "ml.m5.xlarge")
    assert SageMakerRunner(hook, check_interval=1).transform(config)["TransformJobStatus"] == "Completed"
    hook.check_status.assert_called_once()
    failed = hook_for({"cs-qvec-y": "Completed"}, "TransformJobStatus")
    failed.describe_transform_job.side_effect = lambda name: {"TransformJobStatus": "Stopping", "FailureReason": "stopped by a user"}
    with pytest.raises(JobFailed, match="stopped by a user"):
        SageMakerRunner(failed, check_interval=1).transform({**config, "TransformJobName": "cs-qvec-y"})


def waited(deferred: TaskDeferred) -> float:
    """How long the deferred task waits at most: the trigger's polls, and the deferral's own timeout."""
    kwargs = deferred.trigger.serialize()[1]  # what the triggerer runs it with
    polled = kwargs["waiter_delay"] * kwargs["waiter_max_attempts"]
    return min(polled, deferred.timeout.total_seconds()) if deferred.timeout else polled


def test_every_job_operator_waits_as_long_as_its_job_may_run():
    """The provider's default, 60 polls of 30 s, gave up on a job after 30 minutes while it ran on;
    a job stops at its MaxRuntimeInSeconds (a transform at the setting), so the wait is that plus a margin."""
    settings = Settings(training_max_runtime=9 * 3600, processing_max_runtime=3 * 3600, transform_max_runtime=5 * 3600)
    cases = [
        (TrainingJobOperator, "TrainingJobStatus", job_requests.training_job_config(
            settings, "us-east-1", NAME, "s3://b/t/", "s3://b/m/", {}), {}, 9 * 3600),
        (ProcessingJobOperator, "ProcessingJobStatus", job_requests.processing_job_config(
            settings, "cs-prep-x", "prepare_training_data.py", "s3://b/code/", {}, "s3://b/t/", []), {}, 3 * 3600),
        (TransformJobOperator, "TransformJobStatus", job_requests.transform_job_config(
            "cs-embed-x", "m", "s3://b/in/", "s3://b/out/", "ml.m5.xlarge"), {"max_runtime": 5 * 3600}, 5 * 3600),
    ]
    for operator_class, status_key, config, extra, runtime in cases:
        operator = operator_class(task_id="job", config=config, aws_conn_id="aws_default", **extra)
        operator.__dict__["hook"] = hook_for({}, status_key)
        with pytest.raises(TaskDeferred) as started:
            operator.execute({})
        assert runtime < waited(started.value) <= runtime + job_requests.WAIT_MARGIN + job_requests.POLL_INTERVAL, operator_class


def test_a_re_attaching_try_waits_for_what_is_left_of_the_job_s_time():
    hook = hook_for({NAME: "InProgress"}, "TrainingJobStatus")
    describe = hook.describe_training_job.side_effect
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    hook.describe_training_job.side_effect = lambda name: {**describe(name), "CreationTime": two_hours_ago}
    with pytest.raises(TaskDeferred) as deferred:
        training_operator(hook).execute({})  # MaxRuntimeInSeconds: the default 4 h
    left = Settings().training_max_runtime + job_requests.WAIT_MARGIN - 2 * 3600
    assert left - 60 < waited(deferred.value) <= left + job_requests.POLL_INTERVAL


def test_a_config_of_no_job_skips_the_task_saying_why():
    for operator in (TrainingJobOperator(task_id="j", config=job_requests.no_job("vectors exist"), aws_conn_id="aws_default"),
                     LocalJobOperator(task_id="j", kind="processing", config=job_requests.no_job("vectors exist"))):
        with pytest.raises(AirflowSkipException, match="vectors exist"):
            operator.execute({})


def test_the_sagemaker_runner_sends_no_stand_in_for_an_unset_role_or_image():
    """An unset setting is one line naming it; the local runner's stand-ins never go to AWS."""
    with pytest.raises(BadInput, match="CATALOG_SEARCH_PROCESSING_IMAGE is not set"):
        job_requests.processing_job_config(Settings(runner="sagemaker", sagemaker_role_arn="arn:aws:iam::1:role/r"),
                                             "cs-prep-x", "p.py", "s3://b/c/", {}, "s3://b/o/", [])
    with pytest.raises(BadInput, match="CATALOG_SEARCH_SAGEMAKER_ROLE_ARN is not set"):
        job_requests.training_job_config(Settings(runner="sagemaker"), "us-east-1", "cs-o2v-x", "s3://b/t/", "s3://b/m/", {})
    local = job_requests.processing_job_config(Settings(), "cs-prep-x", "p.py", "s3://b/c/", {}, "s3://b/o/", [])
    assert local["AppSpecification"]["ImageUri"] == job_requests.LOCAL_PROCESSING_IMAGE and "scikit" not in str(local)
