"""Integration tests run on the real local stack (OpenSearch with k-NN, moto in server mode), reached
through the same connections as the DAGs (``AIRFLOW_CONN_*`` from scripts/env.sh).

Every test here carries the ``integration`` marker. When the stack is down they are skipped with
the reason, except under CI (``CI=true``), where a stack that did not come up is a failure."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from catalog_search.clients import Clients
from catalog_search.settings import Settings
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.store.object_store import ObjectStore

ROOT = Path(__file__).resolve().parents[2]
CHAIN = ("catalog_refresh", "embedding_training", "catalog_enrichment", "search_index_publish")


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


# The whole chain through Airflow, once per session: test_end_to_end checks what it wrote,
# test_search_api_live and test_web_browser serve the index it published.
@pytest.fixture(scope="session")
def chain(tmp_path_factory, clients):
    key = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "CATALOG_SEARCH_BUCKET": f"e2e-{key}",
        "CATALOG_SEARCH_TABLE": f"e2e-{key}",
        "CATALOG_SEARCH_INDEX_ALIAS": f"e2e-{key}",
        "CATALOG_SEARCH_WORK_DIR": str(tmp_path_factory.mktemp("work")),
    }
    logs = tmp_path_factory.mktemp("logs")

    def run(dag_id: str, conf: dict | None = None) -> None:
        log = logs / f"{dag_id}.log"
        with log.open("w") as out:
            proc = subprocess.run(["airflow", "dags", "test", dag_id, "--conf", json.dumps(conf or {})],
                                  env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        if proc.returncode != 0:
            tail = "\n".join(log.read_text().splitlines()[-40:])
            pytest.fail(f"{dag_id} failed (log {log}):\n{tail}")

    for dag_id in CHAIN:
        run(dag_id)
    yield env, run
    clients.opensearch.indices.delete(index=f"{env['CATALOG_SEARCH_INDEX_ALIAS']}-*", ignore_unavailable=True)


@pytest.fixture(scope="session")
def store(chain, clients):
    return ObjectStore(clients.s3, chain[0]["CATALOG_SEARCH_BUCKET"])


@pytest.fixture(scope="session")
def alias(chain):
    return chain[0]["CATALOG_SEARCH_INDEX_ALIAS"]


@pytest.fixture(scope="session")
def encoder_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("query-encoder")


@pytest.fixture(scope="session")
def chain_service(chain, tmp_path_factory):
    """The search service (``catalog_search.search.api.Service``) on the index the chain published."""
    import dataclasses

    from catalog_search.search.api import Service

    env = chain[0]
    settings = dataclasses.replace(Settings.from_env(), bucket=env["CATALOG_SEARCH_BUCKET"], index_alias=env["CATALOG_SEARCH_INDEX_ALIAS"],
                                   work_dir=tmp_path_factory.mktemp("api-work"))
    return Service.from_clients(Clients.from_environment(settings))


@dataclasses.dataclass(frozen=True)
class World:
    """A bucket, DynamoDB table, index alias and work folder of their own (all named ``name``),
    holding the chain's champion model, and a sample of the chain's catalog to start from."""

    name: str
    clients: Clients
    sample: pd.DataFrame


@pytest.fixture(scope="session")
def world(chain, clients, tmp_path_factory) -> Callable[[str, int], World]:
    """Makes ``World``s; their indices are deleted at the end of the session."""
    source = ObjectStore(clients.s3, chain[0]["CATALOG_SEARCH_BUCKET"])
    champion = source.get_json(ObjectKeys.CHAMPION)
    products = source.get_parquet(ObjectKeys.snapshot_products(champion["snapshot_id"]))
    made: list[str] = []

    def make(prefix: str, size: int) -> World:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        settings = dataclasses.replace(clients.settings, bucket=name, table_name=name, index_alias=name,
                                       work_dir=tmp_path_factory.mktemp(name))
        scoped = dataclasses.replace(clients, settings=settings)
        scoped.store.ensure_bucket()
        for key in source.list_keys(ObjectKeys.model(champion["model_version"])):  # record, lineage, artifact, metrics
            scoped.store.put_bytes(key, source.get_bytes(key))
        scoped.store.put_json(ObjectKeys.CHAMPION, champion)
        made.append(name)
        return World(name, scoped, products.sample(size, random_state=0).reset_index(drop=True))

    yield make
    for name in made:
        clients.opensearch.indices.delete(index=f"{name}-*", ignore_unavailable=True)
