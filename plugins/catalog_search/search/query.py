"""Hybrid product search and recommendations on the live alias: builds and runs queries, nothing else.

Modes: ``keyword`` (fuzzy multi-match), ``knn`` (the query's embedding), and three ways of
combining them: ``hybrid`` (the seed's one bool/should query with a boost each), ``normalized``
(each list's scores min-max normalised to [0, 1], then a weighted sum) and ``rrf`` (reciprocal
rank fusion: Σ weight / (rrf_k + rank)). The two fusion modes fuse the keyword and k-NN result
lists here, in the library, so they give the same results on Amazon OpenSearch and on a node
without the neural-search plugin; pages are cut from the fused list. Filters apply to both lists.

The query vector comes from the model that built the index (its ``_meta.model_version``), so query
and catalog vectors always match; the caller passes ``query_vectors(model_version, text)``
(``search.terms.QueryVectors``). A query with no word the model knows gets no vector: k-NN
returns nothing and the combined modes fall back to keywords, and the response says so. So do
the combined modes when the encoder is unavailable (``EncoderUnavailable``); k-NN then raises it.

Requests are checked when they are made, before any service is called: a bad one raises
``BadInput`` saying which argument, what it was and what is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from catalog_search.errors import BadInput, EncoderUnavailable, NotFound
from catalog_search.search import facets
from catalog_search.search.terms import AttributeWords
from catalog_search.settings import SEARCH_MODES, Settings
from catalog_search.settings import also_meets as settings_also_meets
from catalog_search.store.index import index_meta, live_index
from catalog_search.training.tokenizer import tokenize

MODES = SEARCH_MODES
FUSED_MODES = ("normalized", "rrf")
KEYWORD_FIELDS = ["title^3", "category^1.5", "brand^2", "description"]
KEYWORD_FUZZINESS = "AUTO:4,7"
MAX_PAGE_SIZE = 100
MAX_RESULT_WINDOW = 10_000  # OpenSearch's index.max_result_window: from + size may not pass it
MAX_KNN_K = 10_000  # the k-NN plugin's limit on k
PRODUCT_FILTER_KEYS = ("category", "price", "brand", "vendor", "currency")
MAX_ATTRIBUTE_VALUES = 500  # values of one attribute a query may name


@dataclass(frozen=True)
class SearchRequest:
    text: str
    mode: str = Settings.search_mode
    size: int = 10
    page: int = 1
    keyword_boost: float = Settings.keyword_weight  # a boost in "hybrid", a weight in the fusion modes
    knn_boost: float = Settings.knn_weight
    k: int = Settings.fusion_window  # candidates from each list (at least what the page needs)
    rrf_k: int = Settings.rrf_k
    filters: dict = field(default_factory=dict)  # {"category": "Apparel > Topwear", "gender": ["Men"], "price": [lo, hi]}
    with_facets: bool = False  # also count the match set per category level, gender, colour, price range
    attribute_boost: float = Settings.attribute_weight  # the fused modes' bonus for the attribute values the query names,
    # as a share of the top fused score
    attributes: tuple[str, ...] = Settings.query_attributes
    attributes_also: tuple[str, ...] = Settings.query_attributes_also

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BadInput(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not tokenize(self.text):
            raise BadInput(f"query {self.text!r} has no searchable characters (letters or digits): type some words")
        check_page(self.size, self.page)
        if self.keyword_boost < 0 or self.knn_boost < 0 or self.attribute_boost < 0:
            raise BadInput(f"boosts must be ≥ 0, got keyword {self.keyword_boost}, k-NN {self.knn_boost} and attributes "
                           f"{self.attribute_boost}")

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
    low_bound, high_bound = bounds
    if low_bound is not None and high_bound is not None and low_bound > high_bound:
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


def _keyword_clause(request: SearchRequest, boost: float = 1.0) -> dict:
    """Fuzzy multi-match. ``most_fields`` adds up the evidence of title, category and brand (a
    product whose title and category both say "shorts" beats one whose title says "casual");
    fuzziness ``AUTO:4,7`` allows no edit below 4 letters and one below 7, so that "shorts"
    does not match "shoes". multi_match takes the text as data: user input never reaches
    query_string syntax."""
    return {"multi_match": {"query": request.text, "fields": KEYWORD_FIELDS, "type": "most_fields",
                            "fuzziness": KEYWORD_FUZZINESS, "prefix_length": 1, "boost": boost}}


def _knn_clause(request: SearchRequest, vector: list[float], k: int, boost: float = 1.0) -> dict:
    knn: dict = {"vector": vector, "k": k, "boost": boost}
    filters = filter_clauses(request.filters)
    if filters:
        knn["filter"] = {"bool": {"filter": filters}}  # filtered during the graph search (lucene)
    return {"knn": {"embedding": knn}}


# What a search hit's _source carries in every mode: the result card (the product page reads the
# whole document with ``product``). The fused modes read these fields as doc values instead.
CARD_FIELDS = ("product_id", "title", "category", "attributes", "price", "currency", "brand")
CARD_DOC_VALUES = {"product_id": "product_id", "title": "title.raw", "category": "category.raw", "price": "price",
                   "currency": "currency", "brand": "brand"}  # card field -> its doc values (attributes.*: each attribute)


def _body(request: SearchRequest, should: list[dict], start: int, size: int) -> dict:
    return {"from": start, "size": size, "_source": {"includes": list(CARD_FIELDS)},
            "query": {"bool": {"should": should, "minimum_should_match": 1, "filter": filter_clauses(request.filters)}}}


def build_query(request: SearchRequest, vector: list[float] | None) -> dict:
    """One query body for ``keyword``, ``knn`` and ``hybrid`` (the page's slice)."""
    should = []
    if request.mode in ("keyword", "hybrid"):
        should.append(_keyword_clause(request, request.keyword_boost))
    if request.mode in ("knn", "hybrid"):
        if vector is None:
            raise ValueError(f"mode {request.mode!r} needs the query vector")
        should.append(_knn_clause(request, vector, request.knn_k, request.knn_boost))
    return _body(request, should, (request.page - 1) * request.size, request.size)


def top_fused_score(request: SearchRequest) -> float:
    """The highest score fusion can give (a product first in both lists): the unit of the
    attribute bonus, so that one ``ATTRIBUTE_WEIGHT`` means the same in ``normalized`` and ``rrf``."""
    per_list = 1.0 if request.mode == "normalized" else 1.0 / (request.rrf_k + 1)
    return (request.keyword_boost + request.knn_boost) * per_list


def with_attribute_bonus(hits: list[dict], named: dict[str, list[str]], bonus: float) -> list[dict]:
    """The fused list again, each hit's score raised by ``bonus`` × the share of the attributes
    the query names whose value the product has (from its doc values, ``attributes.{name}``)."""
    if not named or not bonus:
        return hits

    def share(hit: dict) -> float:
        fields = hit.get("fields", {})
        return sum(bool(set(fields.get(f"attributes.{name}", ())) & set(values)) for name, values in named.items()) / len(named)

    raised = [{**hit, "_score": hit["_score"] + bonus * share(hit)} for hit in hits]
    return sorted(raised, key=lambda h: (-h["_score"], h["_id"]))


def fuse(keyword_hits: list[dict], knn_hits: list[dict], method: str, keyword_weight: float, knn_weight: float,
         rrf_k: int = 60) -> list[dict]:
    """One ranked list from two (each ranked best first); a hit's ``_score`` becomes its fused
    score. Ties keep a stable order (by id), so pages never overlap or skip."""
    scores: dict[str, float] = {}
    hits: dict[str, dict] = {}
    for weight, ranked in ((keyword_weight, keyword_hits), (knn_weight, knn_hits)):
        for rank, value in enumerate(_contributions(ranked, method, rrf_k)):
            hit = ranked[rank]
            hits.setdefault(hit["_id"], hit)
            scores[hit["_id"]] = scores.get(hit["_id"], 0.0) + weight * value
    order = sorted(scores, key=lambda i: (-scores[i], i))
    return [{**hits[i], "_score": scores[i]} for i in order]


def _contributions(ranked: list[dict], method: str, rrf_k: int) -> list[float]:
    if method == "rrf":
        return [1.0 / (rrf_k + rank) for rank in range(1, len(ranked) + 1)]
    raw = [h["_score"] for h in ranked]
    if not raw:
        return []
    low, high = min(raw), max(raw)
    return [(x - low) / (high - low) if high > low else 1.0 for x in raw]


def _response(hits: list[dict], total: int, query: dict) -> dict:
    return {"hits": {"total": {"value": total, "relation": "eq"}, "hits": hits}, "query": query}


def resolve_index(client: Any, target: str) -> str | None:
    """The index behind an alias, or the index itself (a new index checked before its swap)."""
    live = live_index(client, target)
    if live is not None:
        return live
    return target if client.indices.exists(index=target) else None


_MODEL_OF_INDEX: dict[str, str] = {}  # an index's model never changes: one mapping request per index and process
_ATTRIBUTE_WORDS: dict[tuple, AttributeWords] = {}  # nor its products' attribute values


def _model_version(client: Any, index: str) -> str:
    if index not in _MODEL_OF_INDEX:
        _MODEL_OF_INDEX[index] = index_meta(client, index)["model_version"]
    return _MODEL_OF_INDEX[index]


def attribute_words(client: Any, index: str, attributes: tuple[str, ...], also: tuple[str, ...]) -> AttributeWords:
    """The values the index's products take for each attribute (one aggregation per index and
    process), as the words a query may name them with."""
    key = (index, attributes, also)
    if key not in _ATTRIBUTE_WORDS:
        aggs = {name: {"terms": {"field": f"attributes.{name}", "size": MAX_ATTRIBUTE_VALUES}} for name in attributes}
        found = client.search(index=index, body={"size": 0, "aggs": aggs})["aggregations"] if aggs else {}
        meets: dict[str, dict[str, set[str]]] = {}
        for name, value, named in settings_also_meets(also, "CATALOG_SEARCH_QUERY_ATTRIBUTES_ALSO"):
            for wanted in named:
                meets.setdefault(name, {}).setdefault(wanted, set()).add(value)
        _ATTRIBUTE_WORDS[key] = AttributeWords({name: [b["key"] for b in found[name]["buckets"]] for name in attributes}, meets)
    return _ATTRIBUTE_WORDS[key]


def search(client: Any, target: str, query_vectors: Callable[[str, str], tuple], request: SearchRequest) -> dict:
    """Run the request on the alias (or index) ``target``. The response is OpenSearch's shape
    (``hits.total``, ``hits.hits``) plus ``query``: the mode, what the model made of the words,
    and whether k-NN took part; and ``facets`` when asked (``facets.read``)."""
    index = resolve_index(client, target)
    if index is None:
        raise NotFound(f"no index behind alias {target!r}: run the search_index_publish DAG first")
    info: dict = {"mode": request.mode}
    vector = None
    if request.mode != "keyword":
        try:
            vector, terms = query_vectors(_model_version(client, index), request.text)
        except EncoderUnavailable as err:
            if request.mode == "knn":
                raise
            info["knn"] = f"skipped: {err}"
        else:
            info["terms"] = terms.describe()
            info["knn"] = "used" if vector is not None else "skipped: no word of the query is known to the model"
    if vector is None and request.mode == "knn":
        return {**_response([], 0, info), **({"facets": facets.empty()} if request.with_facets else {})}
    if vector is None and request.mode != "keyword":
        info["fallback"] = "keyword"
        request = replace(request, mode="keyword", keyword_boost=1.0)
    if request.mode not in FUSED_MODES:
        body = build_query(request, vector)
        if request.with_facets:
            body["aggs"] = facets.aggregations()
        response = client.search(index=index, body=body)
        result = _response(response["hits"]["hits"], response["hits"]["total"]["value"], info)
        if request.with_facets:
            result["facets"] = facets.read(response["aggregations"])
        return result
    assert vector is not None  # a fused mode without a vector fell back to keywords above
    named = attribute_words(client, index, request.attributes, request.attributes_also).named(request.text) \
        if request.attribute_boost else {}
    if named:
        info["attributes"] = named
    fused = with_attribute_bonus(_fused(client, index, request, vector), named,
                                 request.attribute_boost * top_fused_score(request))
    start = (request.page - 1) * request.size
    page = fused[start : start + request.size]
    result = _response([{**hit, "_source": card_of(hit["fields"])} for hit in page], len(fused), info)
    if request.with_facets:
        result["facets"] = facets.tally([facets.source_of(hit.get("fields", {})) for hit in fused])
    return result


def _fused(client: Any, index: str, request: SearchRequest, vector: list[float]) -> list[dict]:
    """The keyword and k-NN lists (``knn_k`` each), fused: every result the pages are cut from.
    The lists carry scores and doc values only: the result card's fields (the product id is the
    document's ``_id``), those the facets count and every attribute, which the bonus reads. No
    stored field is read, not even ``_id``: it sits in the stored-field blocks beside ``_source``
    and its vector, and decompressing those for 200 candidates was most of the search's time (9 ms
    a list on the demo's index, 3 ms from doc values). Nor is the page fetched after the fusion: that second
    request cost the default mode a quarter of its throughput (docs/search.md, latency)."""
    window = request.knn_k
    doc_values = sorted({*CARD_DOC_VALUES.values(), "attributes.*", *(facets.DOC_VALUE_FIELDS if request.with_facets else ())})

    def ranked(should: list[dict]) -> dict:
        body = _body(request, should, 0, window)
        del body["_source"]
        return {**body, "stored_fields": "_none_", "docvalue_fields": doc_values}

    keyword, knn = client.msearch(body=[{"index": index}, ranked([_keyword_clause(request)]),
                                        {"index": index}, ranked([_knn_clause(request, vector, window)])])["responses"]
    return fuse(_with_ids(keyword["hits"]["hits"]), _with_ids(knn["hits"]["hits"]), request.mode, request.keyword_boost,
                request.knn_boost, request.rrf_k)


def _with_ids(hits: list[dict]) -> list[dict]:
    """Hits read from doc values, each with its ``_id`` again (the product id: index.documents)."""
    return [{**hit, "_id": hit["fields"]["product_id"][0]} for hit in hits]


def card_of(fields: dict) -> dict:
    """A hit's result card (``CARD_FIELDS``) from its doc values, as its ``_source`` would give it:
    a float price as the shortest decimal its float32 doc value stands for (12.99, not 12.9899997)."""
    def first(name: str) -> Any:
        return (fields.get(name) or [None])[0]

    card = {name: first(doc_values) for name, doc_values in CARD_DOC_VALUES.items()}
    if card["price"] is not None:
        card["price"] = float(np.format_float_positional(np.float32(card["price"])))
    card["attributes"] = {name.removeprefix("attributes."): values[0] for name, values in sorted(fields.items())
                          if name.startswith("attributes.") and values}
    return {name: card[name] for name in CARD_FIELDS if card[name] is not None}  # as documents() leaves out None


def ranked_ids(client: Any, target: str, query_vectors: Callable[[str, str], tuple], request: SearchRequest) -> list[str]:
    """The product ids of one page of results, best first (what an evaluation scores)."""
    return [hit["_id"] for hit in search(client, target, query_vectors, request)["hits"]["hits"]]


def product(client: Any, alias: str, product_id: str, **source_filter: Any) -> dict:
    """One product's document (by default without its embedding)."""
    from opensearchpy import NotFoundError

    try:
        return client.get(index=alias, id=product_id, **(source_filter or {"_source_excludes": ["embedding"]}))["_source"]
    except NotFoundError:
        raise NotFound(f"product {product_id!r} not found in the live index {alias!r}") from None


def recommend(client: Any, alias: str, product_id: str, size: int = 10, filters: dict | None = None) -> dict:
    """Products nearest to this product's own embedding, itself excluded."""
    product_id = product_id.strip()
    if not product_id:
        raise BadInput("product id is empty: give the id of a product in the catalog, e.g. 15970")
    check_page(size, 1)
    knn: dict = {"vector": product(client, alias, product_id, _source_includes=["embedding"])["embedding"], "k": size + 1}
    clauses = filter_clauses(filters or {})
    if clauses:
        knn["filter"] = {"bool": {"filter": clauses}}
    body = {
        "size": size,
        "_source": {"excludes": ["embedding"]},
        "query": {"bool": {"must": [{"knn": {"embedding": knn}}], "must_not": [{"ids": {"values": [product_id]}}]}},
    }
    return client.search(index=alias, body=body)
