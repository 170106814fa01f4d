"""Integration tests run on the real local stack (OpenSearch with k-NN, moto_server), reached
through the same connections as the DAGs (``AIRFLOW_CONN_*`` from scripts/env.sh).

Every test here carries the ``integration`` marker. When the stack is down they are skipped with
the reason, except under CI (``CI=true``), where a stack that did not come up is a failure."""

from __future__ import annotations

import os
import uuid

import pytest

from catalog_search.clients import Clients
from catalog_search.settings import Settings


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration/" in item.nodeid:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def clients() -> Clients:
    return Clients.from_environment(Settings.from_env())


@pytest.fixture(scope="session", autouse=True)
def local_stack(clients):
    problems = [f"{name} is not set: run the tests with `make test` (it sources scripts/env.sh)"
                for name in ("AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW_CONN_OPENSEARCH_DEFAULT") if name not in os.environ]
    if not problems:
        try:
            clients.opensearch.info()
            clients.s3.list_buckets()
        except Exception as err:  # any failure to reach the stack means the same thing here
            problems.append(f"the local stack is not reachable ({type(err).__name__}: {err}); start it with `make up`")
    if problems:
        (pytest.fail if os.environ.get("CI") else pytest.skip)("; ".join(problems))


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]
