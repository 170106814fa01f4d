"""Query encoding on AWS, against moto server and the real OpenSearch node: the publish step's
deploy through the provider's SageMakerHook on ``aws_default``, the search side invoking the
endpoint, and the pre-swap gate embedding its queries by Batch Transform.

moto runs no model: InvokeEndpoint answers with the results a test queues through moto's
``/moto-api/static/sagemaker/endpoint-results``; here they are the in-process encoder's vectors
of the same query, so results can be compared. moto implements no UpdateEndpoint: the update
path is tested with an autospecced hook in tests/unit/test_query_endpoint.py."""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest
import requests
from fastapi.testclient import TestClient

from catalog_search.clients import Clients
from catalog_search.sagemaker import query_endpoint
from catalog_search.search.api import Service, create_app
from catalog_search.search.query import SearchRequest, search
from catalog_search.search.terms import QueryVectors
from catalog_search.stages import Run, publish


@pytest.fixture(scope="module")
def endpoint_clients(chain_service, tmp_path_factory) -> Clients:
    settings = dataclasses.replace(chain_service.settings, query_encoder="endpoint", query_endpoint=f"qenc-{uuid.uuid4().hex[:8]}",
                                   work_dir=tmp_path_factory.mktemp("endpoint-work"))
    return Clients.from_environment(settings)


@pytest.fixture(scope="module")
def model_version(chain_service) -> str:
    return chain_service.health()["model_version"]


@pytest.fixture(scope="module")
def deployed(endpoint_clients, model_version) -> dict:
    return query_endpoint.deploy(endpoint_clients.sagemaker_hook, endpoint_clients.settings, model_version, check_interval=1)


def drain_answers(clients: Clients) -> None:
    """Take what is left in moto's queue of answers (one queue for the whole server, which outlives a
    session on a developer's machine): an earlier test's answer would be this one's otherwise. moto
    keys an answer by the request's body and headers (not its endpoint): each of these is new."""
    runtime = clients.make_aws("sagemaker-runtime")
    for _ in range(1000):
        answer = runtime.invoke_endpoint(EndpointName="drain", Body=json.dumps({"drain": uuid.uuid4().hex}),
                                         ContentType="application/json")
        if answer["Body"].read() == b"body":  # moto's own answer: the queue is empty
            return
    raise AssertionError("moto's queue holds more than 1,000 endpoint answers queued by something else: restart it "
                         "(bash scripts/services.sh down && bash scripts/services.sh up)")


def queue_answers(clients: Clients, *answers: tuple[str, list[list[float]]]) -> None:
    """moto's answers to the next InvokeEndpoint requests: (variant, embeddings) each."""
    drain_answers(clients)
    results = [{"Body": json.dumps({"predictions": [{"embeddings": v} for v in vectors]}),
                "ContentType": "application/json", "InvokedProductionVariant": variant, "CustomAttributes": ""}
               for variant, vectors in answers]
    moto = clients.endpoints.aws
    requests.post(f"{moto}/moto-api/static/sagemaker/endpoint-results",
                  json={"region": clients.region, "results": results}, timeout=10).raise_for_status()


def in_process_vector(chain_service, model_version: str, text: str) -> list[float]:
    return chain_service.query_vectors(model_version, text)[0]


def test_the_publish_deploy_creates_the_endpoint_on_the_champion_once(deployed, endpoint_clients, model_version):
    sagemaker = endpoint_clients.sagemaker
    name = endpoint_clients.settings.query_endpoint
    assert deployed["action"] == "created"
    described = sagemaker.describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == deployed["endpoint_config"]
    variant = sagemaker.describe_endpoint_config(EndpointConfigName=deployed["endpoint_config"])["ProductionVariants"][0]
    assert variant["VariantName"] == variant["ModelName"] == model_version
    container = sagemaker.describe_model(ModelName=model_version)["PrimaryContainer"]
    assert container["Environment"] == {"INFERENCE_PREFERRED_MODE": "embedding"}
    again = query_endpoint.deploy(endpoint_clients.sagemaker_hook, endpoint_clients.settings, model_version, check_interval=1)
    assert again["action"] == "unchanged"


def test_the_swap_step_points_the_endpoint_at_the_live_model(deployed, endpoint_clients, chain_service, model_version):
    live = chain_service.health()["index"]
    result = publish.swap_alias(endpoint_clients, Run("search_index_publish", f"test__{uuid.uuid4().hex[:8]}"), index_name=live)
    assert result["reason"] == "already live" and result["query_encoder"]["model_version"] == model_version


def test_search_through_the_endpoint_ranks_as_the_in_process_encoder(deployed, endpoint_clients, chain_service, model_version):
    """Rank by rank the same product and score. Products of one title ("Scullers Men Navy Blue
    Shirt" is three) share a vector, and which of them an approximate k-NN search finds first can
    change with the segments between two searches: such products are one answer here."""
    text = "men navy blue shirt"
    queue_answers(endpoint_clients, (model_version, [in_process_vector(chain_service, model_version, text)]))
    through_endpoint = QueryVectors.for_clients(endpoint_clients)
    alias, request = chain_service.settings.index_alias, SearchRequest(text, "normalized", size=10)

    def ranking(query_vectors) -> list[tuple[str, float]]:
        response = search(chain_service.opensearch, alias, query_vectors, request)
        assert response["query"].get("knn", "used") == "used", response["query"]  # by vector, not a keyword fallback
        return [(hit["_source"]["title"], round(hit["_score"], 5)) for hit in response["hits"]["hits"]]

    assert ranking(through_endpoint) == ranking(chain_service.query_vectors)


def test_an_answer_from_another_model_is_never_searched_with(deployed, endpoint_clients, chain_service, model_version):
    text = "black leather wallet"
    # one queued answer per request: each carries its own InferenceId, so moto takes a new answer for each
    stale = ("cs-o2v-some-other-model", [in_process_vector(chain_service, model_version, text)])
    queue_answers(endpoint_clients, stale, stale)
    api = TestClient(create_app(lambda: Service.from_clients(endpoint_clients)), raise_server_exceptions=False)
    hybrid = api.get("/search", params={"q": text, "mode": "normalized"}).json()
    assert hybrid["query"]["fallback"] == "keyword" and "cs-o2v-some-other-model" in hybrid["query"]["knn"]
    assert hybrid["results"]
    knn = api.get("/search", params={"q": text, "mode": "knn"})
    assert knn.status_code == 503 and "answered with model 'cs-o2v-some-other-model'" in knn.json()["detail"]


def test_the_gate_embeds_its_queries_by_batch_transform_and_scores_as_in_process(endpoint_clients, chain, chain_service):
    live = chain_service.health()["index"]
    run = Run("search_index_publish", f"test__{uuid.uuid4().hex[:8]}")
    in_process = Clients.from_environment(dataclasses.replace(endpoint_clients.settings, query_encoder="in_process"))
    by_transform = publish.check_search_quality(endpoint_clients, run, index_name=live)
    assert by_transform["ndcg@10"] == pytest.approx(publish.check_search_quality(in_process, run, index_name=live)["ndcg@10"], abs=1e-3)
