"""How the OpenSearch client authenticates: basic auth from the connection, or SigV4 with the AWS
connection's identity and region (never an environment variable's region)."""

from __future__ import annotations

import json

import pytest
from opensearchpy import Urllib3AWSV4SignerAuth

from catalog_search.clients import Clients
from catalog_search.errors import BadInput
from catalog_search.settings import Settings

AWS = {"conn_type": "aws", "login": "AKIDEXAMPLE", "password": "secret", "extra": {"region_name": "eu-west-1"}}


def opensearch_with(monkeypatch, opensearch_extra: dict, aws: dict = AWS, login: str | None = None, inside_airflow=False):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # must not be the region that is signed for
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(aws))
    monkeypatch.setenv("AIRFLOW_CONN_OPENSEARCH_DEFAULT", json.dumps(
        {"conn_type": "opensearch", "host": "search-products.eu-west-1.es.amazonaws.com", "port": 443,
         "login": login, "password": "pw" if login else None, "extra": {"use_ssl": True, **opensearch_extra}}))
    make = Clients.from_airflow if inside_airflow else Clients.from_environment
    return make(Settings.from_env()).opensearch


def test_sigv4_signs_with_the_aws_connection_s_keys_for_its_region(monkeypatch):
    client = opensearch_with(monkeypatch, {"auth_type": "sigv4"})
    auth = client.transport.kwargs["http_auth"]
    assert isinstance(auth, Urllib3AWSV4SignerAuth)
    headers = auth("GET", "https://search-products.eu-west-1.es.amazonaws.com:443/_cluster/health", None)
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/es/aws4_request" in headers["Authorization"]


def test_inside_airflow_sigv4_takes_the_identity_and_region_from_the_aws_connection_s_hook(monkeypatch):
    auth = opensearch_with(monkeypatch, {"auth_type": "sigv4"}, inside_airflow=True).transport.kwargs["http_auth"]
    authorization = auth("GET", "https://search-products.eu-west-1.es.amazonaws.com:443/", None)["Authorization"]
    assert "Credential=AKIDEXAMPLE/" in authorization and "/eu-west-1/es/aws4_request" in authorization


def test_sigv4_for_opensearch_serverless_signs_for_aoss(monkeypatch):
    auth = opensearch_with(monkeypatch, {"auth_type": "sigv4", "service": "aoss"}).transport.kwargs["http_auth"]
    assert "/eu-west-1/aoss/aws4_request" in auth("GET", "https://x.eu-west-1.aoss.amazonaws.com/", None)["Authorization"]


def test_sigv4_without_a_region_in_the_aws_connection_says_where_to_set_it(monkeypatch):
    with pytest.raises(BadInput, match="region_name"):
        opensearch_with(monkeypatch, {"auth_type": "sigv4"}, aws={**AWS, "extra": {}})


def test_basic_auth_stays_the_default(monkeypatch):
    assert opensearch_with(monkeypatch, {}, login="search-user").transport.kwargs["http_auth"] == ("search-user", "pw")
