"""The search service: an HTTP API (JSON) and a web page, both on the live alias.

``catalog-search serve`` runs ``create_app()`` under uvicorn. Clients come from plain settings
(``Clients.from_environment``: the same ``AIRFLOW_CONN_*`` variables as the DAGs, read without
importing Airflow). Every answer to bad input is a 422 naming the field and the reason, an
unknown product a 404, a service that does not answer a 503 with the reason; a stack trace never
reaches the client (it goes to the log).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

from catalog_search.clients import Clients
from catalog_search.errors import BadInput, EncoderUnavailable, ErrorKind, NotFound, classify, missing_configuration
from catalog_search.search import query as search_lib
from catalog_search.search.terms import QueryVectors
from catalog_search.settings import SEARCH_MODES, Settings
from catalog_search.store.index import index_meta, live_index

log = logging.getLogger(__name__)
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "web" / "templates"))
MAX_QUERY_LENGTH = 200
# Query parameters of /search that are not filters.
SEARCH_PARAMS = {"q", "mode", "page", "size", "price_min", "price_max"}
Mode = Literal[SEARCH_MODES]  # type: ignore[valid-type]


@dataclass
class Service:
    """What every request needs, built once per process."""

    settings: Settings
    opensearch: Any
    query_vectors: QueryVectors

    @classmethod
    def from_clients(cls, clients: Clients) -> Service:
        return cls(clients.settings, clients.opensearch, QueryVectors.for_clients(clients))

    def search(self, request: search_lib.SearchRequest) -> dict:
        return search_lib.search(self.opensearch, self.settings.index_alias, self.query_vectors, request)

    def product(self, product_id: str) -> dict:
        return search_lib.product(self.opensearch, self.settings.index_alias, product_id)

    def similar(self, product_id: str, size: int) -> list[dict]:
        hits = search_lib.recommend(self.opensearch, self.settings.index_alias, product_id, size)["hits"]["hits"]
        return [_result(hit) for hit in hits]

    def health(self) -> dict:
        alias = self.settings.index_alias
        index = live_index(self.opensearch, alias)
        if index is None:
            raise NotFound(f"no index behind alias {alias!r}: run the search_index_publish DAG")
        meta = index_meta(self.opensearch, index)
        return {"status": "ok", "alias": alias, "index": index, "snapshot_id": meta.get("snapshot_id"),
                "model_version": meta.get("model_version"), "documents": self.opensearch.count(index=index)["count"]}


def _request(q: str, mode: str, page: int, size: int, filters: dict) -> search_lib.SearchRequest:
    """Checked here, before any service is called (``BadInput`` → 422)."""
    return search_lib.SearchRequest(q, mode, size, page, filters=filters, with_facets=True)


def _result(hit: dict) -> dict:
    source = hit["_source"]
    return {"product_id": source["product_id"], "title": source.get("title"), "category": source.get("category"),
            "attributes": source.get("attributes") or {}, "price": source.get("price"),
            "currency": source.get("currency"), "brand": source.get("brand"), "score": hit.get("_score")}


def _filters(request: Request, price_min: float | None, price_max: float | None, attribute_keys) -> dict:
    """Every query parameter that is not a search parameter is a filter (``gender=Men``,
    ``category=Apparel > Topwear``; repeatable); checked by ``search.parse_filters``."""
    pairs = [f"{key}={value}" for key, value in request.query_params.multi_items() if key not in SEARCH_PARAMS]
    if price_min is not None or price_max is not None:
        pairs.append(f"price={'' if price_min is None else price_min}..{'' if price_max is None else price_max}")
    return search_lib.parse_filters(pairs, attribute_keys)


def _unprocessable(field: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": [{"loc": ["query", field], "msg": message}]})


def _field_of(message: str) -> str:
    """The parameter a BadInput message is about, for the 422's ``loc``: a filter's key, else
    the message's first word (``size``, ``page``, ``mode``; ``query`` is ``q``)."""
    first = message.split(" ", 1)[0].strip("'\"")
    if first == "filter":
        return message.split("'", 2)[1].partition("=")[0] or "filter"
    if first == "price":
        return "price_min"
    return {"query": "q"}.get(first, first)


