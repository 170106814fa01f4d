"""Facet counts for a search: how many of its results (under the same filters) fall in each
category level, gender, colour and price range.

The counted set is the one ``hits.total`` counts, whatever page is shown: for one query
(keyword, knn, hybrid) its whole match set, counted by OpenSearch in the same request
(``aggregations`` → ``read``); for
the fusion modes the fused list, counted here from its documents (``tally``). The index fields
are those of ``index.index_body``.
"""

from __future__ import annotations

from collections import Counter

PRICE_RANGES = ((None, 25.0), (25.0, 50.0), (50.0, 100.0), (100.0, 250.0), (250.0, None))
TERM_FACETS = {"category": "category_path", "gender": "attributes.gender", "colour": "attributes.colour"}
DOC_VALUE_FIELDS = (*TERM_FACETS.values(), "price")  # what ``tally`` reads of a hit, without its document
MAX_VALUES = {"category": 200, "gender": 10, "colour": 50}


def aggregations() -> dict:
    """The ``aggs`` to add to a query: they count its whole match set, whatever page it returns."""
    aggs: dict = {name: {"terms": {"field": field, "size": MAX_VALUES[name]}} for name, field in TERM_FACETS.items()}
    aggs["price"] = {"range": {"field": "price", "ranges": [_range(low, high) for low, high in PRICE_RANGES]}}
    return aggs


def _range(low: float | None, high: float | None) -> dict:
    return {"key": _price_key(low, high), **({"from": low} if low is not None else {}), **({"to": high} if high is not None else {})}


def _price_key(low: float | None, high: float | None) -> str:
    return f"{'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'}"


def tally(sources: list[dict]) -> dict:
    """The same counts as ``read``, from the documents themselves."""
    counts: dict[str, Counter] = {name: Counter() for name in TERM_FACETS}
    prices: Counter = Counter()
    for source in sources:
        counts["category"].update(source.get("category_path") or [])
        attributes = source.get("attributes") or {}
        for name in ("gender", "colour"):
            if attributes.get(name):
                counts[name][attributes[name]] += 1
        if source.get("price") is not None:
            prices[next(_price_key(low, high) for low, high in PRICE_RANGES if _within(source["price"], low, high))] += 1
    buckets = {name: {"buckets": [{"key": k, "doc_count": n} for k, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]}
               for name, c in counts.items()}
    buckets["price"] = {"buckets": [{**_range(low, high), "doc_count": prices[_price_key(low, high)]} for low, high in PRICE_RANGES]}
    return read(buckets)


def tree_order(entries: list[dict]) -> list[dict]:
    """Category values depth first: each level's values right under their parent (most products
    first, then by name), each with its ``level`` and ``parent`` (None on the first level; a value
    whose parent was not counted goes on the first level)."""
    values = {e["value"] for e in entries}
    children: dict[str | None, list[dict]] = {}
    for entry in entries:
        entry["level"] = entry["value"].count(" > ") + 1
        parent = entry["value"].rsplit(" > ", 1)[0] if entry["level"] > 1 else None
        entry["parent"] = parent if parent in values else None
        children.setdefault(entry["parent"], []).append(entry)
    ordered: list[dict] = []

    def under(parent: str | None) -> None:
        for entry in sorted(children.get(parent, []), key=lambda e: (-e["count"], e["value"])):
            ordered.append(entry)
            under(entry["value"])

    under(None)
    return ordered


def source_of(fields: dict) -> dict:
    """The part of a document ``tally`` reads, from a hit's doc values (``DOC_VALUE_FIELDS``)."""
    def first(name: str) -> object:
        return (fields.get(name) or [None])[0]

    return {"category_path": fields.get("category_path") or [],
            "attributes": {k: first(f"attributes.{k}") for k in ("gender", "colour") if first(f"attributes.{k}") is not None},
            "price": first("price")}


def _within(price: float, low: float | None, high: float | None) -> bool:
    return (low is None or price >= low) and (high is None or price < high)


def empty() -> dict:
    return {name: [] for name in (*TERM_FACETS, "price")}


def read(aggregations: dict) -> dict:
    """``{"category": [{"value", "level", "parent", "count"}] (``tree_order``), "gender": [...],
    "colour": [...], "price": [{"value": "25..50", "from", "to", "count"}]}``; values without
    products are left out."""
    facets: dict = {}
    for name in TERM_FACETS:
        buckets = aggregations[name]["buckets"]
        facets[name] = [{"value": b["key"], "count": b["doc_count"]} for b in buckets]
    facets["category"] = tree_order(facets["category"])
    facets["price"] = [{"value": b["key"], "from": b.get("from"), "to": b.get("to"), "count": b["doc_count"]}
                       for b in aggregations["price"]["buckets"] if b["doc_count"]]
    return facets
