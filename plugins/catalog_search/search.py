"""Hybrid product search and recommendations on the live alias.

Hybrid = fuzzy keyword matching and k-NN on the query's embedding, each with a boost, in one
bool query, plus filters and pagination. The query encoder is the model that built the live
index (its ``_meta.model_version``), so query and catalog vectors always match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog_search.encoder import Encoder
from catalog_search.index import index_meta, live_index
from catalog_search.settings import Layout
from catalog_search.storage import ObjectStore

MODES = ("keyword", "knn", "hybrid")
KEYWORD_FIELDS = ["title^3", "category^1.5", "brand^2", "description"]


@dataclass(frozen=True)
class SearchRequest:
    text: str
    mode: str = "hybrid"
    size: int = 10
    page: int = 1
    keyword_boost: float = 1.0
    knn_boost: float = 1.0
    k: int = 100
    filters: dict = field(default_factory=dict)  # {"category": "Apparel > Topwear", "gender": "Men", "price": [lo, hi]}

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.size < 1 or self.page < 1:
            raise ValueError("size and page must be ≥ 1")


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
        knn: dict = {"vector": vector, "k": max(request.k, request.size * request.page), "boost": request.knn_boost}
        if filters:
            knn["filter"] = {"bool": {"filter": filters}}  # filtered during the graph search (lucene)
        should.append({"knn": {"embedding": knn}})
    return {
        "from": (request.page - 1) * request.size,
        "size": request.size,
        "_source": {"excludes": ["embedding"]},
        "query": {"bool": {"should": should, "minimum_should_match": 1, "filter": filters}},
    }


class QueryEncoder:
    """Loads the encoder of the model behind the live index, once per model version."""

    def __init__(self, store: ObjectStore, cache_dir: Path):
        self.store, self.cache_dir = store, Path(cache_dir)
        self._encoders: dict[str, Encoder] = {}

    def for_model(self, model_version: str) -> Encoder:
        if model_version not in self._encoders:
            data = self.store.get_bytes(Layout.model(model_version) + "output/model.tar.gz")
            self._encoders[model_version] = Encoder.from_tarball(data, self.cache_dir / model_version)
        return self._encoders[model_version]


def search(client: Any, alias: str, encoder: QueryEncoder, request: SearchRequest) -> dict:
    index = live_index(client, alias)
    if index is None:
        raise LookupError(f"no index behind alias {alias!r}: run the search_index_publish DAG first")
    vector = None
    if request.mode != "keyword":
        model = encoder.for_model(index_meta(client, index)["model_version"])
        vector = model.embed_texts([request.text])[0].tolist()
    return client.search(index=alias, body=build_query(request, vector))


def recommend(client: Any, alias: str, product_id: str, size: int = 10, filters: dict | None = None) -> dict:
    """Products nearest to this product's own embedding, itself excluded."""
    from opensearchpy import NotFoundError

    try:
        doc = client.get(index=alias, id=product_id, _source_includes=["embedding"])
    except NotFoundError:
        raise LookupError(f"product {product_id!r} is not in the live index {alias!r}") from None
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
