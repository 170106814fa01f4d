"""Search and recommendation quality: judged queries in, nDCG@10, recall@100 and MRR per mode
out (mean and per query), the paired comparison of two indices that the publish gate decides
on, and leaf-category purity of recommendations.

A query set is a queries TSV (``qid``, ``query``) judged one of two ways:

- **By rule**, when the queries file carries the rule's columns (``JudgingRule``; the fashion
  sets' ``article_types, gender, colours, usage``, ``|`` between alternatives, empty = any). A
  product is relevant (grade 1) when its value of the first column's field is one the query
  wants, and grade 2 when it also meets every other stated column. The rule is applied to the
  catalog being scored, so products added, changed or recategorised since the set was written
  are judged like the others, and the judgments never go stale.
- **By qrels** otherwise: a TSV of ``qid, product_id, grade`` listing the products that were
  judged (grade 0 for judged, not relevant). A product the qrels do not list was never judged:
  it is removed from the ranking before scoring (a *condensed* ranking, Sakai 2007) rather than
  counted as irrelevant, so an index is neither punished nor rewarded for products the set
  predates; ``judged@10`` (the share of the top 10 that was judged) says how much of the
  ranking the scores rest on.

Gains are ``2**grade - 1`` with a log2 discount (the usual nDCG). A query with no relevant
product in the catalog (a rare type in a sample catalog) cannot be scored and is left out.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from catalog_search.errors import BadInput
from catalog_search.settings import also_meets as settings_also_meets
from catalog_search.training.catalog import CANONICAL_COLUMNS, CATEGORY_SEPARATOR

log = logging.getLogger(__name__)

NDCG_DEPTH, RECALL_DEPTH = 10, 100
METRICS = ("ndcg@10", "recall@100", "mrr")
ALTERNATIVES = "|"  # separates the values a rule column accepts


@dataclass(frozen=True)
class JudgingRule:
    """How a catalog maps onto a query set's rule columns.

    ``fields``: (query column, catalog field) pairs; the first says what a product must be for the
    query to want it at all, the others are constraints for grade 2. A catalog field is a
    canonical column (``category``, ``brand``, …), a level of the category path
    (``category.leaf``, or ``category.1`` for the top level) or the name of an attribute.
    ``also_meets``: (query column, product value, wanted values) — a product value that meets
    those wanted values too (fashion: a Unisex product meets a query for Men or for Women).
    Values compare without regard to case."""

    fields: tuple[tuple[str, str], ...]
    also_meets: tuple[tuple[str, str, frozenset[str]], ...] = ()

    @classmethod
    def parse(cls, fields: Sequence[str], also_meets: Sequence[str] = ()) -> JudgingRule:
        """From ``column=field`` items and ``column:value=wanted|wanted`` items (the settings'
        ``JUDGING_FIELDS`` and ``JUDGING_ALSO_MEETS``)."""
        pairs = []
        for item in fields:
            column, sep, catalog_field = (part.strip() for part in item.partition("="))
            if not (sep and column and catalog_field):
                raise BadInput(f"judging field {item!r}: expected query_column=catalog_field, e.g. article_types=category.leaf")
            pairs.append((column, catalog_field))
        if not pairs:
            raise BadInput("no judging fields: the rule needs at least the column that decides relevance")
        extra = []
        for column, value, wanted in settings_also_meets(tuple(also_meets), "CATALOG_SEARCH_JUDGING_ALSO_MEETS"):
            if column not in dict(pairs):
                raise BadInput(f"judging also-meets {column}:{value}: {column!r} is not one of the judging fields' columns")
            extra.append((column, _fold(value), frozenset(_alternatives("|".join(wanted)))))
        return cls(tuple(pairs), tuple(extra))

    @classmethod
    def from_settings(cls, settings) -> JudgingRule:
        return cls.parse(settings.judging_fields, settings.judging_also_meets)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(column for column, _ in self.fields)

    def accepted(self, column: str, wanted: frozenset[str]) -> frozenset[str]:
        """Product values that meet ``wanted`` in ``column``."""
        return wanted | {value for c, value, meets in self.also_meets if c == column and meets & wanted}

    def grades(self, wants: Mapping[str, frozenset[str]], values: Mapping[str, pd.Series]) -> np.ndarray:
        """Each catalog row's grade (0, 1 or 2) for a query that wants ``wants`` (column → values,
        empty: any), the catalog's ``values`` of each column's field given casefolded."""
        first = self.columns[0]
        relevant = _meets(values[first], wants[first])
        meets_all = relevant.copy()
        for column in self.columns[1:]:
            if wants[column]:
                meets_all &= _meets(values[column], self.accepted(column, wants[column]))
        return relevant.astype(np.int8) + meets_all.astype(np.int8)


def catalog_columns(rule: JudgingRule) -> list[str]:
    """The catalog columns a rule reads (to read no more of a snapshot than that)."""
    named = {catalog_field.partition(".")[0] for _, catalog_field in rule.fields}
    return ["product_id", "category", "attributes", *sorted(named & set(CANONICAL_COLUMNS) - {"product_id", "category", "attributes"})]


def _meets(values: pd.Series, accepted: frozenset[str]) -> np.ndarray:
    return np.ones(len(values), dtype=bool) if not accepted else values.isin(accepted).to_numpy()


def _fold(text: str) -> str:
    return text.strip().casefold()


def _alternatives(cell: str | None) -> list[str]:
    return [_fold(v) for v in (cell or "").split(ALTERNATIVES) if v.strip()]


def field_values(catalog: pd.DataFrame, catalog_fields: Iterable[str]) -> dict[str, pd.Series]:
    """Each named catalog field for every product, casefolded text ("" where missing); the
    attributes' JSON is parsed once for all of them."""
    parsed: pd.Series | None = None
    out = {}
    for name in catalog_fields:
        if name == "category" or name.startswith("category."):
            out[name] = _category_level(catalog["category"], name)
        elif name in catalog.columns and name != "attributes":
            out[name] = catalog[name].fillna("").astype(str).str.casefold()
        else:
            if parsed is None:
                raw = catalog["attributes"] if "attributes" in catalog.columns else pd.Series([None] * len(catalog), index=catalog.index)
                parsed = raw.map(lambda a: json.loads(a) if a else {})
            out[name] = parsed.map(lambda attrs, name=name: _fold(str(attrs.get(name, ""))))
    return out


