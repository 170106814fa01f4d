"""embedding_training: stratified pairs and Object2Vec inputs, training, the metric gate, the champion."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from catalog_search import validation
from catalog_search.clients import Clients
from catalog_search.errors import NotFound
from catalog_search.naming import job_name, short_hash, slug, utc_stamp
from catalog_search.sagemaker import job_requests, model_registry, processing_code
from catalog_search.sagemaker.batch_embeddings import embed_sequences, transform_request
from catalog_search.sagemaker.processing_code import uploaded_code
from catalog_search.search import evaluation
from catalog_search.settings import MINILM
from catalog_search.stages import Run
from catalog_search.store import pointers
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.store.object_store import ObjectStore
from catalog_search.training import catalog, gating, tokenizer, training_data
from catalog_search.training.encoder import model_vocabulary

log = logging.getLogger(__name__)


def resolve_snapshot(clients: Clients, run: Run, snapshot_id: str | None = None) -> str:
    """The snapshot to train on: the one given, else the newest."""
    return snapshot_id or pointers.latest_snapshot(clients.store)


WORD_VECTORS_FILE = "glove.txt"  # the word-vector job's output file


def word_vectors_config(clients: Clients, run: Run, snapshot_id: str) -> dict:
    """The CreateProcessingJob request that builds the MiniLM word vectors of the snapshot's
    titles and the model's lexicon (``include/jobs/build_word_vectors.py``; the image has torch,
    the Airflow worker needs none), or ``job_requests.no_job`` saying why none is needed: other
    word vectors are configured, or this snapshot's were built before."""
    settings, store = clients.settings, clients.store
    if settings.pretrained_embeddings != MINILM:
        return job_requests.no_job(f"word vectors are {settings.pretrained_embeddings or 'off'!r}, not {MINILM!r}")
    if store.exists(ObjectKeys.minilm_vectors(snapshot_id) + WORD_VECTORS_FILE):
        return job_requests.no_job(f"the word vectors of snapshot {snapshot_id} exist: "
                                     f"{store.uri(ObjectKeys.minilm_vectors(snapshot_id) + WORD_VECTORS_FILE)}")
    return word_vectors_request(settings, store, snapshot_id, uploaded_code(settings, store))


def word_vectors_request(settings, store: ObjectStore, snapshot_id: str, code_uri: str) -> dict:
    catalog_input = job_requests.processing_input("catalog")
    arguments = ["--catalog", catalog_input, "--out", f"{job_requests.PROCESSING_OUTPUT}/{WORD_VECTORS_FILE}"]
    return job_requests.processing_job_config(
        settings, job_name("wvec", snapshot_id, scope=settings.bucket), processing_code.WORD_VECTORS_ENTRY_POINT, code_uri,
        {"catalog": store.uri(ObjectKeys.snapshot_products(snapshot_id))}, store.uri(ObjectKeys.minilm_vectors(snapshot_id)), arguments)


def processing_config(clients: Clients, run: Run, snapshot_id: str) -> dict:
    """The CreateProcessingJob request that writes this run's training data under
    ``training/{snapshot}/{run}/``: ``include/jobs/prepare_training_data.py`` (shipped with the
    library) on the snapshot's products, the word vectors and, once the taxonomy has one, its
    frozen evaluation set as the test channel."""
    settings, store = clients.settings, clients.store
    categories = store.get_parquet(ObjectKeys.snapshot_products(snapshot_id), columns=["category"])["category"]
    frozen_key = ObjectKeys.evaluation_set(catalog.taxonomy_id(categories))
    return prepare_request(settings, store, snapshot_id, run.key, uploaded_code(settings, store),
                           _word_vectors_uri(settings, store, snapshot_id), store.uri(frozen_key) if store.exists(frozen_key) else None)


def prepare_request(settings, store: ObjectStore, snapshot_id: str, run_key: str, code_uri: str, vectors_uri: str | None,
                    evaluation_uri: str | None) -> dict:
    """``processing_config``'s request, from what it looked up."""
    inputs = {"catalog": store.uri(ObjectKeys.snapshot_products(snapshot_id))}
    arguments = ["--input", job_requests.processing_input("catalog"), "--output", job_requests.PROCESSING_OUTPUT,
                 "--where", store.uri(ObjectKeys.training(snapshot_id, run_key)),
                 *training_data.TrainingDataSpec.from_settings(settings).to_arguments()]
    files = {name: uri for name, uri in (("pretrained", vectors_uri), ("evaluation", evaluation_uri)) if uri}
    inputs.update(files)
    arguments += job_requests.input_arguments(files)
    return job_requests.processing_job_config(
        settings, job_name("prep", snapshot_id, run_key, scope=settings.bucket), processing_code.PREPARE_ENTRY_POINT, code_uri, inputs,
        store.uri(ObjectKeys.training(snapshot_id, run_key)), arguments)


