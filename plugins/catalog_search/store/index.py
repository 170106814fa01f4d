"""Versioned OpenSearch k-NN indices behind one alias: build, validate, swap, retain.

Every build writes a new index named after its snapshot and run; the alias moves to it in
one atomic ``_aliases`` call only after validation, and never to an older snapshot than the
live one, so a backfill cannot roll the live search back.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from catalog_search.errors import NotFound, PermanentError
from catalog_search.naming import short_hash, slug
from catalog_search.store.batches import CatalogBatches, as_matrix, row_norms
from catalog_search.training.catalog import CATEGORY_SEPARATOR


class IndexValidationFailed(PermanentError):
    """The new index is incomplete or its vectors do not retrieve; the alias stays where it was."""


def index_name(alias: str, snapshot_id: str, model_version: str, run_key: str) -> str:
    return f"{alias}-{slug(snapshot_id, 40)}-{short_hash(model_version, run_key)}"


@dataclass(frozen=True)
class IndexShape:
    """How the live index is shaped once loaded: k-NN engine, replicas (1 or more on AWS; 0 on a
    single local node, which has nowhere to put a replica), an optional force-merge to this
    many segments (0: none) so that searches visit fewer HNSW graphs, and its primary shards
    (``shard_count``)."""

    engine: str = "lucene"
    replicas: int = 1
    force_merge_segments: int = 0
    shards: int = 1


# A primary shard's size: AWS's guidance for search workloads is 10-30 GiB a shard. A new count
# aims at the middle; a live index's count is kept while its shards stay inside the range, so that
# a catalog growing or shrinking by a few products does not reload the index (a new shard count
# means a full load: a clone keeps its base's).
SHARD_TARGET_BYTES = 20 * 2**30
SHARD_BYTES_RANGE = (10 * 2**30, 30 * 2**30)
# What one product takes on disk in a primary shard, measured on the demo's catalog indexed with
# 8, 128 and 384 dimensions (docs/scale.md; linear in the dimension): its fields, doc values and
# postings, and per dimension the vector's float32 values and its decimal text in the stored
# _source (``shortest_decimals``).
INDEX_BYTES_PER_PRODUCT = 220
INDEX_BYTES_PER_DIMENSION = 17


def estimated_index_bytes(products: int, dim: int) -> int:
    """The primary shards' size on disk of an index of ``products`` ``dim``-dimensional products."""
    return products * (INDEX_BYTES_PER_PRODUCT + dim * INDEX_BYTES_PER_DIMENSION)


def shard_count(products: int, dim: int, live_shards: int = 0) -> int:
    """Primary shards for an index of ``products`` products: the live index's count (``live_shards``,
    0: none) while its shards would stay within ``SHARD_BYTES_RANGE``, else one per
    ``SHARD_TARGET_BYTES``."""
    size = estimated_index_bytes(products, dim)
    low, high = SHARD_BYTES_RANGE
    if live_shards and size / live_shards <= high and (live_shards == 1 or size / live_shards >= low):
        return live_shards
    return max(1, math.ceil(size / SHARD_TARGET_BYTES))


def primary_shards(client: Any, name: str) -> int:
    settings = client.indices.get_settings(index=name, name="index.number_of_shards")
    return int(next(iter(settings.values()))["settings"]["index"]["number_of_shards"])


# While loading: no replicas (each would index every document again), no refreshes, and a
# translog fsynced in the background and flushed rarely (no small segments to merge): a load that
# fails is rebuilt from scratch anyway. ``finish_load`` restores what serving needs.
LOAD_SETTINGS = {"number_of_replicas": 0, "refresh_interval": "-1",
                 "translog": {"durability": "async", "flush_threshold_size": "1gb"}}
SERVING_SETTINGS = {"refresh_interval": "1s", "translog": {"durability": "request", "flush_threshold_size": "512mb"}}
BULK_RETRIES: dict[str, Any] = {"max_retries": 6, "initial_backoff": 1, "max_backoff": 30}  # on 429 (node busy)
BULK_CHUNK = 500  # documents a bulk request
BULK_THREADS = 2  # bulk requests in flight