def _category_level(category: pd.Series, name: str) -> pd.Series:
    paths = category.fillna("").astype(str)
    level = name.partition(".")[2]
    if level == "leaf":
        paths = paths.str.rsplit(CATEGORY_SEPARATOR, n=1).str[-1]
    elif level:
        if not level.isdigit() or int(level) < 1:
            raise BadInput(f"judging field {name!r}: expected category, category.leaf or category.N (N ≥ 1)")
        paths = paths.str.split(CATEGORY_SEPARATOR, regex=False).str[int(level) - 1]
    return paths.fillna("").str.casefold()


@dataclass(frozen=True)
class Judgments:
    """Judged queries, ready to score rankings against.

    ``grades``: each query's relevant products (grade > 0; any other product is grade 0).
    ``judged``: by qrels, the products each query's qrels list; None when every product of the
    catalog was judged (by rule). ``unjudgeable``: queries with no relevant product, not scored."""

    queries: dict[str, str]  # qid -> query text, the scored ones
    grades: dict[str, dict[str, int]]
    judged: dict[str, frozenset[str]] | None = None
    unjudgeable: tuple[str, ...] = ()

    @property
    def method(self) -> str:
        return "rule" if self.judged is None else "qrels (condensed)"


@dataclass(frozen=True)
class QuerySet:
    """Queries, and what judges them: the rule's wanted values per query (``wants``), or qrels."""

    queries: dict[str, str]
    rule: JudgingRule | None = None
    wants: dict[str, dict[str, frozenset[str]]] = field(default_factory=dict)
    qrels: dict[str, dict[str, int]] | None = None

    def judge(self, catalog: pd.DataFrame | None = None) -> Judgments:
        """Judgments of this set's queries on ``catalog`` (product_id, category, attributes, …;
        needed when the set is judged by rule)."""
        if self.rule is None:
            assert self.qrels is not None
            relevant = {qid: {p: g for p, g in self.qrels[qid].items() if g > 0} for qid in self.queries}
            scored = [qid for qid in self.queries if relevant[qid]]
            return Judgments({q: self.queries[q] for q in scored}, {q: relevant[q] for q in scored},
                             {q: frozenset(self.qrels[q]) for q in scored}, tuple(q for q in self.queries if not relevant[q]))
        if catalog is None:
            raise ValueError("a query set judged by rule needs the catalog being scored")
        found_fields = field_values(catalog, {catalog_field for _, catalog_field in self.rule.fields})
        values = {column: found_fields[catalog_field] for column, catalog_field in self.rule.fields}
        ids = catalog["product_id"].astype(str).to_numpy()
        grades, unjudgeable = {}, []
        for qid in self.queries:
            graded = self.rule.grades(self.wants[qid], values)
            found = np.flatnonzero(graded)
            if len(found):
                grades[qid] = dict(zip(ids[found].tolist(), graded[found].tolist()))
            else:
                unjudgeable.append(qid)
        return Judgments({q: self.queries[q] for q in grades}, grades, None, tuple(unjudgeable))


