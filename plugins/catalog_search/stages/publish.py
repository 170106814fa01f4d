"""search_index_publish and search_index_rollback: DynamoDB items, a new versioned k-NN index,
its checks (documents, vectors, the golden queries), the atomic alias swap, retention, rollback."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pandas as pd

from catalog_search import dynamo, evaluation, index, pointers, query_endpoint, search
from catalog_search.batch_embeddings import BatchQueryEncoders
from catalog_search.clients import Clients
from catalog_search.errors import PermanentError
from catalog_search.query_terms import QueryVectors
from catalog_search.layout import Layout
from catalog_search.settings import utc_stamp
from catalog_search.stages import Run
from catalog_search.storage import MissingObject, ObjectStore

log = logging.getLogger(__name__)


def resolve_inputs(clients: Clients, run: Run, snapshot_id: str | None = None, model_version: str | None = None) -> dict:
    """The enriched catalog to publish: the one given, else the newest."""
    if snapshot_id and model_version:
        return {"snapshot_id": snapshot_id, "model_version": model_version}
    latest = pointers.latest_enrichment(clients.store)
    return {"snapshot_id": snapshot_id or latest["snapshot_id"], "model_version": model_version or latest["model_version"]}


def needs_publishing(clients: Clients, run: Run, snapshot_id: str, model_version: str, rebuild: bool = False) -> bool:
    """False, saying why, when the live index already serves this (snapshot, model) (unless asked
    to ``rebuild`` it) or a newer snapshot (a backfill): the run then publishes nothing, so one
    night never publishes twice and a backfill never moves the alias or DynamoDB back."""
    live = index.live_index(clients.opensearch, clients.settings.index_alias)
    meta = index.index_meta(clients.opensearch, live) if live else {}
    if (meta.get("snapshot_id"), meta.get("model_version")) == (snapshot_id, model_version) and not rebuild:
        log.info("nothing to publish: %s already serves snapshot %s with model %s", live, snapshot_id, model_version)
        return False
    if meta.get("snapshot_id", "") > snapshot_id:
        log.info("nothing to publish: the live index %s serves snapshot %s, newer than %s; a backfill never moves "
                 "the alias or DynamoDB back", live, meta["snapshot_id"], snapshot_id)
        return False
    return True


def _enriched(clients: Clients, snapshot_id: str, model_version: str) -> pd.DataFrame:
    return clients.store.get_parquet(Layout.enriched_products(snapshot_id, model_version))


def upsert_items(clients: Clients, run: Run, snapshot_id: str, model_version: str) -> dict:
    """DynamoDB made equal to the snapshot: only new and changed products written, removed ones
    deleted (or tombstoned), never over an item of a newer snapshot; then reconciled, and the
    snapshot recorded as the table's (``Layout.table_state``). A snapshot older than the table's
    writes nothing: it could only bring back products a newer snapshot removed."""
    settings, store = clients.settings, clients.store
    table = settings.table_name
    current = store.get_json(Layout.table_state(table), default={})
    if current.get("snapshot_id", "") > snapshot_id:
        log.info("DynamoDB %s already holds snapshot %s, newer than %s: nothing written", table, current["snapshot_id"], snapshot_id)
        return {"table": table, "written": 0, "table_snapshot": current["snapshot_id"]}
    dynamo.ensure_table(clients.dynamodb, table)
    enriched = _enriched(clients, snapshot_id, model_version)
    # The products the table held: those of the snapshot it was made equal to last time.
    previous = set(store.get_parquet(Layout.snapshot_products(current["snapshot_id"]))["product_id"].astype(str)) \
        if current.get("snapshot_id") else set()
    report = dynamo.sync(clients.dynamodb, table, dynamo.enriched_rows(enriched, snapshot_id, model_version), snapshot_id,
                         previous, settings.removed_products)
    live = dynamo.reconcile(clients.dynamodb, table, set(enriched["product_id"].astype(str)), snapshot_id, previous)
    store.put_json(Layout.table_state(table), {"snapshot_id": snapshot_id, "model_version": model_version, "live_items": live,
                                               "synced_at": utc_stamp(datetime.now(timezone.utc))})
    log.info("DynamoDB %s: %s; %d live items = the snapshot's products", table, report, live)
    return {"table": table, "written": report.written, "live_items": live, "table_snapshot": snapshot_id, **report.__dict__}


def build_index(clients: Clients, run: Run, snapshot_id: str, model_version: str) -> dict:
    """A new index, rebuilt from scratch by every try, loaded, made production-shaped, checked."""
    settings = clients.settings
    enriched = _enriched(clients, snapshot_id, model_version)
    name = index.index_name(settings.index_alias, snapshot_id, model_version, run.key)
    meta = {"snapshot_id": snapshot_id, "model_version": model_version, "run_key": run.key,
            "built_at": utc_stamp(datetime.now(timezone.utc))}
    shape = index.IndexShape(settings.knn_engine, settings.index_replicas, settings.index_force_merge_segments)
    loaded = index.build(clients.opensearch, name, enriched, len(enriched["embedding"].iloc[0]), shape, meta)
    check = index.validate(clients.opensearch, name, enriched)
    log.info("index %s: %d documents, k-NN recall@10 against exact search %.3f", name, check.documents, check.knn_recall)
    return {"index": name, "documents": loaded, "knn_recall": check.knn_recall}


def swap_alias(clients: Clients, run: Run, index_name: str) -> dict:
    """Point the alias at the new index (never at an older snapshot), then apply retention. With
    the endpoint query encoder, the endpoint first comes to serve the new index's model, so that
    index and encoder switch together."""
    settings = clients.settings
    encoder = None
    if index.newer_live_snapshot(clients.opensearch, settings.index_alias, index_name) is None:
        encoder = _point_query_encoder(clients, index_name)
    result = index.swap_alias(clients.opensearch, settings.index_alias, index_name)
    log.info("alias %s → %s (%s)", result.alias, result.live, result.reason)
    removed = index.apply_retention(clients.opensearch, settings.index_alias, settings.index_retention)
    return {**result.__dict__, "removed": removed, "query_encoder": encoder}


def rollback(clients: Clients, run: Run, target_index: str | None = None) -> dict:
    """Move the alias back to ``target_index`` (default: the index built before the live one),
    and the endpoint query encoder to that index's model."""
    alias = clients.settings.index_alias
    target = index.rollback_target(clients.opensearch, alias, target_index)
    encoder = _point_query_encoder(clients, target)
    return {**index.rollback(clients.opensearch, alias, target).__dict__, "query_encoder": encoder}


