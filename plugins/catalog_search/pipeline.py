"""The pipeline's stages as plain functions: each reads and writes keyed artifacts in the
object store and returns a small dict (what the DAG passes on through XCom).

DAG tasks call these with clients made from Airflow connections (``services``); tests call
them with the same clients pointed at moto and the local OpenSearch node.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from catalog_search import catalog, dynamo, gating, index, refresh, sagemaker_jobs, sql, tokenizer, training_data, validation
from catalog_search.errors import NotFound
from catalog_search.runners import LocalRunner, Runner, SageMakerRunner, register_model
from catalog_search.settings import Layout, Settings, job_name, short_hash, slug, utc_stamp
from catalog_search.storage import ObjectStore, split_s3_uri

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Clients of the external systems, made on first use from the Airflow connections."""

    settings: Settings

    @cached_property
    def s3(self) -> Any:
        from catalog_search.connections import aws_client

        return aws_client("s3")

    @cached_property
    def store(self) -> ObjectStore:
        store = ObjectStore(self.s3, self.settings.bucket)
        store.ensure_bucket()
        return store

    @cached_property
    def sagemaker(self) -> Any:
        from catalog_search.connections import aws_client

        return aws_client("sagemaker")

    @cached_property
    def dynamodb(self) -> Any:
        from catalog_search.connections import aws_client

        return aws_client("dynamodb")

    @cached_property
    def opensearch(self) -> Any:
        from catalog_search.connections import opensearch_client

        return opensearch_client()

    @cached_property
    def runner(self) -> Runner:
        if self.settings.runner == "local":
            return LocalRunner(self.s3, self.sagemaker, self.settings.work_dir)
        from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

        return SageMakerRunner(SageMakerHook())


def _parquet(store: ObjectStore, key: str, frame: pd.DataFrame) -> str:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return store.put_bytes(key, buffer.getvalue())


def _read_parquet(store: ObjectStore, key: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(store.get_bytes(key)))


# --- catalog_refresh -------------------------------------------------------------------

def land_snapshot(settings: Settings, store: ObjectStore, snapshot_id: str, derive_from: str | None = None) -> dict:
    """Write the source catalog as an immutable snapshot; rows that cannot be served go to rejects.

    With ``derive_from`` (a snapshot id), the refresh simulator derives this snapshot from that
    one instead (products added, removed, retitled, recategorised), for exercising nightly runs."""
    if derive_from:
        previous = _read_parquet(store, Layout.snapshot_products(derive_from))
        source, changes = refresh.simulate_refresh(previous, refresh.RefreshSpec(seed=int(short_hash(snapshot_id), 16)))
        origin = f"refresh of {derive_from}: " + ", ".join(f"{len(v)} {k}" for k, v in changes.items())
    else:
        source, origin = catalog.load_source(settings.source_dir), str(settings.source_dir)
    products, rejects = catalog.split_rejects(source)
    prefix = Layout.snapshot(snapshot_id)
    _parquet(store, prefix + "products.parquet", products)
    _parquet(store, prefix + "rejected.parquet", rejects)
    manifest = {
        "snapshot_id": snapshot_id, "source": origin, "products": len(products),
        "rejected": len(rejects), "categories": int(products["category"].nunique()),
        "landed_at": utc_stamp(datetime.now(timezone.utc)),
    }
    store.put_json(prefix + "manifest.json", manifest)
    log.info("snapshot %s: %d products, %d rejected (%s) from %s", snapshot_id, len(products), len(rejects), store.uri(prefix), origin)
    return manifest


def _validate(settings: Settings, store: ObjectStore, frame: pd.DataFrame, suite: str, where: str,
              expectations, report_prefix: str, extra: dict | None = None) -> validation.ValidationReport:
    """Run a suite with Data Docs, publish report and docs under reports/, raise on failure."""
    docs_dir = settings.work_dir / report_prefix / "data_docs" / suite
    report = validation.validate(frame, suite, where, expectations, docs_dir=docs_dir)
    docs_uri = store.upload_dir(docs_dir, f"{report_prefix}data_docs/{suite}/")
    uri = store.put_json(f"{report_prefix}{suite}.json", {**report.as_dict(), **(extra or {}), "data_docs_uri": docs_uri + "index.html"})
    log.info("%s\nreport: %s\nData Docs: %s (local %s)", report.summary(), uri, docs_uri + "index.html", report.docs)
    return validation.require(report)


