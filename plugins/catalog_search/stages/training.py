"""embedding_training: stratified pairs and Object2Vec inputs, training, the metric gate, the champion."""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from catalog_search import catalog, gating, pointers, sagemaker_jobs, training_data, validation
from catalog_search.clients import Clients
from catalog_search.layout import Layout
from catalog_search.runners import register_model, runner_for
from catalog_search.settings import MINILM, job_name, short_hash, utc_stamp
from catalog_search.stages import Run
from catalog_search.storage import ObjectStore
from catalog_search.tokenizer import tokenize

log = logging.getLogger(__name__)


def resolve_snapshot(clients: Clients, run: Run, snapshot_id: str | None = None) -> str:
    """The snapshot to train on: the one given, else the newest."""
    return snapshot_id or pointers.latest_snapshot(clients.store)


def prepare_training_data(clients: Clients, run: Run, snapshot_id: str) -> dict:
    """Pairs (split by product), vocabulary and Object2Vec JSON Lines under training/{snapshot}/{run}/,
    checked by the pairs suite before anything is uploaded."""
    settings, store = clients.settings, clients.store
    products = store.get_parquet(Layout.snapshot_products(snapshot_id))
    spec = settings.training_data_spec()
    local = settings.work_dir / "training" / snapshot_id / run.key
    shutil.rmtree(local, ignore_errors=True)  # a retry starts from an empty folder
    pretrained = _pretrained_file(settings.pretrained_embeddings, store, local.parent / "pretrained", products["title"])
    report = training_data.prepare(products, spec, local, pretrained)
    pairs = pd.read_parquet(local / training_data.PAIRS_FILE)
    category = catalog.category_levels(products.set_index("product_id")["category"], spec.pairs.level)
    validation.check_and_publish(store, validation.pairs_frame(pairs, category), "pairs", str(local),
                                 validation.pairs_expectations(spec.pairs.positive_share), run.report_prefix, settings.work_dir)
    prefix = Layout.training(snapshot_id, run.key)
    store.upload_dir(local, prefix)
    log.info("pairs: %d (positive share %.3f, hard negatives %.3f), vocabulary %d, short categories %s",
             report["pairs"], report["positive_share"], report["hard_negative_share"], report["vocab_size"],
             report["short_categories"][:10])
    return {"training_uri": store.uri(prefix), "vocab_size": report["vocab_size"], "pairs": report["pairs"],
            "pretrained_dim": report.get("pretrained", {}).get("dimension")}


def _pretrained_file(source: str, store: ObjectStore, local_dir: Path, titles: pd.Series) -> Path | None:
    """The configured word vectors as a local GloVe-format file (None when not configured): a
    file (local or s3://), or ``minilm``: built from the packaged all-MiniLM-L6-v2 for every
    word of the catalog's titles and the model's lexicon, once per set of words."""
    if not source:
        return None
    if source == MINILM:
        from catalog_search import word_vectors

        words = sorted({token for title in titles for token in tokenize(title)})
        key = Layout.word_vectors(f"{MINILM}-{short_hash(*words)}")
        local = local_dir / f"{MINILM}.txt"
        if store.exists(key):
            return store.download_file(key, local)
        stats = word_vectors.build_glove_file(words, local)
        log.info("word vectors from %s: %s", MINILM, stats)
        store.upload_file(local, key)
        return local
    if not source.startswith("s3://"):
        return Path(source)
    source_store, key = ObjectStore.at(store.s3, source)
    return source_store.download_file(key, local_dir / Path(key).name)


def model_version_for(snapshot_id: str, run: Run) -> str:
    """Model versions sort by snapshot time and are unique per training run."""
    return job_name("o2v", snapshot_id, run.key)


def training_config(clients: Clients, run: Run, snapshot_id: str, training: dict) -> dict:
    """The CreateTrainingJob request (a plain dict) for this run's training data."""
    settings = clients.settings
    hyper = sagemaker_jobs.object2vec_hyperparameters(settings, training["vocab_size"], training.get("pretrained_dim"))
    return sagemaker_jobs.training_job_config(
        settings, model_version_for(snapshot_id, run), training["training_uri"], clients.store.uri(Layout.MODELS), hyper
    )


def train(clients: Clients, run: Run, snapshot_id: str, config: dict) -> dict:
    """Run the training job (SageMaker or the local runner); record its metrics and lineage."""
    store = clients.store
    description = runner_for(clients).train(config)
    model_version = config["TrainingJobName"]
    metrics = gating.metrics_by_name(description)
    artifact = description["ModelArtifacts"]["S3ModelArtifacts"]
    store.put_json(Layout.model_metrics(model_version), metrics)
    store.put_json(Layout.model_lineage(model_version), {
        "model_version": model_version, "snapshot_id": snapshot_id, "training_run": run.run_id,
        "training_uri": store.uri(Layout.training(snapshot_id, run.key)), "model_data_url": artifact,
        "hyperparameters": config["HyperParameters"], "image": config["AlgorithmSpecification"]["TrainingImage"],
    })
    log.info("trained %s: %s", model_version, metrics)
    return {"model_version": model_version, "metrics": metrics, "model_data_url": artifact}


def gate_and_promote(clients: Clients, run: Run, trained: dict) -> dict:
    """Champion only if the gate passes; a failed gate raises and publishes nothing."""
    settings, store = clients.settings, clients.store
    current = store.get_json(Layout.CHAMPION, default=None)
    decision = gating.decide(trained["metrics"], current["metrics"] if current else None,
                             settings.min_validation_accuracy, settings.champion_tolerance)
    if not decision.passed:
        raise gating.GateFailed(f"model {trained['model_version']} not promoted: " + "; ".join(decision.reasons))
    register_model(clients.sagemaker, sagemaker_jobs.model_config(settings, trained["model_version"], trained["model_data_url"]))
    lineage = store.get_json(Layout.model_lineage(trained["model_version"]))
    record = {**trained, "snapshot_id": lineage["snapshot_id"], "promoted_at": utc_stamp(datetime.now(timezone.utc))}
    store.put_json(Layout.CHAMPION, record)
    return record
