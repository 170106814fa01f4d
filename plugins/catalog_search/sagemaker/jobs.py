"""SageMaker jobs on AWS: under which name a try runs (``attempt_name``), a resource's
description or None (``described``), a model registered once, and ``SageMakerRunner``, which runs
the one short job a task waits for itself (the DAGs' long jobs go through ``operators`` and
defer instead). The local runner (``local_runner``) answers with the same shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from catalog_search.errors import PermanentError


class JobFailed(PermanentError):
    """A training or transform job failed; the message carries its failure reason and log."""


class Runner(Protocol):
    def transform(self, config: dict) -> dict: ...


def described(describe: Callable[[str], dict], name: str) -> dict | None:
    """A SageMaker resource's description, or None when it does not exist (SageMaker answers
    ValidationException); any other error (throttling, access) is raised."""
    from botocore.exceptions import ClientError

    try:
        return describe(name)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ValidationException":
            return None
        raise


def register_model(sagemaker: Any, config: dict) -> str:
    """CreateModel, once: a retried task finds the model it registered before."""
    found = described(lambda name: sagemaker.describe_model(ModelName=name), config["ModelName"])
    return found["ModelArn"] if found else sagemaker.create_model(**config)["ModelArn"]


JOB_NAME_MAX = 63
MAX_ATTEMPTS = 9
ENDED_BADLY = ("Failed", "Stopped")


def attempt_name(describe: Callable[[str], dict], name: str, status_key: str) -> tuple[str, dict | None]:
    """The name this try's job runs under, and the job found under it (None: start it there).

    Deterministic names let a retried task find the job it started; but a job that Failed or
    was Stopped keeps its name forever (SageMaker never reuses one), so the next try moves on to
    ``{name}-a2``, ``-a3`` …: the first name that is free or holds a job that did not end badly."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        suffix = "" if attempt == 1 else f"-a{attempt}"
        candidate = name[: JOB_NAME_MAX - len(suffix)] + suffix
        found = described(describe, candidate)
        if found is None or found[status_key] not in ENDED_BADLY:
            return candidate, found
    raise JobFailed(f"SageMaker job {name}: {MAX_ATTEMPTS} attempts failed or were stopped; read their FailureReason "
                    f"in the SageMaker console, fix the cause, then run again for a new run id")


class SageMakerRunner:
    """Runs a short transform job on SageMaker and waits for it in the task (the pre-swap gate's
    query vectors); the DAGs' long jobs go through ``operators`` and defer instead."""

    def __init__(self, hook: Any, check_interval: int = 30):
        self.hook, self.check_interval = hook, check_interval

    def transform(self, config: dict) -> dict:
        name, found = attempt_name(self.hook.describe_transform_job, config["TransformJobName"], "TransformJobStatus")
        if found is None:
            self.hook.create_transform_job({**config, "TransformJobName": name}, wait_for_completion=False)
        if found is None or found["TransformJobStatus"] in self.hook.non_terminal_states:
            self.hook.check_status(name, "TransformJobStatus", self.hook.describe_transform_job, self.check_interval)
        description = self.hook.describe_transform_job(name)
        if description["TransformJobStatus"] != "Completed":
            raise JobFailed(f"transform job {name}: {description.get('FailureReason', description['TransformJobStatus'])}")
        return description