def validate_snapshot(settings: Settings, store: ObjectStore, snapshot_id: str, report_prefix: str) -> dict:
    """The snapshot suite; against the newest earlier snapshot, also its size and category churn."""
    products = _read_parquet(store, Layout.snapshot_products(snapshot_id))
    previous_id = previous_snapshot(store, snapshot_id)
    diff = None
    if previous_id:
        diff = {"previous_snapshot": previous_id,
                **sql.catalog_diff(products, _read_parquet(store, Layout.snapshot_products(previous_id)))}
        log.info("against %s: %s", previous_id, diff)
    expectations = validation.snapshot_expectations(diff["previous_rows"] if diff else None, settings.row_tolerance)
    _validate(settings, store, products, "catalog_snapshot", store.uri(Layout.snapshot(snapshot_id)), expectations,
              report_prefix, {"diff": diff})
    store.put_json(Layout.snapshot_validated(snapshot_id), {"report": store.uri(f"{report_prefix}catalog_snapshot.json")})
    return {"snapshot_id": snapshot_id, "diff": diff}


def previous_snapshot(store: ObjectStore, snapshot_id: str) -> str | None:
    """The newest validated snapshot older than this one (so a backfill compares with its own past)."""
    ids = [p.rstrip("/").rsplit("/", 1)[-1] for p in store.list_prefixes("catalog/snapshots/")]
    older = sorted(i for i in ids if i < snapshot_id and store.exists(Layout.snapshot_validated(i)))
    return older[-1] if older else None


def publish_snapshot_pointer(store: ObjectStore, snapshot_id: str) -> dict:
    """Move catalog/latest.json forward only: a backfilled older snapshot leaves it alone."""
    current = store.get_json(Layout.LATEST_SNAPSHOT, default={}).get("snapshot_id", "")
    if snapshot_id >= current:
        store.put_json(Layout.LATEST_SNAPSHOT, {"snapshot_id": snapshot_id})
    return {"snapshot_id": snapshot_id, "latest": max(snapshot_id, current)}


def latest_snapshot(store: ObjectStore) -> str:
    pointer = store.get_json(Layout.LATEST_SNAPSHOT, default=None)
    if not pointer:
        raise NotFound(f"no catalog snapshot yet ({store.uri(Layout.LATEST_SNAPSHOT)}): run catalog_refresh first")
    return pointer["snapshot_id"]


# --- embedding_training ----------------------------------------------------------------

def prepare_training_data(settings: Settings, store: ObjectStore, snapshot_id: str, run_key: str, report_prefix: str) -> dict:
    """Pairs (split by product), vocabulary and Object2Vec JSON Lines under training/{snapshot}/{run}/,
    checked by the pairs suite before anything is uploaded."""
    products = _read_parquet(store, Layout.snapshot_products(snapshot_id))
    spec = settings.training_data_spec()
    local = settings.work_dir / "training" / snapshot_id / run_key
    shutil.rmtree(local, ignore_errors=True)  # a retry starts from an empty folder
    pretrained = _pretrained_file(settings, store, local.parent / "pretrained")
    report = training_data.prepare(products, spec, local, pretrained)
    pairs = pd.read_parquet(local / training_data.PAIRS_FILE)
    category = catalog.category_levels(products.set_index("product_id")["category"], spec.pairs.level)
    _validate(settings, store, validation.pairs_frame(pairs, category), "pairs", str(local),
              validation.pairs_expectations(spec.pairs.positive_share), report_prefix)
    prefix = Layout.training(snapshot_id, run_key)
    store.upload_dir(local, prefix)
    log.info("pairs: %d (positive share %.3f, hard negatives %.3f), vocabulary %d, short categories %s",
             report["pairs"], report["positive_share"], report["hard_negative_share"], report["vocab_size"],
             report["short_categories"][:10])
    return {"training_uri": store.uri(prefix), "vocab_size": report["vocab_size"], "pairs": report["pairs"],
            "pretrained": "pretrained" in report}


def _pretrained_file(settings: Settings, store: ObjectStore, local_dir: Path) -> Path | None:
    """The configured GloVe file, local or s3://, as a local path (None when not configured)."""
    if not settings.pretrained_embeddings:
        return None
    if not settings.pretrained_embeddings.startswith("s3://"):
        return Path(settings.pretrained_embeddings)
    bucket, key = split_s3_uri(settings.pretrained_embeddings)
    target = local_dir / Path(key).name
    target.parent.mkdir(parents=True, exist_ok=True)
    store.s3.download_file(bucket, key, str(target))
    return target