def index_body(dim: int, engine: str, meta: dict, shards: int = 1) -> dict:
    return {
        "settings": {"index": {"knn": True, "number_of_shards": shards, **LOAD_SETTINGS}},
        "mappings": {
            "_meta": meta,
            "dynamic_templates": [{"attributes_as_keywords": {
                "path_match": "attributes.*", "match_mapping_type": "string", "mapping": {"type": "keyword"},
            }}],
            "properties": {
                "product_id": {"type": "keyword"},
                "title": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
                "category": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
                "category_path": {"type": "keyword"},
                "brand": {"type": "keyword"},
                "description": {"type": "text"},
                "vendor": {"type": "keyword"},
                "currency": {"type": "keyword"},
                "price": {"type": "float"},
                "attributes": {"type": "object"},
                "checksum": {"type": "integer"},
                "embedding": {
                    "type": "knn_vector", "dimension": dim,
                    "method": {"name": "hnsw", "space_type": "cosinesimil", "engine": engine,
                               "parameters": {"m": 16, "ef_construction": 128}},
                },
            },
        },
    }


def category_prefixes(category: str) -> list[str]:
    """Every prefix of the path, so that a filter on any level is one term query."""
    levels = category.split(CATEGORY_SEPARATOR)
    return [CATEGORY_SEPARATOR.join(levels[: i + 1]) for i in range(len(levels))]


CONTENT_COLUMNS = ("product_id", "title", "category", "description", "brand", "price", "currency", "vendor", "attributes")
CHECKSUM_BITS = 16  # a document's checksum; a sum of 10^8 of them is exact in the double an aggregation returns
# Rows made into documents at a time: their vectors' float64 decimals and temporaries are 6 MB a
# thousand 384-d rows (10,000 at a time took 0.6 GB of the index build's peak, 2,000 0.4 GB).
DOCUMENT_CHUNK = 2_000


def checksums(rows: pd.DataFrame) -> np.ndarray:
    """Each product's checksum: the top bits of a 64-bit digest of everything its document holds
    (its fields and the float32 bits of its vector), stored with the document. The index's
    fingerprint is their count and sum (``fingerprint``), which one aggregation recomputes from
    what the index holds (``verify``): a lost, extra, stale or changed document moves it."""
    fields = pd.DataFrame({c: rows[c].astype(str).where(rows[c].notna(), "") for c in CONTENT_COLUMNS if c in rows.columns})
    text = pd.util.hash_pandas_object(fields, index=False).to_numpy()
    bits = np.ascontiguousarray(as_matrix(rows["embedding"]), dtype=np.float32).view(np.uint32).astype(np.uint64)
    weights = np.random.default_rng(CHECKSUM_BITS).integers(1, 2 ** 63, size=bits.shape[1], dtype=np.uint64) | np.uint64(1)
    mixed = text ^ (bits * weights).sum(axis=1, dtype=np.uint64)
    return (mixed >> np.uint64(64 - CHECKSUM_BITS)).astype(np.int64)


def fingerprint(enriched: pd.DataFrame | CatalogBatches) -> dict:
    """``{"documents", "checksum"}`` of an index that holds exactly these products (a batch at a time)."""
    catalog = CatalogBatches.of(enriched)
    total = sum(int(checksums(batch.iloc[start: start + DOCUMENT_CHUNK]).sum())
                for batch, _ in catalog for start in range(0, len(batch), DOCUMENT_CHUNK))
    return {"documents": len(catalog), "checksum": total}


def documents(enriched: pd.DataFrame, chunk: int = DOCUMENT_CHUNK) -> Iterable[dict]:
    """The products as index documents, converted a chunk at a time (a million rows as Python
    dicts at once would be gigabytes)."""
    for start in range(0, len(enriched), chunk):
        rows = enriched.iloc[start: start + chunk]
        vectors = shortest_decimals(as_matrix(rows["embedding"]))
        for row, vector, checksum in zip(rows.to_dict("records"), vectors, checksums(rows).tolist()):
            doc = {k: v for k, v in row.items() if v is not None and not (isinstance(v, float) and v != v)}
            doc["attributes"] = json.loads(row["attributes"]) if row.get("attributes") else {}
            doc["category_path"] = category_prefixes(row["category"])
            doc["embedding"] = vector.tolist()
            doc["checksum"] = checksum
            yield doc


