"""The SageMaker runner's idempotency, with a stand-in for the Amazon provider's hook (the
real service is not reachable here; this pins down what the runner asks of it)."""

import pytest
from botocore.exceptions import ClientError

from catalog_search.runners import JobFailed, SageMakerRunner


class FakeHook:
    class conn:  # noqa: N801 - mirrors hook.conn.exceptions.ClientError
        class exceptions:
            ClientError = ClientError

    def __init__(self, existing=None):
        self.jobs = dict(existing or {})
        self.created = []

    def describe_training_job(self, name):
        if name not in self.jobs:
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "not found"}}, "DescribeTrainingJob")
        return self.jobs[name]

    def create_training_job(self, config, wait_for_completion, check_interval):
        self.created.append(config["TrainingJobName"])
        self.jobs[config["TrainingJobName"]] = {"TrainingJobStatus": "Completed", "FinalMetricDataList": []}

    def check_training_status_with_log(self, name, *args):
        self.jobs[name] = {**self.jobs[name], "TrainingJobStatus": "Completed"}


def test_a_new_job_is_created_once():
    hook = FakeHook()
    runner = SageMakerRunner(hook)
    runner.train({"TrainingJobName": "j"})
    runner.train({"TrainingJobName": "j"})  # the retried task finds its job
    assert hook.created == ["j"]


def test_a_running_job_is_waited_for_not_started_again():
    hook = FakeHook({"j": {"TrainingJobStatus": "InProgress"}})
    assert SageMakerRunner(hook).train({"TrainingJobName": "j"})["TrainingJobStatus"] == "Completed"
    assert hook.created == []


def test_a_failed_job_raises_with_its_reason():
    hook = FakeHook({"j": {"TrainingJobStatus": "Failed", "FailureReason": "AlgorithmError: bad channel"}})
    with pytest.raises(JobFailed, match="AlgorithmError: bad channel"):
        SageMakerRunner(hook).train({"TrainingJobName": "j"})