def check_training_data(clients: Clients, run: Run, snapshot_id: str, job: dict) -> dict:
    """The pairs suite's report (the Processing job ran it on what it wrote) published before any
    training sees the data; the taxonomy's first run then freezes its test split as the evaluation
    set of every later model. A failed suite raises, and nothing is frozen."""
    settings, store = clients.settings, clients.store
    output_store, prefix = job_requests.processing_output(store, job)
    report = output_store.get_json(prefix + training_data.REPORT_FILE)
    checks = output_store.get_json(prefix + training_data.CHECK_FILE)
    validation.publish_job_report(store, output_store, prefix + training_data.DATA_DOCS_DIR, checks["validation"], run.report_prefix,
                                  settings.work_dir)
    frozen_key = ObjectKeys.evaluation_set(checks["taxonomy_id"])
    if not store.exists(frozen_key):
        store.copy(output_store, prefix + training_data.EVALUATION_FILE, frozen_key)
        log.info("froze the evaluation set %s (%d pairs)", store.uri(frozen_key), report["evaluation_pairs"])
    log.info("pairs: %d (positive share %.3f, hard negatives %.3f), vocabulary %d, short categories %s",
             report["pairs"], report["positive_share"], report["hard_negative_share"], report["vocab_size"],
             report["short_categories"][:10])
    # The job's evaluation pairs are the frozen set whenever one existed (its test channel), so their hash is the set's.
    return {"training_uri": output_store.uri(prefix), "vocab_size": report["vocab_size"], "pairs": report["pairs"],
            "pretrained_dim": report.get("pretrained", {}).get("dimension"),
            "evaluation_set": f"{frozen_key}@{checks['evaluation_hash']}"}


def _word_vectors_uri(settings, store: ObjectStore, snapshot_id: str) -> str | None:
    """The configured word vectors in the object store (None when not configured): an s3://
    file as it is; a local file uploaded once; ``minilm``: the snapshot's, built by the
    ``build_word_vectors`` job."""
    source = settings.pretrained_embeddings
    if not source or source.startswith("s3://"):
        return source or None
    if source == MINILM:
        key = ObjectKeys.minilm_vectors(snapshot_id) + WORD_VECTORS_FILE
        if not store.exists(key):
            raise NotFound(f"the MiniLM word vectors of snapshot {snapshot_id} are not at {store.uri(key)}: "
                           f"build_word_vectors did not write them; clear it and this task")
        return store.uri(key)
    path = Path(source)
    key = ObjectKeys.uploaded_vectors(f"{slug(path.stem, 24)}-{short_hash(path.resolve(), path.stat().st_size, path.stat().st_mtime_ns)}",
                                  path.name)
    if not store.exists(key):
        store.upload_file(path, key)
    return store.uri(key)


def model_version_for(settings, snapshot_id: str, run: Run) -> str:
    """Model versions sort by snapshot time and are unique per training run and deployment."""
    return job_name("o2v", snapshot_id, run.key, scope=settings.bucket)


def training_config(clients: Clients, run: Run, snapshot_id: str, training: dict) -> dict:
    """The CreateTrainingJob request (a plain dict) for this run's training data."""
    settings = clients.settings
    hyper = job_requests.object2vec_hyperparameters(settings, training["vocab_size"], training.get("pretrained_dim"))
    return job_requests.training_job_config(
        settings, clients.region, model_version_for(settings, snapshot_id, run), training["training_uri"], clients.store.uri(ObjectKeys.MODELS), hyper
    )


def record_training(clients: Clients, run: Run, snapshot_id: str, training: dict, config: dict, job: dict) -> dict:
    """Record the finished training job's metrics and lineage; its name (the request's, or a
    later attempt's: ``sagemaker.jobs.attempt_name``) is the model version."""
    store = clients.store
    description = job["Training"]
    model_version = description["TrainingJobName"]
    metrics = gating.metrics_by_name(description)
    artifact = description["ModelArtifacts"]["S3ModelArtifacts"]
    store.put_json(ObjectKeys.model_metrics(model_version), metrics)
    store.put_json(ObjectKeys.model_lineage(model_version), {
        "model_version": model_version, "snapshot_id": snapshot_id, "training_run": run.run_id,
        "training_uri": training["training_uri"], "evaluation_set": training["evaluation_set"], "model_data_url": artifact,
        "hyperparameters": config["HyperParameters"], "image": config["AlgorithmSpecification"]["TrainingImage"],
    })
    log.info("trained %s: %s", model_version, metrics)
    return {"model_version": model_version, "metrics": metrics, "model_data_url": artifact,
            "evaluation_set": training["evaluation_set"]}


def model_config(clients: Clients, run: Run, trained: dict) -> dict:
    """The CreateModel request of the trained model: the gate's embedding check embeds through it
    (Batch Transform), and so do enrichment and the query endpoint once it is the champion."""
    return job_requests.model_config(clients.settings, clients.region, trained["model_version"], trained["model_data_url"])