FLOAT32_DIGITS = 9  # significant digits that always read back as the same float32 (C's FLT_DECIMAL_DIG)


def shortest_decimals(vectors: np.ndarray) -> np.ndarray:
    """float32 vectors as the float64 values nearest to their 9-significant-digit decimals. Each
    prints (as JSON) in at most 9 digits and reads back as the same float32, so OpenSearch indexes
    the same vectors, while the stored ``_source`` spends about 14 characters a value instead of the
    22 of the float64 a float32 widens to: the vectors' text is most of an index's size
    (docs/scale.md)."""
    wide = vectors.astype(np.float64)
    with np.errstate(divide="ignore"):
        exponent = np.floor(np.log10(np.abs(wide)))
    exponent[~np.isfinite(exponent)] = 0  # zeros
    decimals = FLOAT32_DIGITS - 1 - exponent
    exact = (decimals >= 0) & (decimals <= 22)  # 10**22 is the largest power of ten a float64 holds exactly
    scale = 10.0 ** np.where(exact, decimals, 0)
    rounded = np.round(wide * scale) / scale  # the float64 nearest the decimal: one correctly rounded division
    flat, values = rounded.reshape(-1), vectors.reshape(-1)
    for at in np.flatnonzero(~exact):  # below 1e-14 or from 1e9: rare in an embedding
        flat[at] = float(np.format_float_scientific(values[at], unique=True))
    return rounded


def schema_version(dim: int, engine: str, shards: int = 1) -> str:
    """A hash of the index's mappings and the settings it keeps (not those of the load, which it
    leaves), its shard count included: an index of another schema is never the base of an
    incremental build."""
    body = index_body(dim, engine, {}, shards)
    kept = {k: v for k, v in body["settings"]["index"].items() if k not in LOAD_SETTINGS}
    return short_hash(json.dumps({"settings": kept, "mappings": body["mappings"]}, sort_keys=True))


def build(client: Any, name: str, enriched: pd.DataFrame | CatalogBatches, dim: int, shape: IndexShape, meta: dict) -> int:
    """(Re)create the index from scratch, load every product (a batch at a time), then give it its
    production shape; safe to re-run."""
    _delete_if_exists(client, name)
    client.indices.create(index=name, body=index_body(dim, shape.engine, meta, shape.shards))
    loaded = _bulk(client, name, _index_actions(name, enriched))
    finish_load(client, name, shape)
    return loaded


def build_from(client: Any, name: str, base: str, upserts: pd.DataFrame | CatalogBatches, removed_ids: Iterable[str],
               shape: IndexShape, meta: dict) -> int:
    """(Re)create the index as a clone of ``base`` with ``upserts`` indexed and ``removed_ids``
    deleted: the clone hard-links the base's segments, so the documents and HNSW graphs that did
    not change are not built again. ``base`` gets a write block, which the clone requires; live
    indices are never written to anyway. Safe to re-run."""
    _delete_if_exists(client, name)
    client.indices.put_settings(index=base, body={"index": {"blocks": {"write": True}}})
    client.indices.clone(index=base, target=name, body={"settings": {"index": {
        "blocks": {"write": False}, **LOAD_SETTINGS}}}, params={"wait_for_active_shards": "all"})
    client.indices.put_mapping(index=name, body={"_meta": meta})
    # A delete the clone has nothing for is not an error here: the fingerprint check after the
    # load decides whether the result holds the snapshot (``verify``).
    deletes = ({"_op_type": "delete", "_index": name, "_id": pid} for pid in removed_ids)
    loaded = _bulk(client, name, itertools.chain(_index_actions(name, upserts), deletes))
    finish_load(client, name, shape)
    return loaded


def _delete_if_exists(client: Any, name: str) -> None:
    if client.indices.exists(index=name):
        client.indices.delete(index=name)


def _index_actions(name: str, enriched: pd.DataFrame | CatalogBatches) -> Iterable[dict]:
    return ({"_index": name, "_id": d["product_id"], "_source": d} for batch, _ in CatalogBatches.of(enriched)
            for d in documents(batch))


