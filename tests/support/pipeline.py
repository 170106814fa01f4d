"""The pipeline's stages in their DAGs' order, called directly as the tasks call them, on any
``Clients``: for tests that look at what the whole pipeline does to the services (the IAM tests
record its calls, or run it under enforced policies). The SageMaker jobs run by the
``LocalRunner`` given, so that a test can run them with other credentials than the tasks'
(the execution role's), as SageMaker does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from catalog_search.clients import Clients
from catalog_search.sagemaker import job_requests
from catalog_search.sagemaker.jobs import register_model
from catalog_search.sagemaker.local_runner import LocalRunner
from catalog_search.settings import Settings
from catalog_search.stages import Run, enrichment, jobs, publish, refresh, training
from catalog_search.training import catalog
from catalog_search.training.tokenizer import tokenize

ROOT = Path(__file__).resolve().parents[2]


def sample_source(root: Path, size: int, seed: int = 0) -> Path:
    """A source folder holding a seeded sample of the fashion catalog (data/fashion)."""
    products = catalog.load_source(ROOT / "data" / "fashion").sample(size, random_state=seed)
    source = root / "source"
    source.mkdir(parents=True)
    products.to_parquet(source / "products.parquet", index=False)
    words = sorted({w for title in products["title"] for w in tokenize(title)})
    vectors = np.random.default_rng(seed).normal(size=(len(words), 8))
    (root / "glove.txt").write_text("".join(f"{w} {' '.join(f'{x:.4f}' for x in v)}\n" for w, v in zip(words, vectors)))
    return source


def quick_settings(settings: Settings, name: str, root: Path, size: int = 1000) -> Settings:
    """Settings of a deployment of its own (bucket, table, alias and registry group all ``name``)
    on a small sample, with a model that trains in seconds. The gates' thresholds are open: these
    runs are about what the stages touch, and the gates are tested with realistic data elsewhere."""
    source = sample_source(root, size)
    return dataclasses.replace(
        settings, bucket=name, table_name=name, index_alias=name, model_package_group=name, work_dir=root / "work",
        source_dir=source, pretrained_embeddings=str(root / "glove.txt"), pairs=3000, min_per_category=1,
        embedding_dim=8, mlp_dim=16, epochs=2, vocab_min_count=1, purity_sample=200, projector_sample=100,
        index_replicas=0, index_force_merge_segments=1, min_test_accuracy=0.0, max_test_cross_entropy=10.0,
        min_embedding_purity=0.0, min_golden_ndcg=0.0, golden_ndcg_tolerance=1.0)


def runner_of(clients: Clients, s3=None, sagemaker=None) -> LocalRunner:
    """The local runner of ``clients``' settings, its jobs' S3 calls on ``s3`` (default: the clients')."""
    settings = clients.settings
    return LocalRunner(s3 or clients.s3, sagemaker or clients.sagemaker, settings.work_dir, settings.include_dir / "jobs")


def validate_snapshot(clients: Clients, runner: LocalRunner, run: Run, snapshot_id: str) -> dict:
    """catalog_refresh's check of a landed snapshot: the check_snapshot job, then its task."""
    job = {"Processing": runner.process(refresh.snapshot_check_config(clients, run, snapshot_id))}
    return refresh.validate_snapshot(clients, run, snapshot_id, job)


def refresh_night(clients: Clients, runner: LocalRunner, snapshot_id: str, derive_from: str | None = None) -> str:
    """catalog_refresh: land (from the source, or derived from an earlier snapshot), validate, publish."""
    run = Run("catalog_refresh", f"scheduled__{snapshot_id}")
    refresh.land_snapshot(clients, run, snapshot_id, derive_from=derive_from)
    validate_snapshot(clients, runner, run, snapshot_id)
    refresh.publish_snapshot(clients, run, snapshot_id)
    return snapshot_id


def train(clients: Clients, runner: LocalRunner, run_id: str = "manual__training") -> dict:
    """embedding_training on the newest snapshot, to its promotion: the checked training data
    (``prepared``) and the champion's record (``champion``)."""
    run = Run("embedding_training", run_id)
    snapshot_id = training.resolve_snapshot(clients, run)
    vectors = training.word_vectors_config(clients, run, snapshot_id)
    if job_requests.NO_JOB not in vectors:
        runner.process(vectors)
    job = {"Processing": runner.process(training.processing_config(clients, run, snapshot_id))}
    prepared = training.check_training_data(clients, run, snapshot_id, job)
    config = training.training_config(clients, run, snapshot_id, prepared)
    trained = training.record_training(clients, run, snapshot_id, prepared, config, {"Training": runner.train(config)})
    register_model(clients.sagemaker, training.model_config(clients, run, trained))
    runner.transform(training.purity_transform_config(clients, run, trained))
    candidate = training.gate_and_register(clients, run, trained)
    assert training.approved(clients, run, candidate), "model_approval=auto approves at once"
    return {"prepared": prepared, "champion": training.promote(clients, run, candidate)}


def transform_request(clients: Clients, run: Run, snapshot_id: str, model_version: str) -> dict:
    """The catalog's transform request as the DAG makes it: the tokenizing Processing job run
    locally (transform_input_config → prepare_transform_input), then transform_config."""
    jobs.run_locally(clients, run, "processing", enrichment.transform_input_config(clients, run, snapshot_id, model_version))
    return enrichment.transform_config(clients, run, snapshot_id, model_version)


def enrich(clients: Clients, runner: LocalRunner, snapshot_id: str) -> dict:
    """catalog_enrichment of a snapshot with the champion."""
    run = Run("catalog_enrichment", f"scheduled__{snapshot_id}")
    inputs = enrichment.resolve_inputs(clients, run, snapshot_id=snapshot_id)
    assert enrichment.needs_embedding(clients, run, **inputs)
    runner.process(enrichment.transform_input_config(clients, run, **inputs))
    runner.transform(enrichment.transform_config(clients, run, **inputs))
    job = {"Processing": runner.process(enrichment.assembly_config(clients, run, **inputs))}
    assembled = enrichment.publish_enriched(clients, run, **inputs, job=job)
    enrichment.export_projector(clients, run, **inputs)
    return assembled


def publish_night(clients: Clients, snapshot_id: str) -> dict:
    """search_index_publish of the newest enriched catalog, which must be ``snapshot_id``'s."""
    run = Run("search_index_publish", f"scheduled__{snapshot_id}")
    inputs = publish.resolve_inputs(clients, run)
    assert inputs["snapshot_id"] == snapshot_id and publish.needs_publishing(clients, run, **inputs)
    built = publish.build_index(clients, run, **inputs)
    publish.check_search_quality(clients, run, built["index"])
    publish.upsert_items(clients, run, **inputs)
    return {"built": built, "swapped": publish.swap_alias(clients, run, built["index"])}