def model_version_for(snapshot_id: str, run_key: str) -> str:
    """Model versions sort by snapshot time and are unique per training run."""
    return job_name("o2v", snapshot_id, run_key)


def training_config(settings: Settings, store: ObjectStore, snapshot_id: str, run_key: str, training: dict) -> dict:
    hyper = sagemaker_jobs.object2vec_hyperparameters(settings, training["vocab_size"], training.get("pretrained", False))
    return sagemaker_jobs.training_job_config(
        settings, model_version_for(snapshot_id, run_key), training["training_uri"], store.uri("models/"), hyper
    )


def train(runner: Runner, store: ObjectStore, config: dict, snapshot_id: str) -> dict:
    description = runner.train(config)
    model_version = config["TrainingJobName"]
    metrics = gating.metrics_by_name(description)
    store.put_json(Layout.model(model_version) + "metrics.json", metrics)
    store.put_json(Layout.model(model_version) + "lineage.json", {
        "model_version": model_version, "snapshot_id": snapshot_id,
        "training_uri": config["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"].rsplit("train/", 1)[0],
        "model_data_url": description["ModelArtifacts"]["S3ModelArtifacts"],
        "hyperparameters": config["HyperParameters"], "image": config["AlgorithmSpecification"]["TrainingImage"],
    })
    log.info("trained %s: %s", model_version, metrics)
    return {"model_version": model_version, "metrics": metrics, "model_data_url": description["ModelArtifacts"]["S3ModelArtifacts"]}


def gate_and_promote(settings: Settings, store: ObjectStore, sagemaker: Any, trained: dict) -> dict:
    """Champion only if the gate passes; a failed gate raises and publishes nothing."""
    champion = store.get_json(Layout.CHAMPION, default=None)
    champion_metrics = champion["metrics"] if champion else None
    decision = gating.decide(trained["metrics"], champion_metrics, settings.min_validation_accuracy, settings.champion_tolerance)
    if not decision.passed:
        raise gating.GateFailed(f"model {trained['model_version']} not promoted: " + "; ".join(decision.reasons))
    register_model(sagemaker, sagemaker_jobs.model_config(settings, trained["model_version"], trained["model_data_url"]))
    lineage = store.get_json(Layout.model(trained["model_version"]) + "lineage.json")
    record = {**trained, "snapshot_id": lineage["snapshot_id"], "promoted_at": utc_stamp(datetime.now(timezone.utc))}
    store.put_json(Layout.CHAMPION, record)
    return record


def champion(store: ObjectStore) -> dict:
    record = store.get_json(Layout.CHAMPION, default=None)
    if not record:
        raise NotFound(f"no champion model ({store.uri(Layout.CHAMPION)}): run embedding_training first")
    return record


# --- catalog_enrichment ----------------------------------------------------------------

def prepare_transform_input(settings: Settings, store: ObjectStore, snapshot_id: str, model_version: str) -> dict:
    """Object2Vec inference JSON Lines of every product, in the order of product_ids.parquet."""
    from catalog_search.encoder import Encoder

    products = _read_parquet(store, Layout.snapshot_products(snapshot_id))
    local = settings.work_dir / "enrichment" / snapshot_id / model_version
    data = store.get_bytes(Layout.model(model_version) + "output/model.tar.gz")
    encoder = Encoder.from_tarball(data, local / "model")
    prefix = Layout.enrichment(snapshot_id, model_version)
    path = local / "input" / "products.jsonl"
    tokenizer.write_inference_jsonl((tokenizer.encode(t, encoder.vocab, encoder.max_seq_len) for t in products["title"]), path)
    store.s3.upload_file(str(path), store.bucket, prefix + "input/products.jsonl")
    _parquet(store, prefix + "order/product_ids.parquet", products[["product_id"]])
    return {"input_uri": store.uri(prefix + "input/"), "output_uri": store.uri(prefix + "output/"), "records": len(products)}


def transform_config(snapshot_id: str, model_version: str, prepared: dict) -> dict:
    return sagemaker_jobs.transform_job_config(
        job_name("embed", snapshot_id, model_version), model_version, prepared["input_uri"], prepared["output_uri"]
    )


