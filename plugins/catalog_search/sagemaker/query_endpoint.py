"""Query encoding on AWS, as in the seed: a SageMaker real-time endpoint serves the live model.

``deploy`` (run by search_index_publish in the step that swaps the alias, and by a rollback)
points one endpoint, ``Settings.query_endpoint``, at a model version and waits until it serves
it. Each endpoint config has one production variant named after its model, so every answer of
the endpoint says which model encoded the query (``InvokedProductionVariant``): the search side
refuses an answer from any model but the one that built the live index (``_meta.model_version``)
instead of comparing vectors of two spaces; during those seconds of a swap the combined modes
fall back to keywords and k-NN answers 503.

Words are read with the model's own vocabulary (its training data's vocab.json), so the
endpoint gets the ids Object2Vec was trained on: ``{"instances": [{"in0": [ids]}]}`` in,
``{"predictions": [{"embeddings": [...]}]}`` out (``INFERENCE_PREFERRED_MODE=embedding``).
Serving imports no Airflow; ``deploy`` takes the provider's ``SageMakerHook`` as an argument.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from catalog_search.errors import EncoderUnavailable, PermanentError
from catalog_search.naming import job_name
from catalog_search.sagemaker import job_requests
from catalog_search.sagemaker.jobs import described
from catalog_search.settings import Settings
from catalog_search.store.object_store import ObjectStore
from catalog_search.training.encoder import model_vocabulary

JSON = "application/json"
IN_SERVICE = "InService"


class EndpointDeployFailed(PermanentError):
    """The endpoint did not come to serve the model; the alias was not moved."""


def endpoint_config_name(model_version: str) -> str:
    return job_name("qenc", model_version)


def deploy(hook: Any, settings: Settings, model_version: str, check_interval: int = 30) -> dict:
    """Make the query endpoint serve ``model_version``: its endpoint config once, then
    CreateEndpoint or UpdateEndpoint (SageMaker keeps answering with the old model until the new
    one is in service), waiting for it. A re-run converges: a change in flight is waited for, not
    started twice; an endpoint already serving the model is left alone."""
    name, config_name = settings.query_endpoint, endpoint_config_name(model_version)
    if described(hook.describe_endpoint_config, config_name) is None:
        hook.create_endpoint_config(job_requests.endpoint_config_config(settings, config_name, model_version))
    request = endpoint_request(settings, model_version)
    current = described(hook.describe_endpoint, name)
    if current is not None and current["EndpointStatus"] in hook.endpoint_non_terminal_states:
        current = _wait(hook, name, check_interval)
    if current is None:
        hook.create_endpoint(request, wait_for_completion=False)
        action = "created"
    elif current["EndpointConfigName"] == config_name and current["EndpointStatus"] == IN_SERVICE:
        action = "unchanged"
    else:
        hook.update_endpoint(request, wait_for_completion=False)
        action = "updated"
    serving = hook.describe_endpoint(name)
    if serving["EndpointStatus"] in hook.endpoint_non_terminal_states:  # the hook's wait would sleep first
        serving = _wait(hook, name, check_interval)
    if serving["EndpointStatus"] != IN_SERVICE or serving["EndpointConfigName"] != config_name:
        raise EndpointDeployFailed(
            f"endpoint {name!r} is {serving['EndpointStatus']} on config {serving['EndpointConfigName']!r}, not serving "
            f"{model_version!r} ({serving.get('FailureReason', 'no reason given')}); see the SageMaker console's "
            f"endpoint events, fix the cause and clear the task")
    return {"endpoint": name, "endpoint_config": config_name, "model_version": model_version, "action": action}


def endpoint_request(settings: Settings, model_version: str) -> dict:
    """CreateEndpoint's (and UpdateEndpoint's) request: the query endpoint on the model's config."""
    return {"EndpointName": settings.query_endpoint, "EndpointConfigName": endpoint_config_name(model_version)}


def _wait(hook: Any, name: str, check_interval: int) -> dict:
    return hook.check_status(name, "EndpointStatus", hook.describe_endpoint, check_interval,
                             non_terminal_states=hook.endpoint_non_terminal_states)


@dataclass
class EndpointEncoder:
    """The encoder interface of ``search.terms.QueryVectors`` (``vocab``, ``max_seq_len``,
    ``embed_ids``), answered by the endpoint."""

    runtime: Any  # a boto3 sagemaker-runtime client
    endpoint: str
    model_version: str
    vocab: dict[str, int] = field(repr=False)
    max_seq_len: int

    def embed_ids(self, sequences: list[list[int]]) -> np.ndarray:
        from botocore.exceptions import ClientError

        body = json.dumps({"instances": [{"in0": list(ids[: self.max_seq_len])} for ids in sequences]})
        try:
            # Each search its own InferenceId: the endpoint's logs and data capture can name the one request.
            answer = self.runtime.invoke_endpoint(EndpointName=self.endpoint, ContentType=JSON, Accept=JSON, Body=body,
                                                  InferenceId=uuid.uuid4().hex)
        except ClientError as err:
            raise EncoderUnavailable(f"the query encoder endpoint {self.endpoint!r} did not answer: {err}") from err
        variant = answer.get("InvokedProductionVariant")
        if variant != self.model_version:
            raise EncoderUnavailable(
                f"the query encoder endpoint {self.endpoint!r} answered with model {variant!r}, not {self.model_version!r} "
                f"that built the live index (a publish or rollback is switching them); try again shortly")
        predictions = json.loads(answer["Body"].read())["predictions"]
        if len(predictions) != len(sequences):
            raise EncoderUnavailable(f"the query encoder endpoint {self.endpoint!r} returned {len(predictions)} "
                                     f"embeddings for {len(sequences)} queries")
        return np.array([p["embeddings"] for p in predictions], dtype=np.float32)


class EndpointEncoders:
    """``model_version -> EndpointEncoder``, each model's vocabulary read once."""

    def __init__(self, store: ObjectStore, runtime: Any, endpoint: str):
        self.store, self.runtime, self.endpoint = store, runtime, endpoint
        self._encoders: dict[str, EndpointEncoder] = {}

    def __call__(self, model_version: str) -> EndpointEncoder:
        if model_version not in self._encoders:
            vocab, max_seq_len = model_vocabulary(self.store, model_version)
            self._encoders[model_version] = EndpointEncoder(self.runtime, self.endpoint, model_version, vocab, max_seq_len)
        return self._encoders[model_version]
