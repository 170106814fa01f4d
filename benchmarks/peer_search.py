"""The project's search modes side by side with the peer a user would pick instead: OpenSearch's own
neural hybrid search, BM25 plus all-MiniLM-L6-v2 sentence vectors (the model ML Commons ships),
min-max normalised and summed (and its reciprocal-rank variant); scored by the same evaluation code
(``search.evaluation``) on the same judged query sets, against the live index.

    python benchmarks/peer_search.py [--queries TSV ...] [--json OUT]

Needs the demo's live index (`make demo`). The peer's keyword list is the project's keyword mode
(the same BM25 clause, fuzziness and fields), its vector list the exact cosine of MiniLM's vectors
of the live snapshot's titles (embedded once, kept under the work folder by snapshot), each 100
long, as the project's fused modes are. Prints nDCG@10 (± its spread) of every system on every
query set and on all of them together, then the two comparisons the goals name, paired over the
queries: the default mode against the peer, and k-NN alone against MiniLM alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from catalog_search.cli import _clients, _query_vectors, live_judgments
from catalog_search.search import evaluation
from catalog_search.search.query import SearchRequest, fuse, ranked_ids, search
from catalog_search.settings import SEARCH_MODES, Settings
from catalog_search.store.index import index_meta, live_index
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.training import word_vectors

WINDOW = 100  # each list's length, as the project's fusion_window
PEERS = ("minilm", "peer normalized", "peer rrf")


class Peer:
    """MiniLM's exact cosine ranking over the live snapshot's titles, and its fusion with BM25."""

    def __init__(self, product_ids: np.ndarray, vectors: np.ndarray, keyword: Callable[[str], list[dict]], rrf_k: int):
        self.product_ids, self.vectors, self.keyword, self.rrf_k = product_ids, vectors, keyword, rrf_k

    def minilm_hits(self, text: str) -> list[dict]:
        query = word_vectors.embed_words([text])[0]
        scores = self.vectors @ query
        top = np.argsort(-scores, kind="stable")[:WINDOW]
        return [{"_id": str(self.product_ids[i]), "_score": float(scores[i])} for i in top]

    def ranked(self, text: str, system: str) -> list[str]:
        vector_hits = self.minilm_hits(text)
        if system == "minilm":
            return [h["_id"] for h in vector_hits]
        method = "normalized" if system == "peer normalized" else "rrf"
        return [h["_id"] for h in fuse(self.keyword(text), vector_hits, method, 1.0, 1.0, self.rrf_k)]


def minilm_catalog(settings: Settings, store, snapshot_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The snapshot's product ids and MiniLM's vectors of their titles (cached by snapshot)."""
    cache = settings.work_dir / "peer" / f"{snapshot_id}-minilm.npz"
    if cache.exists():
        held = np.load(cache)
        return held["product_ids"], held["vectors"]
    products = store.get_parquet(ObjectKeys.snapshot_products(snapshot_id), columns=["product_id", "title"])
    started = time.perf_counter()
    vectors = word_vectors.embed_words(products["title"].tolist())
    print(f"MiniLM embedded {len(products):,} titles in {time.perf_counter() - started:.0f} s (kept in {cache})", flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    product_ids = np.array(products["product_id"].astype(str).tolist(), dtype=str)  # not objects: np.load reads it back
    np.savez(cache, product_ids=product_ids, vectors=vectors)
    return product_ids, vectors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", nargs="+", help="query sets (default: CATALOG_SEARCH_DEV_QUERIES)")
    parser.add_argument("--json", type=Path, help="write every score, per query too")
    args = parser.parse_args()
    settings = Settings.from_env()
    clients = _clients()
    alias, client = settings.index_alias, clients.opensearch
    live = live_index(client, alias)
    if live is None:
        print(f"no index behind {alias!r}: run `make demo` first", file=sys.stderr)
        return 1
    product_ids, vectors = minilm_catalog(settings, clients.store, index_meta(client, live)["snapshot_id"])
    query_vectors = _query_vectors(clients)

    def keyword_hits(text: str) -> list[dict]:
        return search(client, alias, query_vectors, SearchRequest(text, "keyword", size=WINDOW))["hits"]["hits"]

    peer = Peer(product_ids, vectors, keyword_hits, settings.rrf_k)
    systems = [*SEARCH_MODES, *PEERS]

    def ranked(text: str, system: str) -> list[str]:
        if system in PEERS:
            return peer.ranked(text, system)
        return ranked_ids(client, alias, query_vectors, SearchRequest(text, system, size=evaluation.RECALL_DEPTH))

    reports = {Path(q).stem.removeprefix("queries_"): evaluation.evaluate(live_judgments(clients, q, None), systems, ranked)
               for q in args.queries or settings.dev_queries}
    if len(reports) > 1:
        reports["all"] = evaluation.combined(reports)
    print(f"\nnDCG@10 (± 1.96 standard errors) on the live index {live}")
    print(f"{'system':<16}" + "".join(f"{name + ' (' + str(r['queries']) + ')':>20}" for name, r in reports.items()))
    for system in systems:
        print(f"{system:<16}" + "".join(f"{r['modes'][system]['ndcg@10']:>13.3f} ± {r['modes'][system]['ndcg@10 ±']:.3f}"
                                        for r in reports.values()))
    everything = reports["all" if "all" in reports else next(iter(reports))]["modes"]
    comparisons = {}
    for ours, theirs in ((settings.search_mode, "peer normalized"), ("knn", "minilm")):
        paired = evaluation.paired_comparison({q: s["ndcg@10"] for q, s in everything[ours]["per_query"].items()},
                                              {q: s["ndcg@10"] for q, s in everything[theirs]["per_query"].items()})
        low = paired.difference - (paired.upper_bound - paired.difference)  # the bootstrap interval, about symmetric
        comparisons[f"{ours} vs {theirs}"] = {"ours": paired.new, "theirs": paired.live, "difference": paired.difference,
                                              "ratio": paired.new / paired.live}
        print(f"{ours} against {theirs}: {paired.new:.3f} vs {paired.live:.3f} ({paired.new / paired.live:.2f}×), paired "
              f"difference {paired.difference:+.3f} (95 % one-sided bound {paired.upper_bound:+.3f}; about {low:+.3f} the other "
              f"way) over {paired.queries} queries: goal ≥ the peer {'met' if paired.new >= paired.live else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps({"query_sets": reports, "comparisons": comparisons}, indent=1))
        print(f"report: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