def assemble_enriched(settings: Settings, store: ObjectStore, snapshot_id: str, model_version: str, report_prefix: str) -> dict:
    """Join the transform's .out lines back to the products, validate, write enriched/products.parquet."""
    prefix = Layout.enrichment(snapshot_id, model_version)
    products = _read_parquet(store, Layout.snapshot_products(snapshot_id))
    order = _read_parquet(store, prefix + "order/product_ids.parquet")["product_id"]
    lines = store.get_bytes(prefix + "output/products.jsonl.out").decode().splitlines()
    vectors = np.array([json.loads(line)["embeddings"] for line in lines], dtype=np.float32) if lines else np.empty((0, 0))
    if len(vectors) != len(order):
        raise validation.ValidationFailed(validation.ValidationReport(
            "embeddings", store.uri(prefix + "output/"), len(vectors),
            [validation.RuleResult(f"one output line per input record ({len(order)})", False, observed=len(vectors))],
        ))
    frame = pd.DataFrame({"product_id": order.to_numpy(), "embedding": list(vectors),
                          "embedding_dim": vectors.shape[1], "embedding_norm": np.linalg.norm(vectors, axis=1)})
    _validate(settings, store, frame, "embeddings", store.uri(prefix + "output/"),
              validation.embeddings_expectations(len(products), settings.embedding_dim), report_prefix)
    enriched = products.merge(frame[["product_id", "embedding"]], on="product_id", how="inner", validate="one_to_one")
    enriched_uri = _parquet(store, prefix + "enriched/products.parquet", enriched)
    current = store.get_json(Layout.LATEST_ENRICHMENT, default={})
    if (snapshot_id, model_version) >= (current.get("snapshot_id", ""), current.get("model_version", "")):
        store.put_json(Layout.LATEST_ENRICHMENT, {"snapshot_id": snapshot_id, "model_version": model_version})
    return {"snapshot_id": snapshot_id, "model_version": model_version, "enriched_uri": enriched_uri, "products": len(enriched)}


# --- search_index_publish --------------------------------------------------------------

def load_enriched(store: ObjectStore, snapshot_id: str, model_version: str) -> pd.DataFrame:
    return _read_parquet(store, Layout.enrichment(snapshot_id, model_version) + "enriched/products.parquet")


def latest_enriched(store: ObjectStore) -> dict:
    """The newest enriched catalog (snapshot id, model version); the pointer only moves forward."""
    pointer = store.get_json(Layout.LATEST_ENRICHMENT, default=None)
    if not pointer:
        raise NotFound(f"no enriched catalog yet ({store.uri(Layout.LATEST_ENRICHMENT)}): run catalog_enrichment first")
    return pointer


def upsert_items(services: Services, snapshot_id: str, model_version: str) -> dict:
    dynamo.ensure_table(services.dynamodb, services.settings.table_name)
    enriched = load_enriched(services.store, snapshot_id, model_version)
    written = dynamo.upsert(services.dynamodb, services.settings.table_name, dynamo.enriched_rows(enriched, snapshot_id, model_version))
    return {"table": services.settings.table_name, "items": written}


def build_index(services: Services, snapshot_id: str, model_version: str, run_key: str) -> dict:
    settings = services.settings
    enriched = load_enriched(services.store, snapshot_id, model_version)
    name = index.index_name(settings.index_alias, snapshot_id, model_version, run_key)
    meta = {"snapshot_id": snapshot_id, "model_version": model_version, "run_key": run_key,
            "built_at": utc_stamp(datetime.now(timezone.utc))}
    loaded = index.build(services.opensearch, name, enriched, len(enriched["embedding"].iloc[0]), settings.knn_engine, meta)
    check = index.validate(services.opensearch, name, enriched)
    log.info("index %s: %d documents, self-recall %.2f", name, check.documents, check.self_recall)
    return {"index": name, "documents": loaded, "self_recall": check.self_recall}


def swap_alias(services: Services, index_name: str) -> dict:
    result = index.swap_alias(services.opensearch, services.settings.index_alias, index_name)
    log.info("alias %s → %s (%s)", result.alias, result.live, result.reason)
    removed = index.apply_retention(services.opensearch, services.settings.index_alias, services.settings.index_retention)
    return {**result.__dict__, "removed": removed}


def run_key_for(run_id: str) -> str:
    """A path-safe key of an Airflow run id that stays the same when the run is retried."""
    return f"{slug(run_id, 48)}-{short_hash(run_id, length=6)}"
