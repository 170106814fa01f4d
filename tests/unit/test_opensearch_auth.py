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


def opensearch_with(monkeypatch, opensearch_extra: dict, aws: dict = AWS, login: str | None = None, inside_airflow=False,
                    default_region: str | None = "us-east-1"):
    if default_region:  # must not be the region that is signed for
        monkeypatch.setenv("AWS_DEFAULT_REGION", default_region)
    else:
        monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
        monkeypatch.delenv("AWS_REGION", raising=False)
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


def test_opensearch_serverless_is_refused_saying_what_it_lacks(monkeypatch):
    """An index build clones, force-merges, flushes and sets replicas: APIs Serverless does not have."""
    for inside_airflow in (False, True):
        with pytest.raises(BadInput, match=r"Serverless .* not supported: an index build uses _clone"):
            opensearch_with(monkeypatch, {"auth_type": "sigv4", "service": "aoss"}, inside_airflow=inside_airflow)


def test_sigv4_without_any_region_says_where_to_set_it(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(BadInput, match="region_name"):
        opensearch_with(monkeypatch, {"auth_type": "sigv4"}, aws={**AWS, "extra": {}}, default_region=None)


def test_basic_auth_stays_the_default(monkeypatch):
    assert opensearch_with(monkeypatch, {}, login="search-user").transport.kwargs["http_auth"] == ("search-user", "pw")
