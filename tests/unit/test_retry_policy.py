"""Fail fast or retry, by kind of error: the DAGs' retry policy on each kind the pipeline meets."""

from __future__ import annotations

import pytest
from airflow.sdk import RetryAction
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import TransportError

from catalog_search.dag_support import DEFAULT_ARGS, StageRetryPolicy
from catalog_search.errors import BadInput, ErrorKind, classify
from catalog_search.store.index import IndexValidationFailed
from catalog_search.store.object_store import MissingObject
from catalog_search.training.catalog import CatalogError
from catalog_search.training.gating import GateFailed
from catalog_search.validation import RuleResult, ValidationFailed, ValidationReport


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


PERMANENT = {
    "contract": CatalogError("catalog.csv: missing required column(s) ['title']"),
    "validation": ValidationFailed(ValidationReport("pairs", "s3://b/k", 3, [RuleResult("labels in {0, 1}", False)])),
    "missing input": MissingObject("s3://b/catalog/latest.json does not exist"),
    "failed gate": GateFailed("test:accuracy 0.5 is below the minimum 0.75"),
    "bad params": BadInput("size must be within 1..100"),
    "index check": IndexValidationFailed("index products-x: 10 documents, expected 12"),
    "access denied": _client_error("AccessDenied", 403),
    "no such bucket": _client_error("NoSuchBucket", 404),
    "bad mapping": TransportError(400, "mapper_parsing_exception", {}),
    "programming error": TypeError("f() takes 2 positional arguments but 3 were given"),
}
TRANSIENT = {
    "connection refused": ConnectionRefusedError(111, "Connection refused"),
    "socket timeout": TimeoutError("timed out"),
    "S3 unreachable": EndpointConnectionError(endpoint_url="http://127.0.0.1:5000/b"),
    "S3 read timeout": ReadTimeoutError(endpoint_url="http://127.0.0.1:5000/b"),
    "DynamoDB throttling": _client_error("ProvisionedThroughputExceededException", 400),
    "S3 slow down": _client_error("SlowDown", 503),
    "SageMaker 500": _client_error("InternalFailure", 500),
    "OpenSearch unreachable": OpenSearchConnectionError("N/A", "Connection refused", None),
    "OpenSearch 429": TransportError(429, "es_rejected_execution_exception", {}),
    "OpenSearch 503": TransportError(503, "unavailable_shards_exception", {}),
}


@pytest.mark.parametrize("name", sorted(PERMANENT))
def test_permanent_errors_fail_the_task_at_once_with_their_message(name):
    err = PERMANENT[name]
    assert classify(err) is ErrorKind.PERMANENT
    decision = StageRetryPolicy().evaluate(err, try_number=1, max_tries=4)
    assert decision.action is RetryAction.FAIL
    assert str(err)[:40] in decision.reason


@pytest.mark.parametrize("name", sorted(TRANSIENT))
def test_transient_errors_are_retried(name):
    err = TRANSIENT[name]
    assert classify(err) is ErrorKind.TRANSIENT
    assert StageRetryPolicy().evaluate(err, try_number=1, max_tries=4).action is RetryAction.RETRY


def test_anything_else_gets_the_ordinary_retries():
    assert StageRetryPolicy().evaluate(RuntimeError("?"), try_number=1, max_tries=4).action is RetryAction.DEFAULT


def test_retries_back_off_exponentially_up_to_a_cap():
    assert DEFAULT_ARGS["retries"] >= 2 and DEFAULT_ARGS["retry_exponential_backoff"] >= 2
    assert DEFAULT_ARGS["max_retry_delay"] > DEFAULT_ARGS["retry_delay"]
    assert isinstance(DEFAULT_ARGS["retry_policy"], StageRetryPolicy)
