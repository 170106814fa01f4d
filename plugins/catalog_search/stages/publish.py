"""search_index_publish and search_index_rollback: DynamoDB items, a new versioned k-NN index,
its checks (documents, vectors, the golden queries), the atomic alias swap, retention, rollback."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from catalog_search import sql
from catalog_search.clients import Clients
from catalog_search.errors import PermanentError
from catalog_search.naming import utc_stamp
from catalog_search.sagemaker import query_endpoint
from catalog_search.sagemaker.batch_embeddings import BatchQueryEncoders
from catalog_search.search import evaluation, query
from catalog_search.search.terms import QueryVectors
from catalog_search.settings import Settings
from catalog_search.stages import Run
from catalog_search.store import changes, dynamo, index, object_store, pointers
from catalog_search.store.batches import CatalogBatches, id_batches
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.store.object_store import MissingObject, ObjectStore

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


def _enriched(store: ObjectStore, snapshot_id: str, model_version: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The enriched catalog and its vectors as one matrix (the frame's row arrays are views of
    it), for the diff and the index check, which would otherwise stack a million arrays."""
    return object_store.frame_with_vectors(store.get_table(ObjectKeys.enriched_products(snapshot_id, model_version)), "embedding")


def upsert_items(clients: Clients, run: Run, snapshot_id: str, model_version: str) -> dict:
    """DynamoDB made equal to the snapshot: only new and changed products written, removed ones
    deleted (or tombstoned), never over an item of a newer snapshot; then reconciled (a sample of
    each kind of product read back), and the snapshot recorded as the table's
    (``ObjectKeys.table_state``). A snapshot older than the table's writes nothing: it could
    only bring back products a newer snapshot removed. With the same model as the table's, only
    the night's changes are read, not the enriched catalog."""
    settings, store = clients.settings, clients.store
    table = settings.table_name
    current = store.get_json(ObjectKeys.table_state(table), default={})
    if current.get("snapshot_id", "") > snapshot_id:
        log.info("DynamoDB %s already holds snapshot %s, newer than %s: nothing written", table, current["snapshot_id"], snapshot_id)
        return {"table": table, "written": 0, "table_snapshot": current["snapshot_id"]}
    if (current.get("snapshot_id"), current.get("model_version")) == (snapshot_id, model_version):
        log.info("DynamoDB %s already holds snapshot %s with model %s: nothing written", table, snapshot_id, model_version)
        return {"table": table, "written": 0, "table_snapshot": snapshot_id, "live_items": current["live_items"]}
    dynamo.ensure_table(clients.dynamodb, table)
    local = settings.work_dir / "publish" / run.key / snapshot_id / model_version / "enriched.parquet"
    found = _held_changes(clients, current, snapshot_id, model_version, local)
    try:
        report = dynamo.sync(clients.dynamodb, table, found, snapshot_id, model_version, settings.removed_products)
    finally:
        CatalogBatches.of(found.upserts).remove()
    expected = {**report.written_sample, **dynamo.content_hashes(found.unchanged_sample, snapshot_id, model_version)}
    checked = dynamo.reconcile(clients.dynamodb, table, expected, snapshot_id, _sample(found.removed_ids))
    live_items = len(found.upserts) + len(found.unchanged_ids)
    store.put_json(ObjectKeys.table_state(table), {"snapshot_id": snapshot_id, "model_version": model_version,
                                               "live_items": live_items, "synced_at": utc_stamp(datetime.now(UTC))})
    log.info("DynamoDB %s: %s; %d products read back and as written; %d live items", table, report, checked, live_items)
    return {"table": table, "written": report.written, "read_back": checked, "live_items": live_items,
            "table_snapshot": snapshot_id, **report.counts}


def _sample(product_ids) -> set[str]:
    ids = pd.Series(product_ids, dtype=str)
    return set(ids.sample(min(changes.RECONCILE_SAMPLE, len(ids)), random_state=0))


