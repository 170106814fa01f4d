"""A dry run: every AWS request one training run and one night would send, with no call made.

``requests`` builds them with the same functions the DAG tasks use (the stages' request
builders, ``sagemaker.job_requests``, ``model_registry``, ``dynamo``, ``query_endpoint``, ``alerts``),
for the settings and the ``aws_default`` region given, on clients whose AWS side refuses every
call (``NoCalls``). What depends on data (the vocabulary's size, a product's item) takes the
largest value the pipeline allows, so that the requests are as long as they can get.

``catalog-search plan [--runner sagemaker] [--json OUT]`` prints them; tests check each against
its service's model (tests/support/aws_contract.py).
"""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from catalog_search import alerts, assembly
from catalog_search.clients import Clients, Endpoints
from catalog_search.naming import short_hash, snapshot_id_for
from catalog_search.sagemaker import job_requests, model_registry, query_endpoint
from catalog_search.sagemaker.batch_embeddings import sequences_transform_request
from catalog_search.sagemaker.processing_code import processing_code
from catalog_search.settings import MINILM, Settings
from catalog_search.stages import Run, enrichment, refresh, training
from catalog_search.store import dynamo
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.store.object_store import ObjectStore
from catalog_search.training import word_vectors
from catalog_search.training.encoder import VOCAB

EXAMPLE_ACCOUNT = "123456789012"  # AWS's documentation account: placeholders never name a real one
# Stand-ins for settings a real deployment sets (docs/aws.md), so that a plan reads as the requests
# would; ``Plan.placeholders`` lists the ones used.
PLACEHOLDERS = {
    "sagemaker_role_arn": f"arn:aws:iam::{EXAMPLE_ACCOUNT}:role/catalog-search-sagemaker-execution",
    "processing_image": f"{EXAMPLE_ACCOUNT}.dkr.ecr.{{region}}.amazonaws.com/catalog-search-processing:latest",
    "alert_topic_arn": f"arn:aws:sns:{{region}}:{EXAMPLE_ACCOUNT}:catalog-search-alerts",
}
# Run ids as Airflow writes them, the longest kind of each DAG's runs.
TRAINING_RUN = "scheduled__{when}+00:00"
NIGHT_RUN = "asset_triggered__{when}.999999+00:00_AbCdEfGh"


class NoCalls:
    """An AWS client that makes no call: a plan that tried one would be no dry run."""

    def __init__(self, service: str):
        self.service = service

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a plan makes no AWS call, but asked for {self.service}.{name}")


@dataclass
class Plan:
    requests: list[dict] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)  # the settings a placeholder stood in for

    def add(self, step: str, service: str, operation: str, params: dict) -> None:
        self.requests.append({"step": step, "service": service, "operation": operation, "params": params})

    def as_json(self) -> str:
        return json.dumps({"requests": self.requests, "placeholders": self.placeholders}, indent=1, default=json_value)


