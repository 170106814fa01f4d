"""Integration tests run on the real local stack (OpenSearch with k-NN, moto_server), reached
through the same Airflow connections as the DAGs. ``make test`` starts the stack."""

from __future__ import annotations

import os
import uuid

import pytest


def _reachable() -> str | None:
    from catalog_search.connections import aws_client, opensearch_client

    try:
        opensearch_client().info()
        aws_client("s3").list_buckets()
    except Exception as err:  # any failure to reach the stack means the same thing here
        return f"{type(err).__name__}: {err}"
    return None


@pytest.fixture(scope="session", autouse=True)
def local_stack():
    for name in ("AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW_CONN_OPENSEARCH_DEFAULT"):
        if name not in os.environ:
            pytest.fail(f"{name} is not set: run the tests with `make test` (it sources scripts/env.sh)")
    problem = _reachable()
    if problem:
        pytest.fail(f"the local stack is not reachable ({problem}); start it with `make up`")


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]