def _held_changes(clients: Clients, current: dict, snapshot_id: str, model_version: str, local: Path) -> changes.CatalogChanges:
    """The snapshot's enriched catalog against the one the table holds (``current``, its state):
    with the same model, the changes between them; with another model (every vector differs),
    or when the held enriched catalog is gone, every product is written again (the catalog copied
    to ``local`` and read a batch at a time), the products the held snapshot lacks as new ones,
    and the held snapshot's products missing now are removed. No list of every product's id is
    made: the held ones are kept as hashes, and DuckDB finds the removed ones out of core."""
    store, settings = clients.store, clients.settings
    held = ObjectKeys.enriched_products(current["snapshot_id"], current["model_version"]) if current.get("snapshot_id") else ""
    if held and current["model_version"] == model_version and store.exists(held):
        return _changes_since(store, current["snapshot_id"], snapshot_id, model_version)
    catalog = CatalogBatches.from_store(store, ObjectKeys.enriched_products(snapshot_id, model_version), local)
    if not held:
        return changes.everything(catalog)
    before = store.download_file(ObjectKeys.snapshot_products(current["snapshot_id"]), local.with_name("held_products.parquet"))
    try:
        removed = sql.removed_products(before, local, settings.include_dir, local.with_name("duckdb"))
        return changes.everything(catalog, changes.HeldIds.of_batches(id_batches(before)), removed)
    finally:
        before.unlink(missing_ok=True)


def _changes_since(store: ObjectStore, before_snapshot: str, snapshot_id: str, model_version: str) -> changes.CatalogChanges:
    """The enriched catalog of ``before_snapshot`` against this snapshot's, compared once a night
    (``changes.kept_changes``): usually by the enrichment, when the vectors were carried over
    from that snapshot; otherwise here (both catalogs read whole), and kept for the stage after."""
    key = changes.kept_changes(store, before_snapshot, snapshot_id, model_version)
    try:
        return changes.kept(store, key)
    except MissingObject:
        after, vectors = _enriched(store, snapshot_id, model_version)
        before, before_vectors = _enriched(store, before_snapshot, model_version)
        found = changes.diff(before, after, vectors=(before_vectors, vectors))
    changes.keep(store, key, found)
    return found


SOURCES = ("s3", "dynamodb")


def build_index(clients: Clients, run: Run, snapshot_id: str, model_version: str, rebuild: bool = False,
                source: str = "s3") -> dict:
    """A new index, checked. With the live index built by the same model and schema from an
    older snapshot, it is that index cloned and the products that changed since applied (the
    rest, and their HNSW graphs, are not built again); otherwise, or asked to ``rebuild``, it is
    loaded from scratch. Every try starts again from the clone or from nothing.

    The products come from the enriched catalog in S3, copied to the task's disk and read a batch
    at a time (``store.batches``), or with ``source="dynamodb"`` (a rebuild when that catalog is
    gone) from the DynamoDB table, which must hold this snapshot."""
    settings = clients.settings
    if source not in SOURCES:
        raise PermanentError(f"source {source!r}: expected one of {SOURCES}")
    if settings.index_shards < 0:
        raise PermanentError(f"CATALOG_SEARCH_INDEX_SHARDS={settings.index_shards}: expected 0 (from the catalog's size) "
                             "or a number of primary shards ≥ 1")
    if source == "s3":
        catalog = CatalogBatches.from_store(clients.store, ObjectKeys.enriched_products(snapshot_id, model_version),
                                            settings.work_dir / "publish" / run.key / snapshot_id / model_version / "enriched.parquet")
    else:
        catalog = CatalogBatches.of(_table_catalog(clients, snapshot_id, model_version))
    try:
        return _build_checked(clients, run, catalog, snapshot_id, model_version, rebuild or source == "dynamodb")
    finally:
        catalog.remove()


def _build_checked(clients: Clients, run: Run, enriched: CatalogBatches, snapshot_id: str, model_version: str,
                   rebuild: bool) -> dict:
    settings = clients.settings
    name = index.index_name(settings.index_alias, snapshot_id, model_version, run.key)
    dim = enriched.dim
    shards = settings.index_shards or index.shard_count(len(enriched), dim, _live_shards(clients))
    meta = {"snapshot_id": snapshot_id, "model_version": model_version, "run_key": run.key,
            "schema": index.schema_version(dim, settings.knn_engine, shards), "built_at": utc_stamp(datetime.now(UTC)),
            "fingerprint": index.fingerprint(enriched)}
    shape = index.IndexShape(settings.knn_engine, settings.index_replicas, settings.index_force_merge_segments, shards)
    base = None if rebuild else _incremental_base(clients, meta)
    how: dict = {"build": "full"}
    if base is not None:
        base_meta = index.index_meta(clients.opensearch, base)
        found = _changes_since(clients.store, base_meta["snapshot_id"], snapshot_id, model_version)
        index.build_from(clients.opensearch, name, base, found.upserts, found.removed_ids, shape, {**meta, "base_index": base})
        how = {"build": "incremental", "base_index": base, **found.summary}
        problems = index.verify(clients.opensearch, name)
        if problems:  # the base changed under the clone, or its changes did not apply as found
            log.warning("the clone of %s with the night's changes does not hold snapshot %s (%s): loading from scratch",
                        base, snapshot_id, "; ".join(problems))
            how = {"build": "full", "incremental_refused": problems}
    if how["build"] == "full":
        index.build(clients.opensearch, name, enriched, dim, shape, meta)
    check = index.validate(clients.opensearch, name, enriched, candidates=settings.fusion_window)
    problems = index.verify(clients.opensearch, name)
    if problems:
        raise index.IndexValidationFailed("; ".join(problems) + ". The alias was not moved.")
    log.info("index %s (%s): %d documents, k-NN recall@10 against exact search %.3f, fingerprint %s", name, how,
             check.documents, check.knn_recall, meta["fingerprint"])
    return {"index": name, "documents": check.documents, "shards": shards, "knn_recall": check.knn_recall,
            "fingerprint": meta["fingerprint"], **how}