def create_app(service_factory=None) -> FastAPI:
    """The app; ``service_factory`` (default: from the environment) is called on first use, so
    that starting the server needs no service and a restarted service is picked up."""
    app = FastAPI(title="catalog-search", description="Hybrid product search and similar products on the live index.",
                  version="1")
    state: dict = {}
    starting = threading.Lock()  # the first requests arrive together: they share one service

    def service() -> Service:
        if "service" not in state:
            with starting:
                if "service" not in state:
                    state["service"] = (service_factory or (lambda: Service.from_clients(Clients.from_environment(Settings.from_env()))))()
        return state["service"]

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, err: BadInput):
        return _unprocessable(_field_of(str(err)), str(err))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):
        return JSONResponse(status_code=422, content={"detail": [
            {"loc": list(e["loc"]), "msg": e["msg"]} for e in err.errors()]})

    @app.exception_handler(NotFound)
    async def not_found(request: Request, err: NotFound):
        return JSONResponse(status_code=404, content={"detail": str(err)})

    @app.exception_handler(Exception)
    async def failed(request: Request, err: Exception):
        if missing_configuration(err):
            log.error("not configured (%s): %s", request.url.path, missing_configuration(err))
            return JSONResponse(status_code=503, content={"detail": f"the search service is not configured: {missing_configuration(err)}"})
        if classify(err) is ErrorKind.TRANSIENT:
            log.warning("service unavailable on %s: %s", request.url.path, err)
            return JSONResponse(status_code=503, content={"detail": _unavailable(err)})
        log.exception("error on %s", request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal error (see the server log)"})

    @app.get("/health", summary="The live index: alias, index, snapshot, model, documents")
    def health() -> dict:
        return service().health()

    @app.get("/search", summary="Search the live index, with facet counts under the same filters")
    def search(request: Request, q: str = Query(..., min_length=1, max_length=MAX_QUERY_LENGTH, description="free text"),
               mode: Mode = Query(Settings.search_mode), page: int = Query(1, ge=1),
               size: int = Query(10, ge=1, le=search_lib.MAX_PAGE_SIZE),
               price_min: float | None = Query(None, ge=0), price_max: float | None = Query(None, ge=0)) -> dict:
        svc = service()
        filters = _filters(request, price_min, price_max, svc.settings.filter_attributes)
        response = svc.search(_request(q, mode, page, size, filters))
        return {"q": q, "mode": mode, "page": page, "size": size, "total": response["hits"]["total"]["value"],
                "results": [_result(hit) for hit in response["hits"]["hits"]], "facets": response["facets"],
                "query": response["query"], "filters": filters}

    @app.get("/products/{product_id}", summary="One product")
    def product(product_id: str) -> dict:
        return service().product(product_id)

    @app.get("/products/{product_id}/similar", summary="Products nearest to this product's embedding")
    def similar(product_id: str, size: int = Query(10, ge=1, le=search_lib.MAX_PAGE_SIZE)) -> dict:
        return {"product_id": product_id, "results": service().similar(product_id, size)}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page(request: Request, q: str = "", mode: Mode = Query(Settings.search_mode), page: int = Query(1, ge=1),
             size: int = Query(12, ge=1, le=search_lib.MAX_PAGE_SIZE)):
        context: dict = {"q": q, "mode": mode, "modes": SEARCH_MODES, "page": page, "size": size, "error": None}
        if q.strip():
            try:
                svc = service()
                filters = _filters(request, None, None, svc.settings.filter_attributes)
                response = svc.search(_request(q, mode, page, size, filters))
                total = response["hits"]["total"]["value"]
                context.update(results=[_result(h) for h in response["hits"]["hits"]], total=total,
                               facets=response["facets"], filters=filters, query=response["query"],
                               pages=max(1, -(-min(total, search_lib.MAX_RESULT_WINDOW) // size)),
                               link=_link_maker(request))
            except BadInput as err:
                context["error"] = str(err)
        return TEMPLATES.TemplateResponse(request, "search.html", context)

    @app.get("/product/{product_id}", response_class=HTMLResponse, include_in_schema=False)
    def product_page(request: Request, product_id: str):
        svc = service()
        return TEMPLATES.TemplateResponse(request, "product.html", {
            "product": svc.product(product_id), "similar": svc.similar(product_id, 12)})

    return app


def _link_maker(request: Request):
    """``link(page=2)`` or ``link(add=("gender", "Men"))`` or ``link(remove="gender")``: this
    search's URL with one thing changed (a new filter or page starts again at page 1)."""
    base = [(k, v) for k, v in request.query_params.multi_items()]

    def link(page: int | None = None, add: tuple[str, str] | None = None, remove: str | None = None) -> str:
        params = [(k, v) for k, v in base if k != "page" and k != remove and not (add and k == add[0])]
        if add:
            params.append(add)
        if page:
            params.append(("page", str(page)))
        return "/?" + urlencode(params)

    return link


def _unavailable(err: BaseException) -> str:
    if isinstance(err, EncoderUnavailable):
        return str(err)
    if type(err).__module__.startswith("opensearchpy"):
        return "OpenSearch is unavailable: the search index cannot be reached; try again shortly"
    return "the model store (S3) is unavailable: the query encoder cannot be loaded; try again shortly"
