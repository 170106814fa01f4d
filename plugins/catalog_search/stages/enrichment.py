"""catalog_enrichment: embed every product of a snapshot with a model (Batch Transform), check
the vectors, write the enriched catalog."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from catalog_search import pointers, sagemaker_jobs, tokenizer, validation
from catalog_search.clients import Clients
from catalog_search.encoder import model_vocabulary
from catalog_search.layout import Layout
from catalog_search.settings import job_name
from catalog_search.stages import Run

log = logging.getLogger(__name__)


def resolve_inputs(clients: Clients, run: Run, snapshot_id: str | None = None, model_version: str | None = None) -> dict:
    """The snapshot and model to embed with: those given, else the newest snapshot and the champion."""
    store = clients.store
    return {"snapshot_id": snapshot_id or pointers.latest_snapshot(store),
            "model_version": model_version or pointers.champion(store)["model_version"]}


def needs_embedding(clients: Clients, run: Run, snapshot_id: str, model_version: str) -> bool:
    """False, saying why, when this (snapshot, model) was already enriched and published (the
    nightly cron and the new-snapshot event name the same one): the run ends without embedding
    or publishing anything again."""
    store = clients.store
    latest = store.get_json(Layout.LATEST_ENRICHMENT, default={})
    published = (latest.get("snapshot_id"), latest.get("model_version")) == (snapshot_id, model_version) \
        or latest.get("snapshot_id", "") > snapshot_id
    if published and store.exists(Layout.enriched_products(snapshot_id, model_version)):
        log.info("nothing to do: snapshot %s is already enriched with model %s (%s)", snapshot_id, model_version,
                 store.uri(Layout.enriched_products(snapshot_id, model_version)))
        return False
    return True


def prepare_transform_input(clients: Clients, run: Run, snapshot_id: str, model_version: str) -> dict:
    """Object2Vec inference JSON Lines of every product (in the order of ``transform_order``);
    returns the CreateTransformJob request."""
    settings, store = clients.settings, clients.store
    products = store.get_parquet(Layout.snapshot_products(snapshot_id))
    local = settings.work_dir / "enrichment" / snapshot_id / model_version
    vocab, max_seq_len = model_vocabulary(store, model_version)  # any model format: SageMaker's or the local trainer's
    path = local / "input" / "products.jsonl"
    tokenizer.write_inference_jsonl((tokenizer.encode(t, vocab, max_seq_len) for t in products["title"]), path)
    store.upload_file(path, Layout.transform_input_file(snapshot_id, model_version))
    store.put_parquet(Layout.transform_order(snapshot_id, model_version), products[["product_id"]])
    return sagemaker_jobs.transform_job_config(
        job_name("embed", snapshot_id, model_version), model_version,
        store.uri(Layout.transform_input(snapshot_id, model_version)), store.uri(Layout.transform_output(snapshot_id, model_version)),
    )


def assemble_enriched(clients: Clients, run: Run, snapshot_id: str, model_version: str) -> dict:
    """Join the transform's .out lines back to the products, validate, write the enriched catalog
    and move enrichment/latest.json forward."""
    settings, store = clients.settings, clients.store
    products = store.get_parquet(Layout.snapshot_products(snapshot_id))
    order = store.get_parquet(Layout.transform_order(snapshot_id, model_version))["product_id"]
    output = store.uri(Layout.transform_output(snapshot_id, model_version))
    lines = store.get_bytes(Layout.transform_output_file(snapshot_id, model_version)).decode().splitlines()
    vectors = np.array([json.loads(line)["embeddings"] for line in lines], dtype=np.float32) if lines else np.empty((0, 0))
    if len(vectors) != len(order):
        raise validation.ValidationFailed(validation.ValidationReport(
            "embeddings", output, len(vectors),
            [validation.RuleResult(f"one output line per input record ({len(order)})", False, observed=len(vectors))],
        ))
    frame = pd.DataFrame({"product_id": order.to_numpy(), "embedding": list(vectors),
                          "embedding_dim": vectors.shape[1], "embedding_norm": np.linalg.norm(vectors, axis=1)})
    validation.check_and_publish(store, frame, "embeddings", output,
                                 validation.embeddings_expectations(len(products), settings.embedding_dim),
                                 run.report_prefix, settings.work_dir)
    enriched = products.merge(frame[["product_id", "embedding"]], on="product_id", how="inner", validate="one_to_one")
    enriched_uri = store.put_parquet(Layout.enriched_products(snapshot_id, model_version), enriched)
    pointers.advance_enrichment(store, snapshot_id, model_version)
    return {"snapshot_id": snapshot_id, "model_version": model_version, "enriched_uri": enriched_uri, "products": len(enriched)}