def read_query_set(queries_path: str | Path, qrels_path: str | Path | None, rule: JudgingRule) -> QuerySet:
    """A queries TSV judged by ``rule`` when it has every rule column, else by the qrels TSV."""
    rows, columns = _rows(queries_path, ("qid", "query"))
    queries = {row["qid"]: row["query"] for row in rows}
    if all(column in columns for column in rule.columns):
        wants = {row["qid"]: {c: frozenset(_alternatives(row[c])) for c in rule.columns} for row in rows}
        return QuerySet(queries, rule, wants)
    if not qrels_path:
        raise BadInput(f"{queries_path}: has no rule columns {list(rule.columns)} and no qrels file was given "
                       "(CATALOG_SEARCH_GOLDEN_QRELS / --qrels)")
    return QuerySet(queries, qrels=read_qrels(qrels_path, queries, queries_path))


def read_qrels(qrels_path: str | Path, queries: Mapping[str, str], queries_path: str | Path = "") -> dict[str, dict[str, int]]:
    """``qid -> product_id -> grade``; every query needs at least one judgment."""
    grades: dict[str, dict[str, int]] = {}
    rows, _ = _rows(qrels_path, ("qid", "product_id", "grade"))
    for line, row in enumerate(rows, 2):
        try:
            grades.setdefault(row["qid"], {})[row["product_id"]] = int(row["grade"])
        except ValueError:
            raise BadInput(f"{qrels_path}:{line}: grade {row['grade']!r} is not a whole number") from None
    unjudged = sorted(set(queries) - set(grades))
    if unjudged:
        raise BadInput(f"{qrels_path}: no judgments for queries {unjudged[:5]} of {queries_path}")
    if not any(g == 0 for judged in grades.values() for g in judged.values()):
        log.warning("%s lists no judged, not relevant product (grade 0): condensed rankings keep only the relevant ones, so "
                    "the scores compare only their order; list the judged non-relevant products with grade 0, or give the "
                    "queries the rule's columns", qrels_path)
    return grades


