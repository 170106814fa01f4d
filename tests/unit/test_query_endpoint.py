"""The query encoder endpoint: deploy through an autospecced SageMakerHook (a call that does not
match the pinned provider's signatures fails here), and the InvokeEndpoint payload and checks."""

from __future__ import annotations

import io
import json
from unittest.mock import create_autospec

import numpy as np
import pytest
from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
from botocore.exceptions import ClientError

from catalog_search.errors import EncoderUnavailable, ErrorKind, classify
from catalog_search.sagemaker.query_endpoint import EndpointDeployFailed, EndpointEncoder, deploy, endpoint_config_name
from catalog_search.settings import Settings

MODEL, OLD_MODEL = "cs-o2v-20261129t010000z-fashion-new-1a2b3c4d", "cs-o2v-20261128t010000z-fashion-old-5e6f7a8b"
SETTINGS = Settings(query_encoder="endpoint", query_endpoint="qenc")


def not_found(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": "Could not find"}}, operation)


def endpoint(status: str, model: str, reason: str | None = None) -> dict:
    return {"EndpointName": "qenc", "EndpointStatus": status, "EndpointConfigName": endpoint_config_name(model),
            **({"FailureReason": reason} if reason else {})}


def hook_with(config_exists: bool, *endpoint_states) -> SageMakerHook:
    hook = create_autospec(SageMakerHook, instance=True)
    hook.endpoint_non_terminal_states = SageMakerHook.endpoint_non_terminal_states  # a class constant autospec leaves out
    hook.describe_endpoint_config.side_effect = None if config_exists else not_found("DescribeEndpointConfig")
    hook.describe_endpoint.side_effect = [s if s is not None else not_found("DescribeEndpoint") for s in endpoint_states]
    return hook


def test_a_first_deploy_creates_the_config_and_the_endpoint():
    hook = hook_with(False, None, endpoint("InService", MODEL))
    assert deploy(hook, SETTINGS, MODEL)["action"] == "created"
    config = hook.create_endpoint_config.call_args.args[0]
    assert config["EndpointConfigName"] == endpoint_config_name(MODEL)
    assert config["ProductionVariants"][0]["VariantName"] == config["ProductionVariants"][0]["ModelName"] == MODEL
    hook.create_endpoint.assert_called_once_with(
        {"EndpointName": "qenc", "EndpointConfigName": endpoint_config_name(MODEL)}, wait_for_completion=False)
    hook.update_endpoint.assert_not_called()


def test_a_new_model_updates_the_endpoint_and_waits_until_it_serves_it():
    hook = hook_with(False, endpoint("InService", OLD_MODEL), endpoint("Updating", MODEL))
    hook.check_status.return_value = endpoint("InService", MODEL)
    assert deploy(hook, SETTINGS, MODEL, check_interval=5)["action"] == "updated"
    hook.update_endpoint.assert_called_once_with(
        {"EndpointName": "qenc", "EndpointConfigName": endpoint_config_name(MODEL)}, wait_for_completion=False)
    assert hook.check_status.call_args.args[:2] == ("qenc", "EndpointStatus")
    hook.create_endpoint.assert_not_called()


def test_a_rerun_changes_nothing_when_the_endpoint_serves_the_model():
    hook = hook_with(True, endpoint("InService", MODEL), endpoint("InService", MODEL))
    assert deploy(hook, SETTINGS, MODEL)["action"] == "unchanged"
    for call in (hook.create_endpoint_config, hook.create_endpoint, hook.update_endpoint, hook.check_status):
        call.assert_not_called()


def test_a_retried_task_waits_for_the_change_in_flight_instead_of_starting_another():
    hook = hook_with(True, endpoint("Updating", MODEL), endpoint("InService", MODEL))
    hook.check_status.return_value = endpoint("InService", MODEL)
    assert deploy(hook, SETTINGS, MODEL)["action"] == "unchanged"
    hook.update_endpoint.assert_not_called()


def test_an_endpoint_that_does_not_come_to_serve_the_model_fails_with_its_reason():
    hook = hook_with(True, endpoint("InService", OLD_MODEL), endpoint("InService", OLD_MODEL, "ResourceLimitExceeded"))
    with pytest.raises(EndpointDeployFailed, match="ResourceLimitExceeded"):
        deploy(hook, SETTINGS, MODEL)


class RecordingRuntime:
    """sagemaker-runtime's invoke_endpoint: records each request, answers from a given model."""

    def __init__(self, variant: str, dim: int = 4, error: Exception | None = None):
        self.variant, self.dim, self.error, self.requests, self.inference_ids = variant, dim, error, [], set()

    def invoke_endpoint(self, *, EndpointName, ContentType, Accept, Body, InferenceId):
        assert len(InferenceId) == 32 and InferenceId not in self.inference_ids  # each request its own
        self.inference_ids.add(InferenceId)
        self.requests.append({"EndpointName": EndpointName, "ContentType": ContentType, "Accept": Accept, "Body": json.loads(Body)})
        if self.error:
            raise self.error
        n = len(self.requests[-1]["Body"]["instances"])
        body = json.dumps({"predictions": [{"embeddings": [float(i)] * self.dim} for i in range(n)]})
        return {"Body": io.BytesIO(body.encode()), "ContentType": "application/json", "InvokedProductionVariant": self.variant}


def test_the_payload_is_object2vec_s_and_the_answer_must_come_from_the_index_model():
    runtime = RecordingRuntime(MODEL)
    encoder = EndpointEncoder(runtime, "qenc", MODEL, {"shirt": 2}, max_seq_len=3)
    vectors = encoder.embed_ids([[2, 5, 7, 9], [2]])
    assert runtime.requests == [{"EndpointName": "qenc", "ContentType": "application/json", "Accept": "application/json",
                                 "Body": {"instances": [{"in0": [2, 5, 7]}, {"in0": [2]}]}}]
    np.testing.assert_array_equal(vectors, [[0.0] * 4, [1.0] * 4])
    with pytest.raises(EncoderUnavailable, match=f"answered with model '{OLD_MODEL}'"):
        EndpointEncoder(RecordingRuntime(OLD_MODEL), "qenc", MODEL, {}, 3).embed_ids([[2]])


def test_an_endpoint_that_does_not_answer_is_unavailable_and_a_retry_may_help():
    runtime = RecordingRuntime(MODEL, error=not_found("InvokeEndpoint"))
    with pytest.raises(EncoderUnavailable, match="'qenc' did not answer") as raised:
        EndpointEncoder(runtime, "qenc", MODEL, {}, 3).embed_ids([[2]])
    assert classify(raised.value) is ErrorKind.TRANSIENT
