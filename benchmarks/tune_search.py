"""Grid search of the search modes' weights on the dev queries, against the live alias.

    python benchmarks/tune_search.py [--queries TSV --qrels TSV] [--json OUT]

A small, coarse grid, chosen before looking at results: for ``hybrid`` the k-NN boost (lucene's
cosine scores are ~1 while BM25's are ~10-30, so boosts from 1 to 30); for ``normalized`` and
``rrf`` the k-NN weight relative to a keyword weight of 1; for ``rrf`` also the rank constant.
The window (candidates per list) stays 100. Prints nDCG@10 of every point and the best per mode.
A point is only preferred to the untuned one (all weights 1, rrf_k 60) when it wins by more than
0.01 nDCG@10: 40 queries cannot tell smaller differences apart. The README records the outcome;
the held-out queries judge it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

from catalog_search.cli import _clients, _query_vectors, live_judgments
from catalog_search.search import evaluation
from catalog_search.search.query import SearchRequest, ranked_ids
from catalog_search.settings import Settings

GRID = {
    "hybrid": {"knn_boost": [1, 3, 10, 30], "rrf_k": [60]},
    "normalized": {"knn_boost": [0.5, 1, 1.5, 2, 3], "rrf_k": [60]},
    "rrf": {"knn_boost": [0.5, 1, 1.5, 2, 3], "rrf_k": [10, 30, 60, 100]},
}
MIN_GAIN = 0.01


def main() -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", default=settings.golden_queries)
    parser.add_argument("--qrels", default=settings.golden_qrels)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    clients = _clients()
    judgments = live_judgments(clients, args.queries, args.qrels)
    vectors = _query_vectors(clients)
    results = []
    keyword = _score(clients, vectors, settings, judgments, "keyword", 1.0, 60)
    print(f"keyword: nDCG@10 {keyword:.3f}")
    for mode, grid in GRID.items():
        for knn_boost, rrf_k in itertools.product(grid["knn_boost"], grid["rrf_k"]):
            ndcg = _score(clients, vectors, settings, judgments, mode, knn_boost, rrf_k)
            results.append({"mode": mode, "knn_boost": knn_boost, "rrf_k": rrf_k, "ndcg@10": ndcg})
            print(f"{mode:<11} knn_boost {knn_boost:<4} rrf_k {rrf_k:<4} nDCG@10 {ndcg:.3f} ({ndcg / keyword:.2f}× keyword)")
    chosen = {mode: _choose([r for r in results if r["mode"] == mode]) for mode in GRID}
    print(f"\nchosen (untuned unless a point wins by more than {MIN_GAIN:.2f}):")
    for mode, r in chosen.items():
        print(f"  {mode:<11} knn_boost {r['knn_boost']:<4} rrf_k {r['rrf_k']:<4} nDCG@10 {r['ndcg@10']:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"keyword": keyword, "grid": results, "chosen": chosen}, indent=1))
    return 0


def _choose(points: list[dict]) -> dict:
    untuned = next(p for p in points if p["knn_boost"] == 1 and p["rrf_k"] == 60)
    best = max(points, key=lambda p: p["ndcg@10"])
    return best if best["ndcg@10"] > untuned["ndcg@10"] + MIN_GAIN else untuned


def _score(clients, vectors, settings, judgments, mode: str, knn_boost: float, rrf_k: int) -> float:
    def ranked(text: str, _mode: str) -> list[str]:
        request = SearchRequest(text, mode, size=evaluation.NDCG_DEPTH, keyword_boost=1.0, knn_boost=knn_boost, rrf_k=rrf_k)
        return ranked_ids(clients.opensearch, settings.index_alias, vectors, request)

    return evaluation.evaluate(judgments, [mode], ranked)["modes"][mode]["ndcg@10"]


if __name__ == "__main__":
    sys.exit(main())
