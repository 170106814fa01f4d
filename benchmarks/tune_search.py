"""Grid search of the search modes' weights on the dev query sets, against the live alias.

    python benchmarks/tune_search.py [--queries TSV ...] [--json OUT]

A small, coarse grid, chosen before looking at results: for ``hybrid`` the k-NN boost (lucene's
cosine scores are ~1 while BM25's are ~10-30, so boosts from 1 to 30); for ``normalized`` and
``rrf`` the k-NN weight relative to a keyword weight of 1, and the bonus of a product with the
attribute values a query names (``attribute_boost``, a share of the top fused score, one scale for
both: 0 is none, 1 as much as being first in both lists); for ``rrf`` also the rank constant.
The window (candidates per list) stays 100. Every point is scored on the dev sets' queries
together (155), and replaces the untuned point of its mode (weights 1, no bonus, rrf_k 60) only
when a paired bootstrap over the queries puts its gain above zero at 95 %: the queries' own
spread, not a fixed margin, says what a real gain is. docs/search.md records the outcome; the
held-out queries judge it.
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

ATTRIBUTE_BONUSES = [0.0, 0.1, 0.25, 0.5, 1.0]
GRID = {
    "hybrid": {"knn_boost": [1, 3, 10, 30], "rrf_k": [60], "attribute_boost": [0.0]},
    "normalized": {"knn_boost": [0.5, 1, 1.5, 2, 3], "rrf_k": [60], "attribute_boost": ATTRIBUTE_BONUSES},
    "rrf": {"knn_boost": [0.5, 1, 1.5, 2, 3], "rrf_k": [10, 30, 60, 100], "attribute_boost": ATTRIBUTE_BONUSES},
}
UNTUNED = {"knn_boost": 1, "rrf_k": 60, "attribute_boost": 0.0}
CONFIDENCE = 0.95


def main() -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", nargs="+", default=list(settings.dev_queries))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    clients = _clients()
    judged = [live_judgments(clients, q, None) for q in args.queries]
    vectors = _query_vectors(clients)
    results = []
    keyword = _score(clients, vectors, settings, judged, "keyword", dict(UNTUNED))
    print(f"keyword: nDCG@10 {_mean(keyword):.3f} over {len(keyword)} queries")
    for mode, grid in GRID.items():
        for values in itertools.product(*grid.values()):
            point = dict(zip(grid, values))
            per_query = _score(clients, vectors, settings, judged, mode, point)
            results.append({"mode": mode, **point, "ndcg@10": _mean(per_query), "per_query": per_query})
            print(f"{mode:<11} " + " ".join(f"{k} {v:<5}" for k, v in point.items())
                  + f" nDCG@10 {_mean(per_query):.3f} ({_mean(per_query) / _mean(keyword):.2f}× keyword)")
    chosen = {mode: _choose([r for r in results if r["mode"] == mode]) for mode in GRID}
    print(f"\nchosen (the untuned point unless another wins with {CONFIDENCE:.0%} confidence over the queries):")
    for mode, r in chosen.items():
        print(f"  {mode:<11} " + " ".join(f"{k} {r[k]}" for k in UNTUNED) + f" nDCG@10 {r['ndcg@10']:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"keyword": _mean(keyword), "grid": results, "chosen": chosen}, indent=1))
    return 0


def _mean(per_query: dict[str, float]) -> float:
    return sum(per_query.values()) / len(per_query)


def _choose(points: list[dict]) -> dict:
    """The best point if a paired bootstrap puts its gain over the untuned one above zero."""
    untuned = next(p for p in points if all(p[k] == v for k, v in UNTUNED.items()))
    best = max(points, key=lambda p: p["ndcg@10"])
    if best is untuned:
        return untuned
    # the one-sided bound of untuned − best: below zero means best is better beyond the spread
    paired = evaluation.paired_comparison(untuned["per_query"], best["per_query"], CONFIDENCE)
    return best if paired.upper_bound < 0 else untuned


def _score(clients, vectors, settings, judged, mode: str, point: dict) -> dict[str, float]:
    """nDCG@10 of every query of the sets (qids are unique across them)."""
    def ranked(text: str, _mode: str) -> list[str]:
        request = SearchRequest(text, mode, size=evaluation.NDCG_DEPTH, keyword_boost=1.0, knn_boost=point["knn_boost"],
                                rrf_k=point["rrf_k"], attribute_boost=point["attribute_boost"])
        return ranked_ids(clients.opensearch, settings.index_alias, vectors, request)

    return {q: s["ndcg@10"] for judgments in judged
            for q, s in evaluation.evaluate(judgments, [mode], ranked)["modes"][mode]["per_query"].items()}


if __name__ == "__main__":
    sys.exit(main())
