"""The HTTP API on the index the chain published (real OpenSearch, moto server), and its 503
when OpenSearch does not answer."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from opensearchpy import OpenSearch

from catalog_search.search.api import Service, create_app


@pytest.fixture(scope="module")
def api(chain_service) -> TestClient:
    return TestClient(create_app(lambda: chain_service), raise_server_exceptions=False)


def test_health_names_the_live_index_snapshot_model_and_documents(api, chain_service):
    health = api.get("/health").json()
    assert health["alias"] == chain_service.settings.index_alias and health["index"].startswith(health["alias"])
    assert health["snapshot_id"].endswith("-fashion") and health["model_version"].startswith("cs-o2v-")
    assert health["documents"] > 44_000


def test_search_with_a_filter_returns_matching_products_and_facets_under_the_same_filter(api):
    body = api.get("/search", params={"q": "men navy blue shirt", "gender": "Men", "size": 10}).json()
    assert body["mode"] == "normalized" and len(body["results"]) == 10
    assert all(r["attributes"]["gender"] == "Men" for r in body["results"])
    assert sum("Shirt" in r["title"] for r in body["results"]) >= 8
    assert body["facets"]["gender"] == [{"value": "Men", "count": body["total"]}]
    assert sum(f["count"] for f in body["facets"]["category"] if f["level"] == 1) == body["total"]


@pytest.mark.parametrize("mode", ["keyword", "knn", "normalized", "rrf"])
def test_pages_do_not_overlap_and_keep_their_total(api, mode):
    pages = [api.get("/search", params={"q": "black watch", "mode": mode, "size": 10, "page": n}).json() for n in (1, 2, 3)]
    ids = [r["product_id"] for page in pages for r in page["results"]]
    assert len(ids) == 30 and len(set(ids)) == 30
    assert len({page["total"] for page in pages}) == 1


def test_a_category_filter_narrows_results_and_facets(api):
    body = api.get("/search", params={"q": "watch", "category": "Accessories > Watches", "size": 20}).json()
    assert body["results"] and all(r["category"].startswith("Accessories > Watches") for r in body["results"])
    assert {f["value"] for f in body["facets"]["category"] if f["level"] == 1} == {"Accessories"}


def test_product_and_similar_products(api):
    product = api.get("/products/15970").json()
    assert product["title"] == "Turtle Check Men Navy Blue Shirt" and "embedding" not in product
    similar = api.get("/products/15970/similar", params={"size": 10}).json()["results"]
    assert len(similar) == 10 and "15970" not in {r["product_id"] for r in similar}
    assert sum(r["category"] == product["category"] for r in similar) >= 8
    assert api.get("/products/no-such-product").status_code == 404
    assert api.get("/products/no-such-product/similar").status_code == 404


def test_the_search_page_renders_results_and_facets(api):
    page = api.get("/", params={"q": "women black handbag"})
    assert page.status_code == 200 and 'data-facet="gender"' in page.text and 'class="card"' in page.text


def test_an_opensearch_that_does_not_answer_is_a_503(chain_service):
    closed_port = OpenSearch(hosts=[{"host": "127.0.0.1", "port": 9}], timeout=2, max_retries=0)
    service = Service(chain_service.settings, closed_port, chain_service.query_vectors)
    response = TestClient(create_app(lambda: service), raise_server_exceptions=False).get("/search", params={"q": "shirt"})
    assert response.status_code == 503 and "OpenSearch is unavailable" in response.json()["detail"]