def _live_shards(clients: Clients) -> int:
    """The live index's primary shards (0: no live index)."""
    live = index.live_index(clients.opensearch, clients.settings.index_alias)
    return index.primary_shards(clients.opensearch, live) if live else 0


def _table_catalog(clients: Clients, snapshot_id: str, model_version: str) -> pd.DataFrame:
    """The DynamoDB table's live items as an enriched catalog, if the table holds this snapshot."""
    table = clients.settings.table_name
    state = clients.store.get_json(ObjectKeys.table_state(table), default={})
    if (state.get("snapshot_id"), state.get("model_version")) != (snapshot_id, model_version):
        raise PermanentError(f"DynamoDB {table} holds snapshot {state.get('snapshot_id')} with model {state.get('model_version')} "
                             f"({clients.store.uri(ObjectKeys.table_state(table))}), not {snapshot_id} with {model_version}: "
                             "rebuild from the table with those, or from S3 (source s3)")
    catalog = dynamo.read_catalog(clients.dynamodb, table, model_version)
    if len(catalog) != state["live_items"]:
        raise PermanentError(f"DynamoDB {table}: {len(catalog)} live items, but {state['live_items']} were synced for "
                             f"snapshot {snapshot_id}; the table changed outside the pipeline")
    log.info("read %d products of snapshot %s back from DynamoDB %s", len(catalog), snapshot_id, table)
    return catalog


def _incremental_base(clients: Clients, meta: dict) -> str | None:
    """The live index if the new one can start from it: same model and schema, an older
    snapshot, that snapshot's enriched catalog still in the store, and the index proven to hold
    that snapshot (its fingerprint recomputed from its documents: an index that lost writes in a
    crash, say, is no base). Otherwise None, and the log says why."""
    live = index.live_index(clients.opensearch, clients.settings.index_alias)
    if live is None:
        return None
    held = index.index_meta(clients.opensearch, live)
    same = all(held.get(key) == meta[key] for key in ("model_version", "schema"))
    if not (same and held.get("snapshot_id", "") < meta["snapshot_id"] and clients.store.exists(
            ObjectKeys.enriched_products(held["snapshot_id"], meta["model_version"]))):
        return None
    problems = index.verify(clients.opensearch, live)
    if problems:
        log.warning("the live index %s is no base for snapshot %s (%s): loading from scratch", live, meta["snapshot_id"],
                    "; ".join(problems))
        return None
    return live


def swap_alias(clients: Clients, run: Run, index_name: str) -> dict:
    """Point the alias at the new index (never at an older snapshot), then apply retention. With
    the endpoint query encoder, the endpoint first comes to serve the new index's model, so that
    index and encoder switch together.

    Right before the alias moves, the index must still hold what was validated: its fingerprint
    (document count, checksum sum) recomputed from its documents. If not (writes lost in a node
    crash since the build, say), it is built again from scratch, checked again (documents, k-NN,
    the golden queries) and only then swapped in."""
    settings = clients.settings
    problems, rebuilt = index.verify(clients.opensearch, index_name), None
    if problems and index.live_index(clients.opensearch, settings.index_alias) != index_name:
        rebuilt = problems
        meta = index.index_meta(clients.opensearch, index_name)
        log.warning("%s: building it again before the swap", "; ".join(problems))
        index_name = build_index(clients, run, meta["snapshot_id"], meta["model_version"], rebuild=True)["index"]
        check_search_quality(clients, run, index_name)
    encoder = None
    if index.newer_live_snapshot(clients.opensearch, settings.index_alias, index_name) is None:
        encoder = _point_query_encoder(clients, index_name)
    result = index.swap_alias(clients.opensearch, settings.index_alias, index_name)
    log.info("alias %s → %s (%s)", result.alias, result.live, result.reason)
    removed = index.apply_retention(clients.opensearch, settings.index_alias, settings.index_retention)
    return {**result.__dict__, "removed": removed, "query_encoder": encoder, "rebuilt": rebuilt}


