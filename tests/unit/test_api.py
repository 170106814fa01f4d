"""The HTTP API's answers to bad input and faults, with a stand-in service (no OpenSearch):
a 422 names the field and the reason and never reaches the service, a service that does not
answer is a 503 with the reason, anything else a 500 without internals."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import opensearchpy
import pytest
from fastapi.testclient import TestClient

from catalog_search.clients import Clients
from catalog_search.search import facets
from catalog_search.search.api import Service, create_app
from catalog_search.settings import Settings


class Unreachable:
    """An OpenSearch client whose node does not answer."""

    def __getattr__(self, name):
        def call(*args, **kwargs):
            raise opensearchpy.ConnectionError("N/A", "connection refused", None)
        return call

    @property
    def indices(self):
        return self


class Recording(Service):
    def __init__(self, opensearch=None):
        super().__init__(Settings(), opensearch, query_vectors=None)
        self.calls = []

    def search(self, *args):
        self.calls.append(args)
        raise AssertionError("bad input must not reach the service")


@pytest.fixture
def recording() -> Recording:
    return Recording()


@pytest.fixture
def api(recording) -> TestClient:
    return TestClient(create_app(lambda: recording), raise_server_exceptions=False)


@pytest.mark.parametrize("url, field, reason", [
    ("/search", "q", "Field required"),
    ("/search?q=", "q", "at least 1 character"),
    ("/search?q=" + "a" * 201, "q", "at most 200 characters"),
    ("/search?q=%21%3F", "q", "no searchable characters"),
    ("/search?q=shirt&size=0", "size", "greater than or equal to 1"),
    ("/search?q=shirt&size=101", "size", "less than or equal to 100"),
    ("/search?q=shirt&page=0", "page", "greater than or equal to 1"),
    ("/search?q=shirt&page=101&size=100", "page", "is past the 10,000"),
    ("/search?q=shirt&mode=semantic", "mode", "Input should be"),
    ("/search?q=shirt&price_min=cheap", "price_min", "valid number"),
    ("/search?q=shirt&price_min=50&price_max=10", "price_min", "low bound is above the high bound"),
    ("/search?q=shirt&shoe_size=42", "shoe_size", "unknown key 'shoe_size'"),
    ("/products/15970/similar?size=1000", "size", "less than or equal to 100"),
])
def test_bad_input_is_a_422_naming_the_field_and_never_reaches_the_service(api, recording, url, field, reason):
    response = api.get(url)
    assert response.status_code == 422, response.text
    (detail,) = response.json()["detail"]
    assert detail["loc"][-1] == field and reason in detail["msg"]
    assert recording.calls == []


def test_user_text_is_data_not_query_syntax():
    """The keyword clause is a multi_match: Lucene syntax in the text stays words."""
    from catalog_search.search.query import SearchRequest, build_query

    body = build_query(SearchRequest('title:(shirt OR "x") AND price:[0 TO 1]', "keyword"), None)
    assert "query_string" not in str(body) and "simple_query_string" not in str(body)


@pytest.mark.parametrize("url", ["/health", "/search?q=shirt&mode=keyword", "/products/15970", "/products/15970/similar"])
def test_an_unreachable_opensearch_is_a_503_with_the_reason(url):
    service = Service(Settings(), Unreachable(), query_vectors=None)
    response = TestClient(create_app(lambda: service), raise_server_exceptions=False).get(url)
    assert response.status_code == 503
    assert "OpenSearch is unavailable" in response.json()["detail"] and "Traceback" not in response.text


def test_the_first_requests_arriving_together_share_one_service():
    """A server's first requests arrive together: one builds the service (clients, the query
    encoder) while the others wait, instead of each building its own and loading the model again."""
    built = []

    class Healthy(Recording):
        def __init__(self):
            built.append(self)
            time.sleep(0.2)  # long enough that every request arrives while the first builds it
            super().__init__()

        def health(self):
            return {"status": "ok", "service": id(self)}

    app = create_app(Healthy)
    start = threading.Barrier(8)

    def first_request(_):
        with TestClient(app) as client:
            start.wait()
            return client.get("/health")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(first_request, range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert len(built) == 1 and {a.json()["service"] for a in answers} == {id(built[0])}


def test_an_unexpected_error_is_a_500_without_internals():
    class Broken(Recording):
        def health(self):
            raise KeyError("mappings")

    response = TestClient(create_app(Broken), raise_server_exceptions=False).get("/health")
    assert response.status_code == 500 and "mappings" not in response.text and "Traceback" not in response.text


def test_the_openapi_document_lists_every_endpoint(api):
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/search", "/health", "/products/{product_id}", "/products/{product_id}/similar"} <= set(paths)


def test_facets_counted_from_documents_equal_the_aggregation_shape():
    sources = [
        {"category_path": ["Apparel", "Apparel > Topwear"], "attributes": {"gender": "Men", "colour": "Blue"}, "price": 30.0},
        {"category_path": ["Apparel", "Apparel > Bottomwear"], "attributes": {"gender": "Men"}, "price": 250.0},
        {"category_path": ["Footwear"], "attributes": {"gender": "Women", "colour": "Blue"}},
    ]
    counted = facets.tally(sources)
    assert counted["category"] == [{"value": "Apparel", "count": 2, "level": 1, "parent": None},
                                   {"value": "Apparel > Bottomwear", "count": 1, "level": 2, "parent": "Apparel"},
                                   {"value": "Apparel > Topwear", "count": 1, "level": 2, "parent": "Apparel"},
                                   {"value": "Footwear", "count": 1, "level": 1, "parent": None}]
    assert counted["gender"] == [{"value": "Men", "count": 2}, {"value": "Women", "count": 1}]
    assert counted["colour"] == [{"value": "Blue", "count": 2}]
    assert counted["price"] == [{"value": "25..50", "from": 25.0, "to": 50.0, "count": 1},
                                {"value": "250..", "from": 250.0, "to": None, "count": 1}]
    assert facets.aggregations()["price"]["range"]["ranges"][0] == {"key": "..25", "to": 25.0}


def test_missing_aws_credentials_are_a_503_saying_which_connection(monkeypatch, tmp_path):
    """The service made without credentials (no AIRFLOW_CONN_AWS_DEFAULT, nothing in boto3's chain):
    botocore's NoCredentialsError on the first call, answered as what is not configured."""
    for name in [k for k in os.environ if k.startswith(("AWS_", "AIRFLOW_CONN_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    class NeedsTheModelStore(Recording):
        def health(self):
            return Clients.from_environment(Settings()).store.get_json("models/champion.json")

    response = TestClient(create_app(NeedsTheModelStore), raise_server_exceptions=False).get("/health")
    assert response.status_code == 503 and "Traceback" not in response.text
    assert "no AWS credentials for the aws_default connection" in response.json()["detail"]


def test_category_facets_are_a_tree_each_value_under_its_parent():
    """Depth first, most products first on each level: a second level's value never lands under
    another first-level value (Bottomwear once showed under Accessories, the last first-level one)."""
    entries = [{"value": v, "count": n} for v, n in (("Accessories", 5), ("Apparel", 9), ("Apparel > Bottomwear", 2),
                                                      ("Apparel > Topwear", 7), ("Accessories > Watches", 5),
                                                      ("Apparel > Topwear > Shirts", 4), ("Footwear > Shoes", 1))]
    ordered = facets.tree_order(entries)
    assert [(e["value"], e["parent"]) for e in ordered] == [
        ("Apparel", None), ("Apparel > Topwear", "Apparel"), ("Apparel > Topwear > Shirts", "Apparel > Topwear"),
        ("Apparel > Bottomwear", "Apparel"), ("Accessories", None), ("Accessories > Watches", "Accessories"),
        ("Footwear > Shoes", None)]  # its parent was not counted: it stands on the first level


def test_the_search_page_renders_its_results_and_the_category_tree():
    """The page from the package's templates (found from the module's place in the package)."""
    class Answering(Recording):
        def search(self, request):
            hit = {"_id": "7", "_score": 1.0, "_source": {"product_id": "7", "title": "Navy Shirt", "category": "Apparel > Topwear",
                                                          "attributes": {"gender": "Men"}}}
            return {"hits": {"total": {"value": 1}, "hits": [hit]}, "query": {"mode": request.mode},
                    "facets": facets.tally([{"category_path": ["Apparel", "Apparel > Topwear"], "attributes": {"gender": "Men"}}])}

    page = TestClient(create_app(Answering), raise_server_exceptions=False).get("/", params={"q": "navy shirt"})
    assert page.status_code == 200 and "Navy Shirt" in page.text
    tree = page.text[page.text.index('id="category-facets"'):]
    assert tree.index('data-value="Apparel"') < tree.index('data-value="Apparel &gt; Topwear"') < tree.index("</ul></li></ul>")