def _bulk(client: Any, name: str, actions: Iterable[dict]) -> int:
    """Send the actions in bulk requests, ``BULK_THREADS`` in flight so that the node indexes one
    while this process serializes the next (those the node rejects with 429 are retried with
    backoff); returns how many succeeded, or raises naming the rejected documents."""
    from opensearchpy import helpers

    def send(chunk: list[dict]) -> tuple[int, list]:
        return helpers.bulk(client, chunk, chunk_size=len(chunk), request_timeout=120, raise_on_error=False, **BULK_RETRIES)

    def failed(results: list) -> list:  # a delete of a document that is not there leaves what a delete wants
        return [r for r in results if r.get("delete", {}).get("status") != 404]

    ok, errors, in_flight = 0, list[dict](), set[Future]()
    with ThreadPoolExecutor(max_workers=BULK_THREADS) as pool:
        for chunk in _chunks(actions, BULK_CHUNK):
            if len(in_flight) >= BULK_THREADS:
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for sent in done:
                    ok, errors = ok + sent.result()[0], errors + failed(sent.result()[1])
            in_flight.add(pool.submit(send, chunk))
        for sent in in_flight:
            ok, errors = ok + sent.result()[0], errors + failed(sent.result()[1])
    if errors:
        raise IndexValidationFailed(f"{len(errors)} documents were rejected by {name}, e.g. {errors[:2]}")
    return ok


