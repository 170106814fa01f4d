"""Hybrid product search and recommendations on the live alias: builds and runs queries, nothing else.

Hybrid = fuzzy keyword matching and k-NN on the query's embedding, each with a boost, in one
bool query, plus filters and pagination. The query encoder is the model that built the live
index (its ``_meta.model_version``), so query and catalog vectors always match; the caller
passes a function from model version to encoder (``encoder.ModelEncoders``).

Requests are checked when they are made, before any service is called: a bad one raises
``BadInput`` saying which argument, what it was and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from catalog_search.errors import BadInput, NotFound
from catalog_search.index import index_meta, live_index
from catalog_search.tokenizer import tokenize

MODES = ("keyword", "knn", "hybrid")
KEYWORD_FIELDS = ["title^3", "category^1.5", "brand^2", "description"]
MAX_PAGE_SIZE = 100
MAX_RESULT_WINDOW = 10_000  # OpenSearch's index.max_result_window: from + size may not pass it
MAX_KNN_K = 10_000  # the k-NN plugin's limit on k
PRODUCT_FILTER_KEYS = ("category", "price", "brand", "vendor", "currency")


@dataclass(frozen=True)
class SearchRequest:
    text: str
    mode: str = "hybrid"
    size: int = 10
    page: int = 1
    keyword_boost: float = 1.0
    knn_boost: float = 1.0
    k: int = 100
    filters: dict = field(default_factory=dict)  # {"category": "Apparel > Topwear", "gender": ["Men"], "price": [lo, hi]}

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BadInput(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not tokenize(self.text):
            raise BadInput(f"query {self.text!r} has no searchable characters (letters or digits): type some words")
        check_page(self.size, self.page)
        if self.keyword_boost < 0 or self.knn_boost < 0:
            raise BadInput(f"boosts must be ≥ 0, got keyword {self.keyword_boost} and k-NN {self.knn_boost}")

    @property
    def knn_k(self) -> int:
        """Neighbours to fetch: enough for every result up to this page."""
        return max(self.k, self.size * self.page)


def check_page(size: int, page: int) -> None:
    """Page size and page number within what the index can serve (result window, k-NN's k)."""
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise BadInput(f"size must be within 1..{MAX_PAGE_SIZE}, got {size}")
    if page < 1:
        raise BadInput(f"page must be ≥ 1, got {page}")
    limit = min(MAX_RESULT_WINDOW, MAX_KNN_K)
    if page * size > limit:
        raise BadInput(f"page {page} × size {size} = {page * size} results is past the {limit:,} the index can serve; "
                       f"the last page at this size is {limit // size}: narrow the query or add filters instead")


def parse_filters(pairs: Iterable[str], attribute_keys: Iterable[str]) -> dict:
    """``key=value`` strings as search filters: ``category=PATH-PREFIX``, ``price=LOW..HIGH``
    (either bound may be left out), a product field or a catalog attribute (repeatable: any
    of the values matches)."""
    known = (*PRODUCT_FILTER_KEYS, *attribute_keys)
    filters: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise BadInput(f"filter {pair!r}: expected key=value, e.g. gender=Men or 'category=Apparel > Topwear'")
        if key not in known:
            raise BadInput(f"filter {pair!r}: unknown key {key!r}; known keys: {', '.join(known)}")
        if key == "price":
            filters[key] = _price_range(value)
        elif key == "category":
            filters[key] = value
        else:
            filters.setdefault(key, []).append(value)
    return filters


def _price_range(value: str) -> list[float | None]:
    low, sep, high = value.partition("..")
    if not sep:
        raise BadInput(f"price filter {value!r}: expected LOW..HIGH, e.g. price=10..50, price=..50 or price=10..")
    try:
        bounds = [float(b) if b.strip() else None for b in (low, high)]
    except ValueError:
        raise BadInput(f"price filter {value!r}: bounds must be numbers, e.g. price=10..49.99") from None
    if any(b is not None and (b != b or b < 0) for b in bounds):
        raise BadInput(f"price filter {value!r}: bounds must be numbers ≥ 0")
    if None not in bounds and bounds[0] > bounds[1]:
        raise BadInput(f"price filter {value!r}: the low bound is above the high bound")
    return bounds


def filter_clauses(filters: dict) -> list[dict]:
    clauses = []
    for key, value in filters.items():
        if value in (None, "", []):
            continue
        if key == "category":
            clauses.append({"term": {"category_path": value}})
        elif key == "price":
            low, high = value
            clauses.append({"range": {"price": {k: v for k, v in (("gte", low), ("lte", high)) if v is not None}}})
        elif key in ("brand", "vendor", "currency"):
            clauses.append({"term": {key: value}})
        else:
            values = value if isinstance(value, list) else [value]
            clauses.append({"terms": {f"attributes.{key}": values}})
    return clauses


def build_query(request: SearchRequest, vector: list[float] | None) -> dict:
    filters = filter_clauses(request.filters)
    should = []
    if request.mode in ("keyword", "hybrid"):
        should.append({"multi_match": {
            "query": request.text, "fields": KEYWORD_FIELDS, "fuzziness": "AUTO", "prefix_length": 1,
            "boost": request.keyword_boost,
        }})
    if request.mode in ("knn", "hybrid"):
        if vector is None:
            raise ValueError(f"mode {request.mode!r} needs the query vector")
        knn: dict = {"vector": vector, "k": request.knn_k, "boost": request.knn_boost}
        if filters:
            knn["filter"] = {"bool": {"filter": filters}}  # filtered during the graph search (lucene)
        should.append({"knn": {"embedding": knn}})
    return {
        "from": (request.page - 1) * request.size,
        "size": request.size,
        "_source": {"excludes": ["embedding"]},
        "query": {"bool": {"should": should, "minimum_should_match": 1, "filter": filters}},
    }


def search(client: Any, alias: str, encoder_for: Callable[[str], Any], request: SearchRequest) -> dict:
    """Run the request on the live alias; ``encoder_for(model_version)`` embeds the query."""
    index = live_index(client, alias)
    if index is None:
        raise NotFound(f"no index behind alias {alias!r}: run the search_index_publish DAG first")
    vector = None
    if request.mode != "keyword":
        model = encoder_for(index_meta(client, index)["model_version"])
        vector = model.embed_texts([request.text])[0].tolist()
    return client.search(index=alias, body=build_query(request, vector))


def recommend(client: Any, alias: str, product_id: str, size: int = 10, filters: dict | None = None) -> dict:
    """Products nearest to this product's own embedding, itself excluded."""
    from opensearchpy import NotFoundError

    product_id = product_id.strip()
    if not product_id:
        raise BadInput("product id is empty: give the id of a product in the catalog, e.g. 15970")
    check_page(size, 1)
    try:
        doc = client.get(index=alias, id=product_id, _source_includes=["embedding"])
    except NotFoundError:
        raise NotFound(f"product {product_id!r} not found in the live index {alias!r}") from None
    knn: dict = {"vector": doc["_source"]["embedding"], "k": size + 1}
    clauses = filter_clauses(filters or {})
    if clauses:
        knn["filter"] = {"bool": {"filter": clauses}}
    body = {
        "size": size,
        "_source": {"excludes": ["embedding"]},
        "query": {"bool": {"must": [{"knn": {"embedding": knn}}], "must_not": [{"ids": {"values": [product_id]}}]}},
    }
    return client.search(index=alias, body=body)