def json_value(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()  # as the AWS CLI shows a blob
    return str(value)


def requests(settings: Settings, region: str, source: str | None = None, when: datetime | None = None) -> Plan:
    """The requests of one training run and the night after it, for ``settings`` in ``region``;
    ``source`` names the catalog (snapshot ids take its slug) and ``when`` the training run's date."""
    plan = Plan()
    filled: dict[str, Any] = {}
    for name, value in PLACEHOLDERS.items():
        if not getattr(settings, name):
            filled[name] = value.format(region=region)
            plan.placeholders.append(f"CATALOG_SEARCH_{name.upper()}")
    settings = dataclasses.replace(settings, **filled)
    clients = Clients(settings, NoCalls, lambda: NoCalls("opensearch"), Endpoints(None, ""), lambda: region)
    store = clients.store
    when = (when or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    snapshot_id = snapshot_id_for(source or settings.source_dir.name, when)
    _training_run(plan, clients, store, snapshot_id, Run("embedding_training", TRAINING_RUN.format(when=when.isoformat()[:19]), when))
    night = when + timedelta(days=1)
    _night(plan, clients, store, snapshot_id_for(source or settings.source_dir.name, night),
           training.model_version_for(settings, snapshot_id, Run("embedding_training", TRAINING_RUN.format(when=when.isoformat()[:19]))),
           Run("search_index_publish", NIGHT_RUN.format(when=night.isoformat()[:19]), night))
    return plan


def _training_run(plan: Plan, clients: Clients, store: ObjectStore, snapshot_id: str, run: Run) -> None:
    settings = clients.settings
    code_uri = store.uri(processing_code(settings)[0])
    vectors_uri = None
    if settings.pretrained_embeddings == MINILM:
        plan.add("build_word_vectors", "sagemaker", "CreateProcessingJob",
                 training.word_vectors_request(settings, store, snapshot_id, code_uri))
        vectors_uri = store.uri(ObjectKeys.minilm_vectors(snapshot_id) + training.WORD_VECTORS_FILE)
    elif settings.pretrained_embeddings:
        vectors_uri = settings.pretrained_embeddings if settings.pretrained_embeddings.startswith("s3://") else \
            store.uri(ObjectKeys.uploaded_vectors("vectors-" + short_hash(settings.pretrained_embeddings), "vectors.txt"))
    frozen = store.uri(ObjectKeys.evaluation_set("x" * 16))
    plan.add("prepare_training_data", "sagemaker", "CreateProcessingJob",
             training.prepare_request(settings, store, snapshot_id, run.key, code_uri, vectors_uri, frozen))
    prepared = {"training_uri": store.uri(ObjectKeys.training(snapshot_id, run.key)), "vocab_size": settings.vocab_max_size,
                "pretrained_dim": word_vectors.DIM if settings.pretrained_embeddings == MINILM else None}
    config = training.training_config(clients, run, snapshot_id, prepared)
    plan.add("train", "sagemaker", "CreateTrainingJob", config)
    model_version = config["TrainingJobName"]
    trained = {"model_version": model_version, "model_data_url": store.uri(ObjectKeys.model_artifact(model_version))}
    plan.add("create_model", "sagemaker", "CreateModel", training.model_config(clients, run, trained))
    plan.add("embed_purity_sample", "sagemaker", "CreateTransformJob",
             sequences_transform_request(settings, store, model_version, short_hash(model_version), training.PURITY))
    plan.add("gate_and_register", "sagemaker", "CreateModelPackageGroup", model_registry.group_request(settings))
    lineage = {"model_version": model_version, "snapshot_id": snapshot_id, "training_run": run.run_id,
               "training_uri": prepared["training_uri"], "model_data_url": trained["model_data_url"],
               "evaluation_set": f"{ObjectKeys.evaluation_set('x' * 16)}@{short_hash('pairs')}"}
    metrics = {"test:accuracy": 0.9, "test:cross_entropy": 0.3, "validation:accuracy": 0.9, "validation:cross_entropy": 0.3}
    plan.add("gate_and_register", "sagemaker", "CreateModelPackage", model_registry.version_request(
        settings, clients.region, lineage, metrics, store.uri(ObjectKeys.model_metrics(model_version))))
    plan.add("promote", "s3", "PutObject", _put(store, ObjectKeys.model_champion_record(model_version)))
    plan.add("promote", "s3", "PutObject", _put(store, ObjectKeys.CHAMPION))


def _night(plan: Plan, clients: Clients, store: ObjectStore, snapshot_id: str, model_version: str, run: Run) -> None:
    settings = clients.settings
    earlier = snapshot_id_for("earlier", datetime(2026, 1, 1, tzinfo=UTC))  # the night before, whose vectors carry over
    plan.add("land_snapshot", "s3", "PutObject", _put(store, ObjectKeys.snapshot_products(snapshot_id)))
    plan.add("check_snapshot", "sagemaker", "CreateProcessingJob", refresh.snapshot_check_request(
        settings, store, snapshot_id, earlier, run.key, store.uri(processing_code(settings)[0])))
    plan.add("publish_snapshot", "s3", "PutObject", _put(store, ObjectKeys.LATEST_SNAPSHOT))
    vocabulary = f"{store.uri(ObjectKeys.training(snapshot_id, run.key))}auxiliary/{VOCAB}"
    plan.add("prepare_transform_input", "sagemaker", "CreateProcessingJob", enrichment.transform_input_request(
        settings, store, snapshot_id, model_version, run.key, store.uri(processing_code(settings)[0]), vocabulary, settings.max_seq_len,
        earlier))
    plan.add("batch_transform", "sagemaker", "CreateTransformJob",
             enrichment.catalog_transform_request(settings, store, snapshot_id, model_version))
    plan.add("assemble_enriched", "sagemaker", "CreateProcessingJob", enrichment.assembly_request(
        settings, store, snapshot_id, model_version, run.key, store.uri(processing_code(settings)[0]), earlier, settings.embedding_dim))
    assembled = ObjectKeys.assembled(snapshot_id, model_version, run.key)
    plan.add("publish_enriched", "s3", "CopyObject", {"Bucket": store.bucket, "Key": ObjectKeys.enriched_products(snapshot_id, model_version),
                                                      "CopySource": f"{store.bucket}/{assembled}{assembly.PRODUCTS_FILE}"})
    if settings.query_encoder == "endpoint":
        plan.add("check_search_quality", "sagemaker", "CreateTransformJob",
                 sequences_transform_request(settings, store, model_version, short_hash("golden", model_version), "qvec"))
    table = settings.table_name
    items = _largest_items(settings, snapshot_id, model_version)
    plan.add("upsert_dynamodb", "dynamodb", "CreateTable", dynamo.create_table_request(table))
    plan.add("upsert_dynamodb", "dynamodb", "BatchWriteItem", dynamo.batch_write_request(table, items))
    plan.add("upsert_dynamodb", "dynamodb", "PutItem", dynamo.put_request(table, items[0], snapshot_id))
    operation, request = dynamo.remove_request(table, items[1]["product_id"], snapshot_id, settings.removed_products)
    plan.add("upsert_dynamodb", "dynamodb", "".join(part.title() for part in operation.split("_")), request)
    plan.add("upsert_dynamodb", "dynamodb", "BatchGetItem",
             dynamo.states_request(table, [f"{i:0{PRODUCT_ID_LENGTH}d}" for i in range(dynamo.GET_BATCH)]))
    plan.add("upsert_dynamodb", "s3", "PutObject", _put(store, ObjectKeys.table_state(table)))
    if settings.query_encoder == "endpoint":
        config_name = query_endpoint.endpoint_config_name(model_version)
        plan.add("swap_alias", "sagemaker", "CreateEndpointConfig",
                 job_requests.endpoint_config_config(settings, config_name, model_version))
        plan.add("swap_alias", "sagemaker", "UpdateEndpoint", query_endpoint.endpoint_request(settings, model_version))
        plan.add("swap_alias (the first night)", "sagemaker", "CreateEndpoint", query_endpoint.endpoint_request(settings, model_version))
    plan.add("write_run_report", "s3", "PutObject", _put(store, run.report_prefix + "index.html"))
    alert = alerts.failure_alert("search_index_publish", "check_search_quality", run.run_id, 4, RuntimeError("x" * 300_000))
    plan.add("on failure", "sns", "Publish", alerts.publish_request(alert, settings.alert_topic_arn))


PRODUCT_ID_LENGTH = 64  # a long product id, as catalogs use SKUs or UUIDs with prefixes
TITLE_LENGTH = 400


def _largest_items(settings: Settings, snapshot_id: str, model_version: str) -> list[dict]:
    """``dynamo.BATCH_SIZE`` items as the sync writes them, of products with long ids and titles,
    every attribute the contract allows and a vector of the configured size."""
    rows = pd.DataFrame({
        "product_id": [f"{i:0{PRODUCT_ID_LENGTH}d}" for i in range(dynamo.BATCH_SIZE)],
        "title": ["t" * TITLE_LENGTH] * dynamo.BATCH_SIZE,
        "category": ["Apparel > Topwear > Shirts"] * dynamo.BATCH_SIZE,
        "attributes": [json.dumps(dict.fromkeys(settings.filter_attributes, "x" * 32))] * dynamo.BATCH_SIZE,
        "price": [12.5] * dynamo.BATCH_SIZE,
        "embedding": list(np.ones((dynamo.BATCH_SIZE, max(settings.embedding_dim, word_vectors.DIM)), dtype=np.float32)),
    })
    return dynamo.expected_items(rows, snapshot_id, model_version)


def _put(store: ObjectStore, key: str) -> dict:
    """PutObject as ``ObjectStore`` sends it (the body left out of the plan)."""
    return {"Bucket": store.bucket, "Key": key, "Body": b""}