def rollback(clients: Clients, run: Run, target_index: str | None = None) -> dict:
    """Move the alias back to ``target_index`` (default: the index built before the live one),
    and the endpoint query encoder to that index's model. An index of another model than the
    champion makes that model the champion again, so that the next nights embed and publish with
    it instead of moving the alias forward to the model rolled back from."""
    store, alias = clients.store, clients.settings.index_alias
    target = index.rollback_target(clients.opensearch, alias, target_index)
    target_meta = index.index_meta(clients.opensearch, target)
    problems = index.verify(clients.opensearch, target)
    if problems and not target_meta.get("fingerprint"):
        log.warning("%s: rolling back to it unproven", problems[0])
    elif problems:
        raise index.IndexValidationFailed("; ".join(problems) + ": it is no index to roll back to (rebuild its snapshot "
                                          "instead, docs/operations.md). The alias was not moved.")
    model_version = target_meta.get("model_version")
    champion = store.get_json(ObjectKeys.CHAMPION, default={}).get("model_version")
    if champion and model_version not in (None, champion):
        # Before the alias moves: a retry then finds the same default target (the index before the
        # live one), and a model without its record stops the rollback before anything moved.
        pointers.reinstate_champion(store, pointers.champion_record(store, model_version), target_meta["snapshot_id"])
        log.info("champion: %s again (replaces %s); the next nights embed and publish with it", model_version, champion)
        champion = model_version
    encoder = _point_query_encoder(clients, target)
    return {**index.rollback(clients.opensearch, alias, target).__dict__, "query_encoder": encoder, "champion": champion}


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
    """Score the default search mode, and each of ``GOLDEN_ALSO_MODES``, on the golden queries
    against the new index and the live one, each judged on its own catalog (``evaluation``: by
    rule, or condensed qrels); refuse the new index (alias unmoved) when the default mode is below
    the floor, or when any checked mode answers the queries worse than the live index by more than
    the tolerance and more than the queries' own spread explains (a paired bootstrap over the
    queries). The keyword mode is checked on its own because the default mode leans on the k-NN
    list and the attribute bonus: an index whose titles went wrong lost little there (0.930 ->
    0.918 with every title moved to another product) and everything in keyword mode."""
    settings = clients.settings
    if not settings.golden_queries:
        log.warning("no golden queries configured (CATALOG_SEARCH_GOLDEN_QUERIES): search quality not checked")
        return {"checked": False}
    local = settings.work_dir / "golden" / run.key
    query_set = evaluation.read_query_set(_local_copy(clients, settings.golden_queries, local),
                                          _local_copy(clients, settings.golden_qrels, local) if settings.golden_qrels else None,
                                          evaluation.JudgingRule.from_settings(settings))
    vectors = _gate_query_vectors(clients, list(query_set.queries.values()))
    mode = settings.search_mode
    modes = [mode, *(m for m in settings.golden_also_modes if m != mode)]
    judged: dict[str, evaluation.Judgments] = {}

    def score(target: str, scored_mode: str) -> dict:
        if target not in judged:
            rule = query_set.rule
            judged[target] = query_set.judge(_index_catalog(clients, target, rule) if rule is not None else None)
        judgments = judged[target]
        depth = evaluation.NDCG_DEPTH if judgments.judged is None else evaluation.RECALL_DEPTH  # condensed lists need depth
        report = evaluation.evaluate(judgments, [scored_mode], lambda text, _: query.ranked_ids(
            clients.opensearch, target, vectors, query.SearchRequest(text, scored_mode, size=depth)))
        return {**report, **report.pop("modes")[scored_mode]}

    live_name = index.live_index(clients.opensearch, settings.index_alias)
    scored: dict[str, tuple[dict, dict | None]] = {}
    for scored_mode in modes:
        new, live = score(index_name, scored_mode), None
        if live_name and live_name != index_name:
            try:
                live = score(live_name, scored_mode)
            except MissingObject as missing:
                # The live index's query encoder or snapshot is gone (e.g. a local stack whose moto
                # restarted empty while OpenSearch kept its data): there is nothing to compare with,
                # and the floor still applies.
                log.warning("live index %s cannot be scored (%s); only the floor applies", live_name, missing)
        scored[scored_mode] = (new, live)
    new, live = scored[mode]
    result = {"checked": True, "mode": mode, "judging": new["judging"], "queries": new["queries"],
              "unjudgeable": new["unjudgeable"], "ndcg@10": new["ndcg@10"], "live_index": live_name,
              "live_ndcg@10": live["ndcg@10"] if live else None}
    problems = []
    if new["ndcg@10"] < settings.min_golden_ndcg:
        problems.append(f"nDCG@10 {new['ndcg@10']:.3f} is below the floor {settings.min_golden_ndcg:.3f}")
    for scored_mode, (new_m, live_m) in scored.items():
        compared = _compared(query_set, new_m, live_m, settings)
        if scored_mode == mode:
            result.update(compared.get("result", {}))
        else:
            result.setdefault("also", {})[scored_mode] = {"ndcg@10": new_m["ndcg@10"],
                                                          "live_ndcg@10": live_m["ndcg@10"] if live_m else None,
                                                          **compared.get("result", {})}
        if "problem" in compared:
            problems.append(compared["problem"] if scored_mode == mode else f"in {scored_mode} mode, {compared['problem']}")
        log.info("golden queries (%s mode, judged by %s, %d scored%s): new %s nDCG@10 %.3f, live %s %s%s", scored_mode,
                 new_m["judging"], new_m["queries"],
                 f", {len(new_m['unjudgeable'])} without a relevant product" if new_m["unjudgeable"] else "", index_name,
                 new_m["ndcg@10"], live_name, f"{live_m['ndcg@10']:.3f}" if live_m else "-",
                 f" (paired difference {compared['result']['difference']:+.3f}, bound {compared['result']['upper_bound']:+.3f})"
                 if "result" in compared else "")
    if problems:
        raise SearchQualityFailed(f"index {index_name} refused on the golden queries ({mode} mode): "
                                  + "; ".join(problems) + ". The alias was not moved.")
    return result


