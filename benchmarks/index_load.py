"""Index load on the local node: the seed's loop (one index request per product, the index as
created, refreshes every second) against ``index.build`` (bulk load without refreshes or
replicas, then the production shape), same products, same node, same run.

    python benchmarks/index_load.py [--products N]

Needs an enriched catalog in the store (run `make demo` first); loads its products (all of them
by default) into two scratch indices, deleted afterwards. Each figure is the wall time until the
index answers with every document: for the loop, its requests plus a final refresh; for
``index.build``, everything it does, graph builds included. Goal: ≥ 5× the loop.

Also ``index.build`` without its final flush (the load's writes durable only when the translog's
background fsync got to them), to state what durability costs.
"""

from __future__ import annotations

import argparse
import sys
import time

from catalog_search.clients import Clients
from catalog_search.settings import Settings
from catalog_search.store import index, pointers
from catalog_search.store.object_keys import ObjectKeys

GOAL = 5.0


def seed_loop(client, name: str, enriched, dim: int, engine: str) -> None:
    """What the seed did: create the index, then one request per document."""
    body = index.index_body(dim, engine, {})
    body["settings"]["index"] = {"knn": True, "number_of_shards": 1, "number_of_replicas": 0}
    client.indices.create(index=name, body=body)
    for doc in index.documents(enriched):
        client.index(index=name, id=doc["product_id"], body=doc)
    client.indices.refresh(index=name)


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=0, help="load only the first N products (0: all)")
    args = parser.parse_args()
    settings = Settings.from_env()
    clients = Clients.from_environment(settings)
    latest = pointers.latest_enrichment(clients.store)
    enriched = clients.store.get_parquet(ObjectKeys.enriched_products(latest["snapshot_id"], latest["model_version"]))
    if args.products:
        enriched = enriched.head(args.products)
    dim = len(enriched["embedding"].iloc[0])
    client = clients.opensearch
    names = {"loop": "bench-load-seed-loop", "bulk": "bench-load-build", "unflushed": "bench-load-build-unflushed"}
    client.indices.delete(index=list(names.values()), ignore_unavailable=True)
    shape = index.IndexShape(settings.knn_engine, settings.index_replicas, settings.index_force_merge_segments)
    try:
        seconds = {
            "loop": timed(lambda: seed_loop(client, names["loop"], enriched, dim, settings.knn_engine)),
            "bulk": timed(lambda: index.build(client, names["bulk"], enriched, dim, shape, {})),
            "unflushed": timed(lambda: _unflushed(lambda: index.build(client, names["unflushed"], enriched, dim, shape, {}))),
        }
        for _label, name in names.items():
            count = client.count(index=name)["count"]
            if count != len(enriched):
                print(f"{name}: {count} documents, expected {len(enriched)}", file=sys.stderr)
                return 1
    finally:
        client.indices.delete(index=list(names.values()), ignore_unavailable=True)
    rate = {label: len(enriched) / s for label, s in seconds.items()}
    print(f"{len(enriched):,} products, {dim}-d, engine {settings.knn_engine}, "
          f"knn.algo_param.index_thread_qty {_thread_qty(client)}")
    print(f"{'method':<44} {'seconds':>8} {'docs/s':>8}")
    print(f"{'seed: one request per document':<44} {seconds['loop']:>8.1f} {rate['loop']:>8,.0f}")
    print(f"{'index.build (parallel bulk, no refreshes)':<44} {seconds['bulk']:>8.1f} {rate['bulk']:>8,.0f}")
    print(f"{'index.build without the final flush':<44} {seconds['unflushed']:>8.1f} {rate['unflushed']:>8,.0f}")
    ratio = rate["bulk"] / rate["loop"]
    print(f"durability (the flush): {seconds['bulk'] - seconds['unflushed']:+.1f} s, "
          f"{(seconds['bulk'] / seconds['unflushed'] - 1):+.1%} of the build")
    print(f"ratio: {ratio:.1f}× (goal ≥ {GOAL:.0f}×: {'met' if ratio >= GOAL else 'NOT met'})")
    return 0


def _unflushed(build) -> None:
    flush, index.flush = index.flush, lambda client, name: None
    try:
        build()
    finally:
        index.flush = flush


def _thread_qty(client) -> str:
    found = client.cluster.get_settings(include_defaults=True, flat_settings=True)
    for level in ("transient", "persistent", "defaults"):
        if "knn.algo_param.index_thread_qty" in found.get(level, {}):
            return found[level]["knn.algo_param.index_thread_qty"]
    return "?"


if __name__ == "__main__":
    sys.exit(main())
