"""Search and recommendation quality: graded relevance judgments in, nDCG@10, recall@100 and
MRR per mode out (mean and per query), and leaf-category purity of recommendations.

Judgments use the TREC-like layout of ``data/fashion/``: a queries TSV with ``qid`` and
``query`` columns, a qrels TSV with ``qid``, ``product_id``, ``grade`` (0 = not relevant;
unlisted products are 0). Gains are ``2**grade - 1`` with a log2 discount (the usual nDCG).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from catalog_search.errors import BadInput

NDCG_DEPTH, RECALL_DEPTH = 10, 100


@dataclass(frozen=True)
class Judgments:
    queries: dict[str, str]  # qid -> query text
    grades: dict[str, dict[str, int]]  # qid -> product_id -> grade


def read_judgments(queries_path: str | Path, qrels_path: str | Path) -> Judgments:
    """Queries and graded judgments from TSV files; every query needs at least one judgment."""
    queries = {row["qid"]: row["query"] for row in _rows(queries_path, ("qid", "query"))}
    grades: dict[str, dict[str, int]] = {}
    for line, row in enumerate(_rows(qrels_path, ("qid", "product_id", "grade")), 2):
        try:
            grades.setdefault(row["qid"], {})[row["product_id"]] = int(row["grade"])
        except ValueError:
            raise BadInput(f"{qrels_path}:{line}: grade {row['grade']!r} is not a whole number") from None
    unjudged = sorted(set(queries) - set(grades))
    if unjudged:
        raise BadInput(f"{qrels_path}: no judgments for queries {unjudged[:5]} of {queries_path}")
    return Judgments(queries, grades)


def _rows(path: str | Path, required: tuple[str, ...]) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise BadInput(f"{path}: missing column(s) {missing}; found {reader.fieldnames} (tab-separated, with a header)")
        return list(reader)


def ndcg(ranked: Sequence[str], grades: dict[str, int], depth: int = NDCG_DEPTH) -> float:
    gains = [2 ** grades.get(pid, 0) - 1 for pid in ranked[:depth]]
    ideal = sorted((2 ** g - 1 for g in grades.values() if g > 0), reverse=True)[:depth]
    best = _dcg(ideal)
    return _dcg(gains) / best if best > 0 else 0.0


def _dcg(gains: Iterable[float]) -> float:
    return sum(g / math.log2(rank + 2) for rank, g in enumerate(gains))


def recall(ranked: Sequence[str], grades: dict[str, int], depth: int = RECALL_DEPTH) -> float:
    relevant = {pid for pid, g in grades.items() if g > 0}
    return len(relevant.intersection(ranked[:depth])) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranked: Sequence[str], grades: dict[str, int]) -> float:
    return next((1.0 / rank for rank, pid in enumerate(ranked, 1) if grades.get(pid, 0) > 0), 0.0)


def score_run(ranked: Sequence[str], grades: dict[str, int]) -> dict[str, float]:
    return {"ndcg@10": ndcg(ranked, grades), "recall@100": recall(ranked, grades), "mrr": reciprocal_rank(ranked, grades)}


def evaluate(judgments: Judgments, modes: Sequence[str], ranked_ids: Callable[[str, str], list[str]]) -> dict:
    """``ranked_ids(query_text, mode)`` gives the top product ids; returns
    ``{"modes": {mode: {"ndcg@10", "recall@100", "mrr", "per_query": {qid: {...}}}}}``."""
    report: dict = {"queries": len(judgments.queries), "modes": {}}
    for mode in modes:
        per_query = {qid: score_run(ranked_ids(text, mode), judgments.grades[qid]) for qid, text in judgments.queries.items()}
        means = {metric: sum(q[metric] for q in per_query.values()) / len(per_query) for metric in ("ndcg@10", "recall@100", "mrr")}
        report["modes"][mode] = {**means, "per_query": per_query}
    return report


def leaf_purity(neighbours: dict[str, list[str]], category_of: dict[str, str]) -> float:
    """Share of each product's neighbours in its own leaf category, averaged over products."""
    shares = [sum(category_of.get(n) == category_of[pid] for n in found) / len(found)
              for pid, found in neighbours.items() if found]
    return sum(shares) / len(shares) if shares else 0.0


def table(report: dict) -> str:
    """The mean metrics of every mode, one row each."""
    lines = [f"{'mode':<12} {'nDCG@10':>8} {'recall@100':>11} {'MRR':>7}"]
    for mode, m in report["modes"].items():
        lines.append(f"{mode:<12} {m['ndcg@10']:>8.3f} {m['recall@100']:>11.3f} {m['mrr']:>7.3f}")
    return "\n".join(lines)