def gate_and_register(clients: Clients, run: Run, trained: dict) -> dict:
    """The gate (``gating``) on the trained model, then its version in the Model Registry:
    approved at once (``model_approval=auto``) or pending a person's approval (``manual``). A
    failed gate raises with the numbers and registers nothing."""
    settings, store = clients.settings, clients.store
    model_version = trained["model_version"]
    lineage = store.get_json(ObjectKeys.model_lineage(model_version))
    purity, dim = embedding_purity(clients, model_version)
    current = store.get_json(ObjectKeys.CHAMPION, default=None)
    champion = gating.Candidate(current["metrics"], current.get("evaluation_set")) if current else None
    decision = gating.decide(gating.Candidate(trained["metrics"], trained["evaluation_set"], purity), champion,
                             gating.Thresholds.from_settings(settings))
    log.info("gate for %s: purity@10 %.3f, %s; %s", model_version, purity, trained["metrics"], "; ".join(decision.notes))
    if not decision.passed:
        raise gating.GateFailed(f"model {model_version} not promoted: " + "; ".join(decision.reasons)
                                + f" ({'; '.join(decision.notes)}). The champion is unchanged.")
    package = model_registry.register_version(clients.sagemaker, settings, clients.region, lineage, trained["metrics"],
                                              store.uri(ObjectKeys.model_metrics(model_version)))
    return {**trained, "purity@10": purity, "embedding_dim": dim, "snapshot_id": lineage["snapshot_id"],
            "model_package_arn": package}


def approved(clients: Clients, run: Run, candidate: dict) -> bool:
    """Whether the candidate's registry version is approved (the approval sensor's poke); a
    rejected version raises, with the reviewer's note, and is never promoted."""
    return model_registry.approved(clients.sagemaker, candidate["model_package_arn"])


def promote(clients: Clients, run: Run, candidate: dict) -> dict:
    """The approved candidate becomes the champion (``champion.json``), unless a champion trained
    on a newer snapshot was promoted meanwhile: an approval that comes late never moves it back."""
    store = clients.store
    current = store.get_json(ObjectKeys.CHAMPION, default=None)
    if current and current["snapshot_id"] > candidate["snapshot_id"]:
        raise gating.GateFailed(f"model {candidate['model_version']} (snapshot {candidate['snapshot_id']}) not promoted: "
                                f"the champion {current['model_version']} was trained on a newer snapshot "
                                f"({current['snapshot_id']}). The champion is unchanged.")
    record = {**candidate, "promoted_at": utc_stamp(datetime.now(UTC))}
    store.put_json(ObjectKeys.model_champion_record(candidate["model_version"]), record)
    store.put_json(ObjectKeys.CHAMPION, record)
    log.info("champion: %s", candidate["model_version"])
    return record


PURITY = "purity"  # the purpose (and job name kind) of the gate's product-sample transform


def purity_transform_config(clients: Clients, run: Run, trained: dict) -> dict:
    """The Batch Transform request that embeds the gate's product sample with the trained model
    (its own DAG task, so that on AWS the triggerer waits for it, not a worker)."""
    model_version = trained["model_version"]
    return transform_request(clients, model_version, _purity_sequences(clients, model_version), PURITY)


def embedding_purity(clients: Clients, model_version: str) -> tuple[float, int]:
    """Leaf-category purity@10 of each sampled product's nearest neighbours within the sample
    (cosine), the sample embedded by the model itself through Batch Transform; and the length
    of the model's vectors, as its output has them (enrichment holds every vector to it)."""
    sample = _purity_sample(clients, model_version)
    vectors = embed_sequences(clients, model_version, _purity_sequences(clients, model_version, sample), PURITY)
    dim = int(vectors.shape[1])
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    depth = min(10, len(sample) - 1)
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :depth]
    ids = sample["product_id"].astype(str).to_numpy()
    return evaluation.leaf_purity({ids[i]: list(ids[row]) for i, row in enumerate(nearest)},
                                  dict(zip(ids, sample["category"].astype(str)))), dim


def _purity_sample(clients: Clients, model_version: str) -> pd.DataFrame:
    """The same products for every try: a seeded sample of the model's training snapshot."""
    lineage = clients.store.get_json(ObjectKeys.model_lineage(model_version))
    products = clients.store.get_parquet(ObjectKeys.snapshot_products(lineage["snapshot_id"]))
    return products.sample(min(clients.settings.purity_sample, len(products)), random_state=0)


def _purity_sequences(clients: Clients, model_version: str, sample: pd.DataFrame | None = None) -> list[list[int]]:
    sample = _purity_sample(clients, model_version) if sample is None else sample
    vocab, max_seq_len = model_vocabulary(clients.store, model_version)
    return [tokenizer.encode(title, vocab, max_seq_len) for title in sample["title"]]