def _point_query_encoder(clients: Clients, index_name: str) -> dict | None:
    """The SageMaker endpoint serves the model of ``index_name`` (query_encoder=endpoint only)."""
    if clients.settings.query_encoder != "endpoint":
        return None
    model_version = index.index_meta(clients.opensearch, index_name)["model_version"]
    deployed = query_endpoint.deploy(clients.sagemaker_hook, clients.settings, model_version)
    log.info("query encoder endpoint %s %s: serves %s", deployed["endpoint"], deployed["action"], model_version)
    return deployed


class SearchQualityFailed(PermanentError):
    """The new index answers the golden queries worse than allowed; the alias was not moved."""


def check_search_quality(clients: Clients, run: Run, index_name: str) -> dict:
    """Score the default search mode on the golden queries against the new index and the live
    one; refuse the new index (alias unmoved) below the floor or too far below the live index."""
    settings = clients.settings
    if not settings.golden_queries:
        log.warning("no golden queries configured (CATALOG_SEARCH_GOLDEN_QUERIES): search quality not checked")
        return {"checked": False}
    local = settings.work_dir / "golden" / run.key
    judgments = evaluation.read_judgments(_local_copy(clients, settings.golden_queries, local),
                                          _local_copy(clients, settings.golden_qrels, local))
    vectors = _gate_query_vectors(clients, list(judgments.queries.values()))
    mode = settings.search_mode

    def score(target: str) -> float:
        report = evaluation.evaluate(judgments, [mode], lambda text, _: search.ranked_ids(
            clients.opensearch, target, vectors, search.SearchRequest(text, mode, size=evaluation.NDCG_DEPTH)))
        return report["modes"][mode]["ndcg@10"]

    new = score(index_name)
    live_name = index.live_index(clients.opensearch, settings.index_alias)
    live = None
    if live_name and live_name != index_name:
        try:
            live = score(live_name)
        except MissingObject as missing:
            # The live index's query encoder is gone (e.g. a local stack whose moto restarted empty
            # while OpenSearch kept its data): it cannot answer by vector, so there is nothing to
            # compare with; the floor still applies.
            log.warning("live index %s cannot be scored (%s); only the floor applies", live_name, missing)
    result = {"checked": True, "mode": mode, "queries": len(judgments.queries), "ndcg@10": new,
              "live_index": live_name, "live_ndcg@10": live}
    problems = []
    if new < settings.min_golden_ndcg:
        problems.append(f"nDCG@10 {new:.3f} is below the floor {settings.min_golden_ndcg:.3f}")
    if live is not None and new < live - settings.golden_ndcg_tolerance:
        problems.append(f"nDCG@10 {new:.3f} is below the live index's {live:.3f} by more than {settings.golden_ndcg_tolerance}")
    log.info("golden queries (%s, %d queries): new %s nDCG@10 %.3f, live %s %s", mode, len(judgments.queries), index_name,
             new, live_name, f"{live:.3f}" if live is not None else "-")
    if problems:
        raise SearchQualityFailed(f"index {index_name} refused on the golden queries ({mode} mode): "
                                  + "; ".join(problems) + ". The alias was not moved.")
    return result


def _gate_query_vectors(clients: Clients, texts: list[str]) -> QueryVectors:
    """In process, each model's own encoder; with the endpoint encoder, which serves only the live
    model, each model's Batch Transform of the golden queries (``batch_embeddings``)."""
    if clients.settings.query_encoder == "endpoint":
        return QueryVectors(BatchQueryEncoders(clients, texts))
    return QueryVectors.for_clients(clients)


def _local_copy(clients: Clients, source: str, local_dir) -> str:
    """A golden file given as a local path or an s3:// URI, as a local path."""
    if not source.startswith("s3://"):
        return source
    store, key = ObjectStore.at(clients.s3, source)
    return str(store.download_file(key, local_dir / key.rsplit("/", 1)[-1]))
