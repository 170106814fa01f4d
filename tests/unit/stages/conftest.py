"""Stage functions called directly, as the DAG tasks call them, with S3, DynamoDB and the
SageMaker API mocked in-process by moto and the local runner running the real job entry
points. OpenSearch is not mocked here: the index stages run on the real node in
tests/integration/test_publish_stages.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws

from catalog_search.clients import Clients, Endpoints
from catalog_search.settings import Settings
from catalog_search.stages import Run, enrichment, jobs, refresh, training
from catalog_search.training.tokenizer import tokenize
from support import pipeline  # tests/ is on sys.path

COLOURS = ["navy blue", "black", "white", "red", "green"]
TYPES = {"Apparel > Topwear > Shirts": "shirt", "Apparel > Topwear > Tshirts": "tshirt",
         "Accessories > Watches > Watches": "watch", "Accessories > Bags > Handbags": "handbag",
         "Footwear > Shoes > Sports Shoes": "running shoes"}


def small_catalog(n: int = 400) -> pd.DataFrame:
    categories = list(TYPES)
    rows = []
    for i in range(n):
        category = categories[i % len(categories)]
        gender = "Men" if i % 2 else "Women"
        rows.append({"product_id": str(1000 + i), "title": f"Brand{i % 7} {gender} {COLOURS[i % 5]} {TYPES[category]}",
                     "category": category, "gender": gender, "colour": COLOURS[i % 5]})
    return pd.DataFrame(rows)


def word_vectors_file(root: Path) -> Path:
    """A small GloVe-format file: 8-d vectors for the catalog's words and a few it lacks."""
    rng = np.random.default_rng(5)
    words = [*sorted({w for t in small_catalog()["title"] for w in tokenize(t)}), "sneakers", "purse", "hoodie"]
    path = root / "vectors.txt"
    path.write_text("".join(f"{w} {' '.join(f'{x:.5f}' for x in rng.normal(size=8))}\n" for w in words))
    return path


def make_settings(root: Path, include_dir: Path) -> Settings:
    source = root / "source"
    source.mkdir()
    small_catalog().to_csv(source / "catalog.csv", index=False)
    return Settings(bucket="stages", work_dir=root / "work", source_dir=source, include_dir=include_dir,
                    table_name="stages", pairs=3000, min_per_category=1, embedding_dim=8, mlp_dim=16, epochs=8, learning_rate=0.01,
                    vocab_min_count=1, index_replicas=0, pretrained_embeddings=str(word_vectors_file(root)))


def moto_clients(settings: Settings) -> Clients:
    def no_opensearch():
        raise AssertionError("this stage must not call OpenSearch")

    return Clients(settings, lambda service: boto3.client(service, region_name="us-east-1"), no_opensearch,
                   Endpoints(None, "http://opensearch.invalid"), lambda: "us-east-1")


def run_of(dag_id: str, when: str = "2026-11-29T01:00:00") -> Run:
    logical = datetime.fromisoformat(when).replace(tzinfo=UTC)
    return Run(dag_id, f"scheduled__{when}+00:00", logical)


@pytest.fixture
def settings(tmp_path, include_dir) -> Settings:
    return make_settings(tmp_path, include_dir)


@pytest.fixture
def clients(settings, monkeypatch):
    """Fresh, empty services for one test."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield moto_clients(settings)


def refreshed(clients: Clients) -> str:
    """A landed, validated and published snapshot of the small catalog."""
    run = run_of("catalog_refresh")
    snapshot_id = refresh.land_snapshot(clients, run)["snapshot_id"]
    pipeline.validate_snapshot(clients, pipeline.runner_of(clients), run, snapshot_id)
    refresh.publish_snapshot(clients, run, snapshot_id)
    return snapshot_id


@pytest.fixture
def snapshot_id(clients) -> str:
    return refreshed(clients)


def prepare_training_data(clients: Clients, run: Run, snapshot_id: str) -> dict:
    """The training DAG's first steps: the Processing job (by the local runner) and its check."""
    job = jobs.run_locally(clients, run, "processing", training.processing_config(clients, run, snapshot_id))
    return training.check_training_data(clients, run, snapshot_id, job)


def promote(clients: Clients, run: Run, trained: dict) -> dict:
    """The training DAG's last steps: the model, the purity sample's transform, the gate and
    registration, approval (auto), promotion."""
    jobs.run_locally(clients, run, "model", training.model_config(clients, run, trained))
    jobs.run_locally(clients, run, "transform", training.purity_transform_config(clients, run, trained))
    candidate = training.gate_and_register(clients, run, trained)
    assert training.approved(clients, run, candidate)
    return training.promote(clients, run, candidate)


@dataclass
class Chain:
    """The stages of the four DAGs run once, in order, for the tests of one module."""

    clients: Clients
    snapshot_id: str
    champion: dict
    enriched: dict


@pytest.fixture(scope="module")
def chain(tmp_path_factory, include_dir):
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        clients = moto_clients(make_settings(tmp_path_factory.mktemp("chain"), include_dir))
        snapshot_id = refreshed(clients)
        run = run_of("embedding_training")
        prepared = prepare_training_data(clients, run, snapshot_id)
        config = training.training_config(clients, run, snapshot_id, prepared)
        job = jobs.run_locally(clients, run, "training", config)
        champion = promote(clients, run, training.record_training(clients, run, snapshot_id, prepared, config, job))
        run = run_of("catalog_enrichment")
        inputs = enrichment.resolve_inputs(clients, run)
        jobs.run_locally(clients, run, "transform", pipeline.transform_request(clients, run, **inputs))
        job = jobs.run_locally(clients, run, "processing", enrichment.assembly_config(clients, run, **inputs))
        yield Chain(clients, snapshot_id, champion, enrichment.publish_enriched(clients, run, **inputs, job=job))