def _rows(path: str | Path, required: tuple[str, ...]) -> tuple[list[dict], list[str]]:
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        columns = list(reader.fieldnames or [])
        missing = [c for c in required if c not in columns]
        if missing:
            raise BadInput(f"{path}: missing column(s) {missing}; found {columns} (tab-separated, with a header)")
        return list(reader), columns


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
    ``{"queries", "judging", "unjudgeable", "modes": {mode: {"ndcg@10", "recall@100", "mrr",
    ["judged@10",] "per_query": {qid: {...}}}}}``. With qrels, rankings are condensed first."""
    report: dict = {"queries": len(judgments.queries), "judging": judgments.method,
                    "unjudgeable": list(judgments.unjudgeable), "modes": {}}
    for mode in modes:
        per_query = {}
        for qid, text in judgments.queries.items():
            ranked = ranked_ids(text, mode)
            if judgments.judged is None:
                per_query[qid] = score_run(ranked, judgments.grades[qid])
                continue
            judged = judgments.judged[qid]
            top = ranked[:NDCG_DEPTH]
            per_query[qid] = {**score_run([p for p in ranked if p in judged], judgments.grades[qid]),
                              "judged@10": sum(p in judged for p in top) / len(top) if top else 0.0}
        report["modes"][mode] = summary(per_query)
    return report


def summary(per_query: Mapping[str, dict]) -> dict:
    """A mode's mean of every metric over its queries, the spread of its nDCG@10 (``ndcg@10 ±``: half
    the width of its 95 % interval, 1.96 standard errors) and the per-query scores."""
    metrics = [m for m in (*METRICS, "judged@10") if all(m in q for q in per_query.values())] if per_query else list(METRICS)
    means = {m: sum(q[m] for q in per_query.values()) / len(per_query) if per_query else 0.0 for m in metrics}
    ndcg = np.array([q["ndcg@10"] for q in per_query.values()])
    spread = float(1.96 * ndcg.std(ddof=1) / np.sqrt(len(ndcg))) if len(ndcg) > 1 else 0.0
    return {**means, "ndcg@10 ±": spread, "per_query": dict(per_query)}


def combined(reports: Mapping[str, dict]) -> dict:
    """One report of several query sets' (their queries together; no qid may be in two sets)."""
    qids = [q for report in reports.values() for q in next(iter(report["modes"].values()), {"per_query": {}})["per_query"]]
    if len(qids) != len(set(qids)):
        raise BadInput(f"query sets {', '.join(reports)} share query ids: they cannot be scored together")
    modes = list(next(iter(reports.values()))["modes"])
    return {"queries": sum(r["queries"] for r in reports.values()), "judging": ", ".join(sorted({r["judging"] for r in reports.values()})),
            "unjudgeable": [q for r in reports.values() for q in r["unjudgeable"]],
            "modes": {mode: summary({q: s for r in reports.values() for q, s in r["modes"][mode]["per_query"].items()})
                      for mode in modes}}


@dataclass(frozen=True)
class PairedComparison:
    """Two indices on the same queries, query by query: the mean difference (new − live) and
    the one-sided upper confidence bound of that mean from a paired bootstrap over queries."""

    queries: int
    new: float
    live: float
    difference: float
    upper_bound: float
    confidence: float
    worst: tuple[tuple[str, float, float], ...]  # (qid, new, live), largest drops first

    def drop_is_real(self, tolerance: float) -> bool:
        """A drop larger than ``tolerance`` that the queries' own spread does not explain: the
        mean falls by more than the tolerance, and even the optimistic end of the confidence
        interval is below zero."""
        return self.difference < -tolerance and self.upper_bound < 0


BOOTSTRAP_RESAMPLES = 10_000


def paired_comparison(new: Mapping[str, float], live: Mapping[str, float], confidence: float = 0.95,
                      resamples: int = BOOTSTRAP_RESAMPLES, worst: int = 5, seed: int = 0) -> PairedComparison:
    """``new`` and ``live``: a score per query; the queries scored on both are compared."""
    qids = [q for q in new if q in live]
    if not qids:
        raise ValueError("no query was scored on both indices")
    a = np.array([new[q] for q in qids])
    b = np.array([live[q] for q in qids])
    differences = a - b
    means = differences[np.random.default_rng(seed).integers(0, len(qids), (resamples, len(qids)))].mean(axis=1)
    order = np.argsort(differences, kind="stable")[:worst]
    return PairedComparison(len(qids), float(a.mean()), float(b.mean()), float(differences.mean()),
                            float(np.quantile(means, confidence)), confidence,
                            tuple((qids[i], float(a[i]), float(b[i])) for i in order if differences[i] < 0))


def leaf_purity(neighbours: dict[str, list[str]], category_of: dict[str, str]) -> float:
    """Share of each product's neighbours in its own leaf category, averaged over products."""
    shares = [sum(category_of.get(n) == category_of[pid] for n in found) / len(found)
              for pid, found in neighbours.items() if found]
    return sum(shares) / len(shares) if shares else 0.0


def table(report: dict) -> str:
    """The mean metrics of every mode, one row each."""
    lines = [f"{'mode':<12} {'nDCG@10':>8} {'±':>6} {'recall@100':>11} {'MRR':>7}"]
    for mode, m in report["modes"].items():
        lines.append(f"{mode:<12} {m['ndcg@10']:>8.3f} {m['ndcg@10 ±']:>6.3f} {m['recall@100']:>11.3f} {m['mrr']:>7.3f}"
                     + (f"  judged@10 {m['judged@10']:.3f}" if "judged@10" in m else ""))
    return "\n".join(lines)