def _compared(query_set: evaluation.QuerySet, new: dict, live: dict | None, settings: Settings) -> dict:
    """One mode's new and live scores compared query by query: ``result`` (the paired figures and
    the worst queries) and, for a drop beyond the tolerance and the spread, ``problem``."""
    if live is None:
        return {}
    new_scores, live_scores = ({q: s["ndcg@10"] for q, s in report["per_query"].items()} for report in (new, live))
    if not new_scores.keys() & live_scores.keys():
        log.warning("no golden query has a relevant product in both indices' catalogs: only the floor applies")
        return {}
    paired = evaluation.paired_comparison(new_scores, live_scores, settings.golden_confidence)
    compared: dict = {"result": {
        "compared_queries": paired.queries, "difference": paired.difference, "upper_bound": paired.upper_bound,
        "worst_queries": [{"qid": q, "query": query_set.queries[q], "new": a, "live": b} for q, a, b in paired.worst]}}
    if paired.drop_is_real(settings.golden_ndcg_tolerance):
        worst = "; ".join(f"{q} {query_set.queries[q]!r} {b:.3f} → {a:.3f}" for q, a, b in paired.worst)
        compared["problem"] = (f"on the {paired.queries} queries scored on both, nDCG@10 {paired.new:.3f} against the live "
                               f"index's {paired.live:.3f}: a drop of {-paired.difference:.3f}, more than the tolerance "
                               f"{settings.golden_ndcg_tolerance} and beyond the queries' spread (one-sided {paired.confidence:.0%} "
                               f"paired bootstrap bound of the difference {paired.upper_bound:+.3f}); worst queries, live → new: {worst}")
    return compared


def _index_catalog(clients: Clients, index_name: str, rule: evaluation.JudgingRule) -> pd.DataFrame:
    """The products of the snapshot an index serves (its ``_meta``), with the fields the rule reads."""
    snapshot_id = index.index_meta(clients.opensearch, index_name)["snapshot_id"]
    return clients.store.get_parquet(ObjectKeys.snapshot_products(snapshot_id), columns=evaluation.catalog_columns(rule))


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
