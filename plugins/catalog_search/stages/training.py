"""embedding_training: stratified pairs and Object2Vec inputs, training, the metric gate, the champion."""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from catalog_search import catalog, evaluation, gating, model_registry, pointers, sagemaker_jobs, tokenizer, training_data, validation
from catalog_search.batch_embeddings import embed_sequences
from catalog_search.clients import Clients
from catalog_search.encoder import model_vocabulary
from catalog_search.layout import Layout
from catalog_search.runners import register_model
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
    frozen_key = Layout.evaluation_set(catalog.taxonomy_id(products["category"]))
    frozen = store.get_parquet(frozen_key) if store.exists(frozen_key) else None
    report = training_data.prepare(products, spec, local, pretrained, frozen)
    if frozen is None:  # the taxonomy's first training run freezes its test split
        store.upload_file(local / training_data.EVALUATION_FILE, frozen_key)
        log.info("froze the evaluation set %s (%d pairs)", store.uri(frozen_key), report["evaluation_pairs"])
    evaluation_pairs = pd.read_parquet(local / training_data.EVALUATION_FILE)
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
            "pretrained_dim": report.get("pretrained", {}).get("dimension"), "evaluation_set": evaluation_set_id(frozen_key, evaluation_pairs)}


def evaluation_set_id(key: str, pairs: pd.DataFrame) -> str:
    """Where the frozen set lives and a hash of its pairs: models with the same id were scored alike."""
    return f"{key}@{short_hash(*pd.util.hash_pandas_object(pairs, index=False).tolist())}"


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


def record_training(clients: Clients, run: Run, snapshot_id: str, training: dict, config: dict, job: dict) -> dict:
    """Record the finished training job's metrics and lineage; its name (the request's, or a
    later attempt's: ``runners.attempt_name``) is the model version."""
    store = clients.store
    description = job["Training"]
    model_version = description["TrainingJobName"]
    metrics = gating.metrics_by_name(description)
    artifact = description["ModelArtifacts"]["S3ModelArtifacts"]
    store.put_json(Layout.model_metrics(model_version), metrics)
    store.put_json(Layout.model_lineage(model_version), {
        "model_version": model_version, "snapshot_id": snapshot_id, "training_run": run.run_id,
        "training_uri": training["training_uri"], "evaluation_set": training["evaluation_set"], "model_data_url": artifact,
        "hyperparameters": config["HyperParameters"], "image": config["AlgorithmSpecification"]["TrainingImage"],
    })
    log.info("trained %s: %s", model_version, metrics)
    return {"model_version": model_version, "metrics": metrics, "model_data_url": artifact,
            "evaluation_set": training["evaluation_set"]}


def gate_and_promote(clients: Clients, run: Run, trained: dict) -> dict:
    """Champion only if the gate passes (``gating``): then a version in the Model Registry and
    ``champion.json``; a failed gate raises and publishes nothing. The SageMaker model is created
    first: the embedding-space check embeds through it (Batch Transform)."""
    settings, store = clients.settings, clients.store
    model_version = trained["model_version"]
    register_model(clients.sagemaker, sagemaker_jobs.model_config(settings, model_version, trained["model_data_url"]))
    lineage = store.get_json(Layout.model_lineage(model_version))
    purity = embedding_purity(clients, model_version, store.get_parquet(Layout.snapshot_products(lineage["snapshot_id"])))
    current = store.get_json(Layout.CHAMPION, default=None)
    champion = gating.Candidate(current["metrics"], current.get("evaluation_set")) if current else None
    decision = gating.decide(gating.Candidate(trained["metrics"], trained["evaluation_set"], purity), champion,
                             gating.Thresholds.from_settings(settings))
    log.info("gate for %s: purity@10 %.3f, %s; %s", model_version, purity, trained["metrics"], "; ".join(decision.notes))
    if not decision.passed:
        raise gating.GateFailed(f"model {model_version} not promoted: " + "; ".join(decision.reasons)
                                + f" ({'; '.join(decision.notes)}). The champion is unchanged.")
    package = model_registry.register_version(clients.sagemaker, settings, lineage, trained["metrics"],
                                              store.uri(Layout.model_metrics(model_version)))
    record = {**trained, "purity@10": purity, "snapshot_id": lineage["snapshot_id"], "model_package_arn": package,
              "promoted_at": utc_stamp(datetime.now(timezone.utc))}
    store.put_json(Layout.CHAMPION, record)
    return record


def embedding_purity(clients: Clients, model_version: str, products: pd.DataFrame) -> float:
    """Leaf-category purity@10 of each sampled product's nearest neighbours within the sample
    (cosine), the sample embedded by the model itself through Batch Transform."""
    sample = products.sample(min(clients.settings.purity_sample, len(products)), random_state=0)
    vocab, max_seq_len = model_vocabulary(clients.store, model_version)
    vectors = embed_sequences(clients, model_version, [tokenizer.encode(t, vocab, max_seq_len) for t in sample["title"]], "purity")
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    depth = min(10, len(sample) - 1)
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :depth]
    ids = sample["product_id"].astype(str).to_numpy()
    return evaluation.leaf_purity({ids[i]: list(ids[row]) for i, row in enumerate(nearest)},
                                  dict(zip(ids, sample["category"].astype(str))))