def _chunks(items: Iterable[dict], size: int) -> Iterable[list[dict]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def finish_load(client: Any, name: str, shape: IndexShape) -> None:
    """Replicas and refresh back to what serving needs, optionally fewer segments, and every
    write made durable; waits until the replicas are assigned, so the index is complete and on
    disk before it is checked or anyone swaps to it.

    The load's translog is fsynced in the background (``LOAD_SETTINGS``), so its last seconds of
    acknowledged writes may live only in memory: a node that dies then comes back with fewer
    documents. The flush after the serving settings is a Lucene commit of every operation so far,
    fsynced, which a restarted node recovers from; later writes are fsynced per request. The
    replicas, added after it, copy the committed segments, and green health waits for them."""
    client.indices.refresh(index=name)
    if shape.force_merge_segments > 0:
        client.indices.forcemerge(index=name, max_num_segments=shape.force_merge_segments, request_timeout=1800)
    client.indices.put_settings(index=name, body={"index": {"number_of_replicas": shape.replicas, **SERVING_SETTINGS}})
    flush(client, name)
    # "timeout" is the cluster's wait; opensearch-py's own keyword of that name is the HTTP timeout.
    health = client.cluster.health(index=name, params={"wait_for_status": "green", "timeout": "300s"},
                                   request_timeout=330, ignore=408)
    if health.get("timed_out"):
        raise IndexValidationFailed(
            f"index {name}: {health.get('unassigned_shards')} shard copies unassigned after 300 s with "
            f"{shape.replicas} replica(s) on {health.get('number_of_data_nodes')} data node(s); set "
            "CATALOG_SEARCH_INDEX_REPLICAS below the number of data nodes. The alias was not moved.")


def flush(client: Any, name: str) -> None:
    """A Lucene commit of every write so far, fsynced (waiting for one in progress)."""
    client.indices.flush(index=name, params={"wait_if_ongoing": "true", "force": "true"}, request_timeout=600)


def verify(client: Any, name: str, expected: dict | None = None) -> list[str]:
    """What is wrong, if anything, with the index against ``expected`` (default: the fingerprint
    its ``_meta`` claims for its snapshot): its document count and the sum of their checksums,
    recomputed by one aggregation over what it holds now. An empty list: it holds the snapshot."""
    meta = index_meta(client, name)
    expected = expected or meta.get("fingerprint")
    if not expected:
        return [f"index {name} has no fingerprint in its _meta (built before fingerprints were kept)"]
    answer = client.search(index=name, body={"size": 0, "track_total_hits": True,
                                             "aggs": {"checksum": {"sum": {"field": "checksum"}}}})
    found = {"documents": answer["hits"]["total"]["value"], "checksum": int(answer["aggregations"]["checksum"]["value"])}
    if found == {k: expected[k] for k in found}:
        return []
    return [f"index {name} holds {found['documents']} documents with checksum {found['checksum']}, but snapshot "
            f"{meta.get('snapshot_id')} has {expected['documents']} with checksum {expected['checksum']}"]


@dataclass(frozen=True)
class IndexCheck:
    documents: int
    expected: int
    knn_recall: float  # mean recall@k of the index's approximate k-NN against exact search


TIE_TOLERANCE = 1e-5  # cosine similarities this close are the same neighbour distance


def validate(client: Any, name: str, enriched: pd.DataFrame | CatalogBatches, sample: int = 50, k: int = 10,
             candidates: int = 100, min_knn_recall: float = 0.9) -> IndexCheck:
    """Every product is in the index, and its k-NN search finds the true neighbours: for a
    sample of products' vectors, the share of the index's top ``k`` that are among the exact top
    ``k`` (cosine over the enriched vectors), where a hit as close as the exact ``k``-th neighbour
    counts too. Products with identical titles share a vector; those ties are hits, so the check
    fails only when the graph (or the documents' vectors) is wrong, never on duplicates.

    The index is asked as the search asks it: ``candidates`` neighbours (the search's k-NN k),
    of which the top ``k`` count. Asked for only ``k``, the HNSW search explores ``k`` candidates,
    and a healthy graph of a million vectors scored 87 %. The catalog is read twice, a batch at a
    time: once for the sampled vectors, once for the exact neighbours and the hits' similarities."""
    catalog = CatalogBatches.of(enriched)
    count = client.count(index=name)["count"]
    rows = np.random.default_rng(0).choice(len(catalog), size=min(sample, len(catalog)), replace=False)
    depth = min(k, len(catalog))
    queries = _rows_of(catalog, rows)
    hits = [[h["_id"] for h in client.search(index=name, body={
        "size": depth, "_source": False,
        "query": {"knn": {"embedding": {"vector": vector.astype(float).tolist(), "k": max(candidates, depth)}}}})["hits"]["hits"]]
        for vector in queries]
    kth_best, hit_similarity = _exact_neighbours(catalog, queries, depth, hits)
    recalls = [sum(hit_similarity.get((query, h), -np.inf) >= kth_best[query] - TIE_TOLERANCE for h in found) / depth
               for query, found in enumerate(hits)]
    check = IndexCheck(count, len(catalog), float(np.mean(recalls)) if recalls else 1.0)
    problems = []
    if count != len(catalog):
        problems.append(f"{count} documents, expected {len(catalog)}")
    if check.knn_recall < min_knn_recall:
        problems.append(f"k-NN recall@{depth} (k={max(candidates, depth)}) against exact search is {check.knn_recall:.0%} over "
                        f"{len(rows)} sampled products (need {min_knn_recall:.0%}): the index's vectors or graph are wrong; rebuild it")
    if problems:
        raise IndexValidationFailed(f"index {name}: " + "; ".join(problems) + ". The alias was not moved.")
    return check


def _rows_of(catalog: CatalogBatches, rows: np.ndarray) -> np.ndarray:
    """The vectors of the catalog's ``rows`` (positions), in the order of ``rows``."""
    found: dict[int, np.ndarray] = {}
    start = 0
    for _, vectors in catalog:
        inside = rows[(rows >= start) & (rows < start + len(vectors))]
        found.update({int(row): vectors[row - start].copy() for row in inside})
        start += len(vectors)
    return np.stack([found[int(row)] for row in rows]) if len(rows) else np.empty((0, 0), dtype=np.float32)


def _exact_neighbours(catalog: CatalogBatches, queries: np.ndarray, depth: int,
                      hits: list[list[str]]) -> tuple[np.ndarray, dict[tuple[int, str], float]]:
    """Over the whole catalog, a batch at a time: each query's exact ``depth``-th best cosine, and
    the cosine of each query with the products the index returned for it (``hits``)."""
    if not len(queries):
        return np.empty(0), {}
    normed = queries / np.maximum(row_norms(queries), 1e-12)[:, None]
    best = np.full((len(queries), 0), -np.inf, dtype=np.float64)
    wanted: dict[str, list[int]] = {}  # product -> the queries it was a hit of
    for query, found in enumerate(hits):
        for product in found:
            wanted.setdefault(product, []).append(query)
    similarity_of: dict[tuple[int, str], float] = {}
    for batch, vectors in catalog:
        similarity = _exact_similarity(normed, vectors)
        best = np.concatenate([best, similarity], axis=1)
        if best.shape[1] > depth:
            best = np.partition(best, -depth, axis=1)[:, -depth:]
        for column, product in enumerate(batch["product_id"].astype(str)):
            for query in wanted.get(product, ()):
                similarity_of[(query, product)] = float(similarity[query, column])
    return best.min(axis=1), similarity_of


def _exact_similarity(normed_queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Cosine of each (unit-length) query with each of ``vectors`` (a row per query), as one
    matrix product: a million 256-d vectors one query at a time took 7 s."""
    return (normed_queries @ vectors.T) / np.maximum(row_norms(vectors), 1e-12)


def live_index(client: Any, alias: str) -> str | None:
    """The index behind the alias, or None (one request: every search asks)."""
    from opensearchpy import NotFoundError

    try:
        return next(iter(client.indices.get_alias(name=alias)))
    except NotFoundError:
        return None


def index_meta(client: Any, name: str) -> dict:
    return client.indices.get_mapping(index=name)[name]["mappings"].get("_meta", {})


@dataclass(frozen=True)
class SwapResult:
    alias: str
    live: str
    previous: str | None
    moved: bool
    reason: str


def _move_alias(client: Any, alias: str, previous: str | None, target: str) -> None:
    actions = [{"add": {"index": target, "alias": alias}}]
    if previous is not None:
        actions.insert(0, {"remove": {"index": previous, "alias": alias}})
    client.indices.update_aliases(body={"actions": actions})


def _indices_by_build_time(client: Any, alias: str) -> list[str]:
    names = client.indices.get(index=f"{alias}-*").keys()
    return sorted(names, key=lambda n: index_meta(client, n).get("built_at", ""))


def swap_alias(client: Any, alias: str, new_index: str) -> SwapResult:
    """Point the alias at new_index in one atomic call, unless the live index holds a newer snapshot."""
    previous = live_index(client, alias)
    if previous == new_index:
        return SwapResult(alias, new_index, previous, False, "already live")
    newer = newer_live_snapshot(client, alias, new_index)
    if newer is not None:
        assert previous is not None  # a newer snapshot is live: there is a live index
        return SwapResult(alias, previous, previous, False, f"live index holds newer snapshot {newer} than "
                                                            f"{index_meta(client, new_index).get('snapshot_id', '')} (backfill)")
    _move_alias(client, alias, previous, new_index)
    return SwapResult(alias, new_index, previous, True, "swapped")


def newer_live_snapshot(client: Any, alias: str, new_index: str) -> str | None:
    """The live index's snapshot if it is newer than ``new_index``'s: the alias must stay (a backfill)."""
    previous = live_index(client, alias)
    if previous is None or previous == new_index:
        return None
    live_snapshot = index_meta(client, previous).get("snapshot_id", "")
    return live_snapshot if index_meta(client, new_index).get("snapshot_id", "") < live_snapshot else None


def rollback(client: Any, alias: str, target: str | None = None) -> SwapResult:
    """Move the alias back to ``target`` (default: the index built just before the live one)."""
    previous = live_index(client, alias)
    target = rollback_target(client, alias, target)
    _move_alias(client, alias, previous, target)
    return SwapResult(alias, target, previous, True, "rolled back")


def rollback_target(client: Any, alias: str, target: str | None = None) -> str:
    """``target`` if it is one of the alias's indices, else (None) the one built just before the live one."""
    previous = live_index(client, alias)
    names = _indices_by_build_time(client, alias)
    if target is None:
        older = names[: names.index(previous)] if previous in names else []
        if not older:
            raise NotFound(f"alias {alias!r}: no index older than the live {previous!r} to roll back to")
        return older[-1]
    if target not in names:
        raise NotFound(f"index {target!r} does not exist; candidates: {names}")
    return target


def apply_retention(client: Any, alias: str, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` indices of the alias; the live one is always kept."""
    live = live_index(client, alias)
    names = _indices_by_build_time(client, alias)
    doomed = [n for n in names[:-keep] if n != live] if keep > 0 else []
    for name in doomed:
        client.indices.delete(index=name)
    return doomed
