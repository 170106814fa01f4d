"""One region, aws_default's: its clients, the image URIs of its requests and its SigV4 signing
all follow the connection's ``region_name``, never a second source such as AWS_DEFAULT_REGION
(which only fills in, as boto3's own default, when the connection names none)."""

from __future__ import annotations

import json

import pytest

from catalog_search.clients import Clients
from catalog_search.errors import BadInput
from catalog_search.sagemaker import job_requests
from catalog_search.settings import Settings

CONNECTION = {"conn_type": "aws", "login": "AKIDEXAMPLE", "password": "secret", "extra": {"region_name": "eu-west-1"}}


@pytest.fixture
def environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # set differently on purpose
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(CONNECTION))
    monkeypatch.setenv("AIRFLOW_CONN_OPENSEARCH_DEFAULT", json.dumps(
        {"conn_type": "opensearch", "host": "search-products.eu-west-1.es.amazonaws.com", "port": 443,
         "extra": {"use_ssl": True, "auth_type": "sigv4"}}))
    return monkeypatch


@pytest.mark.parametrize("inside_airflow", [False, True], ids=["outside-airflow", "inside-airflow"])
def test_clients_requests_and_signing_take_the_connection_s_region(environment, inside_airflow):
    make = Clients.from_airflow if inside_airflow else Clients.from_environment
    clients = make(Settings(runner="sagemaker", sagemaker_role_arn="arn:aws:iam::123456789012:role/x",
                            processing_image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalog-search-processing:1"))
    assert clients.region == "eu-west-1"
    assert clients.s3.meta.region_name == "eu-west-1" and clients.sagemaker.meta.region_name == "eu-west-1"
    training = job_requests.training_job_config(clients.settings, clients.region, "cs-o2v-x", "s3://b/t/", "s3://b/m/", {})
    model = job_requests.model_config(clients.settings, clients.region, "cs-o2v-x", "s3://b/m/x/output/model.tar.gz")
    for image in (training["AlgorithmSpecification"]["TrainingImage"], model["PrimaryContainer"]["Image"]):
        assert ".eu-west-1." in image and "us-east-1" not in image, image
    auth = clients.opensearch.transport.kwargs["http_auth"]
    assert "/eu-west-1/es/aws4_request" in auth("GET", "https://search-products.eu-west-1.es.amazonaws.com/", None)["Authorization"]


def test_without_a_region_in_the_connection_boto3_s_default_fills_in_for_everything(environment):
    environment.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({**CONNECTION, "extra": {}}))
    clients = Clients.from_environment(Settings())
    assert clients.region == "us-east-1" and clients.dynamodb.meta.region_name == "us-east-1"


def test_no_region_anywhere_is_one_line_saying_where_to_set_it(environment):
    environment.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({**CONNECTION, "extra": {}}))
    environment.delenv("AWS_DEFAULT_REGION")
    environment.delenv("AWS_REGION", raising=False)
    clients = Clients.from_environment(Settings())
    for use in (lambda: clients.region, lambda: clients.s3):
        with pytest.raises(BadInput, match=r"names no region: add it to its extra"):
            use()
