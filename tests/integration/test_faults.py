"""A crash never puts a wrong index live: OpenSearch killed with SIGKILL (and restarted by the
project's script) at each step of a publish, and the Airflow task process killed in the middle
of the DynamoDB sync, on the real node and moto server.

Nights of the refresh simulator over a 3,000-product sample, with the chain's champion model and
the default settings (golden gate on). Each night's publish runs its stages in order, as the DAG
does; a stage that fails is tried again once the node is back, as Airflow's retry would. After
every night, and so after every fault: the live index holds exactly the products of the snapshot
its ``_meta`` names (fingerprint recomputed from its documents, and its ids against the enriched
catalog), DynamoDB holds that snapshot, and the next night publishes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from opensearchpy.client.indices import IndicesClient

from catalog_search.stages import Run, enrichment, jobs, publish, refresh
from catalog_search.store import dynamo, index
from catalog_search.store.object_keys import ObjectKeys
from support import pipeline  # tests/ is on sys.path

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parents[2]
PRODUCTS = 3000


def kill_opensearch() -> None:
    """SIGKILL the node's JVM (every process under the pid the project's script keeps), as a crash."""
    pid = int((Path(os.environ["CS_LOCAL"]) / "run" / "opensearch.pid").read_text())
    tree, frontier = [pid], [pid]
    while frontier:
        children = subprocess.run(["pgrep", "-P", str(frontier.pop())], capture_output=True, text=True).stdout.split()
        tree += map(int, children)
        frontier += map(int, children)
    for p in reversed(tree):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in tree):
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def restart_opensearch() -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), "up"], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, timeout=300)


class Faults:
    """Kill points: each, when armed, kills the node once at its step."""

    def __init__(self, monkeypatch):
        self.monkeypatch, self.fired = monkeypatch, []

    def after_bulk_requests(self, count: int, chunk: int = 200) -> None:
        """During a load: after ``count`` bulk requests of ``chunk`` documents were sent."""
        self.monkeypatch.setattr(index, "BULK_CHUNK", chunk)
        chunks = index._chunks

        def counted(items, size):
            for sent, part in enumerate(chunks(items, size)):
                if sent == count and not self.fired:
                    self._kill("bulk")
                yield part

        self.monkeypatch.setattr(index, "_chunks", counted)

    def on(self, method: str, delay: float = 0.05) -> None:
        """During ``IndicesClient.{method}`` (the clone, the alias swap): the node dies ``delay``
        seconds after the request went out."""
        real = getattr(IndicesClient, method)

        def dying(client, *args, **kwargs):
            if self.fired:
                return real(client, *args, **kwargs)
            with ThreadPoolExecutor(1) as pool:
                request = pool.submit(real, client, *args, **kwargs)
                time.sleep(delay)
                self._kill(method)
                return request.result()

        self.monkeypatch.setattr(IndicesClient, method, dying)

    def without_durability(self) -> None:
        """The load's last writes left in the node's memory, as before the flush was made: no
        flush, and a translog fsynced only after an hour."""
        self.monkeypatch.setattr(index, "flush", lambda client, name: None)
        self.monkeypatch.setattr(index, "LOAD_SETTINGS", {**index.LOAD_SETTINGS, "translog": {
            **index.LOAD_SETTINGS["translog"], "sync_interval": "3600s"}})

    def _kill(self, where: str) -> None:
        self.fired.append(where)
        kill_opensearch()


@pytest.fixture(scope="module")
def nights(world):
    state = world("faults", PRODUCTS)
    clients = state.clients
    snapshots = ["20270101T010000Z-faults"]
    clients.store.put_parquet(ObjectKeys.snapshot_products(snapshots[0]), state.sample)
    _enrich(clients, snapshots[0])
    _publish(clients, snapshots[0])
    return clients, snapshots


def _enrich(clients, snapshot_id: str) -> None:
    run = Run("catalog_enrichment", f"scheduled__{snapshot_id}")
    inputs = enrichment.resolve_inputs(clients, run, snapshot_id=snapshot_id)
    jobs.run_locally(clients, run, "transform", pipeline.transform_request(clients, run, **inputs))
    job = jobs.run_locally(clients, run, "processing", enrichment.assembly_config(clients, run, **inputs))
    enrichment.publish_enriched(clients, run, **inputs, job=job)


def _tried(stage: Callable, *args, **kwargs):
    """A stage as the DAG's task runs it: once more when it fails (the node restarted in between)."""
    try:
        return stage(*args, **kwargs)
    except Exception:
        restart_opensearch()
        return stage(*args, **kwargs)


def _publish(clients, snapshot_id: str, rebuild: bool = False, after_checks: Callable[[], None] = lambda: None) -> dict:
    run = Run("search_index_publish", f"scheduled__{snapshot_id}")
    model_version = clients.store.get_json(ObjectKeys.CHAMPION)["model_version"]
    built = _tried(publish.build_index, clients, run, snapshot_id, model_version, rebuild)
    _tried(publish.check_search_quality, clients, run, built["index"])
    after_checks()
    _tried(publish.upsert_items, clients, run, snapshot_id, model_version)
    swapped = _tried(publish.swap_alias, clients, run, built["index"])
    return {"built": built, "swapped": swapped}


def _next_night(clients, snapshots: list[str]) -> str:
    snapshot_id = f"2027010{len(snapshots) + 1}T010000Z-faults"
    refresh.land_snapshot(clients, Run("catalog_refresh", snapshot_id), snapshot_id, derive_from=snapshots[-1])
    _enrich(clients, snapshot_id)
    snapshots.append(snapshot_id)
    return snapshot_id


def assert_live_state_is_true(clients, snapshots: list[str], expected: str) -> None:
    client, model_version = clients.opensearch, clients.store.get_json(ObjectKeys.CHAMPION)["model_version"]
    live = index.live_index(client, clients.settings.index_alias)
    meta = index.index_meta(client, live)
    assert meta["snapshot_id"] == expected and index.verify(client, live) == []
    held = {h["_id"] for h in client.search(index=live, body={"size": 10_000, "_source": False,
                                                              "query": {"match_all": {}}})["hits"]["hits"]}
    enriched = clients.store.get_parquet(ObjectKeys.enriched_products(expected, model_version), columns=["product_id"])
    assert held == set(enriched["product_id"].astype(str)), "the live index's documents are not its snapshot's products"
    table = clients.store.get_json(ObjectKeys.table_state(clients.settings.table_name))
    assert table["snapshot_id"] == expected
    ever = set().union(*(set(clients.store.get_parquet(ObjectKeys.snapshot_products(s), columns=["product_id"])["product_id"])
                         for s in snapshots))
    states = dynamo.item_states(clients.dynamodb, clients.settings.table_name, ever)
    assert {p for p, s in states.items() if dynamo.REMOVED_IN not in s} == held, "DynamoDB differs from the live snapshot"


@pytest.mark.parametrize("arm, rebuild, fired, build", [
    (lambda faults: faults.after_bulk_requests(2), True, "bulk", "full"),
    (lambda faults: faults.on("clone"), False, "clone", None),
    (lambda faults: faults.after_bulk_requests(1, chunk=20), False, "bulk", "incremental"),
    (lambda faults: faults.on("update_aliases"), False, "update_aliases", None),
], ids=["during-a-full-load", "during-the-clone", "during-the-incremental-changes", "during-the-swap"])
def test_a_kill_of_the_node(nights, monkeypatch, arm, rebuild, fired, build):
    clients, snapshots = nights
    snapshot_id = _next_night(clients, snapshots)
    faults = Faults(monkeypatch)
    arm(faults)
    outcome = _publish(clients, snapshot_id, rebuild=rebuild)
    assert faults.fired == [fired] and outcome["built"]["build"] == (build or outcome["built"]["build"])
    # The alias change is atomic: a dying node applied it (the retry finds it live) or not (the retry swaps).
    assert outcome["swapped"]["live"] == outcome["built"]["index"]
    assert_live_state_is_true(clients, snapshots, snapshot_id)


def test_a_kill_after_the_checks_and_before_the_swap(nights):
    clients, snapshots = nights
    snapshot_id = _next_night(clients, snapshots)
    outcome = _publish(clients, snapshot_id, after_checks=lambda: (kill_opensearch(), restart_opensearch()))
    assert outcome["swapped"]["moved"] and outcome["swapped"]["rebuilt"] is None  # flushed: nothing was lost
    assert_live_state_is_true(clients, snapshots, snapshot_id)


def test_writes_lost_after_the_checks_are_found_at_the_swap_and_the_index_is_built_again(nights, monkeypatch):
    """The issue's incident, reproduced by loading without the flush: the node comes back with
    the clone's base documents, and the swap finds it and builds the index again first."""
    clients, snapshots = nights
    snapshot_id = _next_night(clients, snapshots)
    Faults(monkeypatch).without_durability()
    outcome = _publish(clients, snapshot_id, after_checks=lambda: (kill_opensearch(), restart_opensearch()))
    assert outcome["built"]["build"] == "incremental" and outcome["swapped"]["moved"]
    assert outcome["swapped"]["rebuilt"] and "holds" in outcome["swapped"]["rebuilt"][0]
    assert_live_state_is_true(clients, snapshots, snapshot_id)


SYNC_KILLED = """
import dataclasses, os, signal, sys
from catalog_search.clients import Clients
from catalog_search.settings import Settings
from catalog_search.stages import Run, publish

bucket, snapshot_id, model_version, after = sys.argv[1:5]
settings = dataclasses.replace(Settings.from_env(), bucket=bucket, table_name=bucket, index_alias=bucket)
clients = Clients.from_environment(settings)
writes, real = [0], clients.dynamodb.put_item

def put_item(**request):  # the task process dies after a few of the night's writes
    writes[0] += 1
    if writes[0] > int(after):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(**request)

clients.dynamodb.put_item = put_item
publish.upsert_items(clients, Run("search_index_publish", "scheduled__" + snapshot_id), snapshot_id, model_version)
"""


def test_the_task_process_killed_during_the_dynamodb_sync_converges_on_retry(nights):
    clients, snapshots = nights
    snapshot_id = _next_night(clients, snapshots)
    model_version = clients.store.get_json(ObjectKeys.CHAMPION)["model_version"]

    def killed_sync() -> None:  # the first try of upsert_dynamodb, in a process of its own, killed mid-way
        killed = subprocess.run([sys.executable, "-c", SYNC_KILLED, clients.settings.bucket, snapshot_id, model_version, "20"],
                                cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        assert clients.store.get_json(ObjectKeys.table_state(clients.settings.table_name))["snapshot_id"] == snapshots[-2]

    outcome = _publish(clients, snapshot_id, after_checks=killed_sync)  # then the task's retry, and the swap
    assert outcome["swapped"]["moved"]
    assert_live_state_is_true(clients, snapshots, snapshot_id)


def test_the_next_night_publishes_after_every_fault(nights):
    clients, snapshots = nights
    snapshot_id = _next_night(clients, snapshots)
    outcome = _publish(clients, snapshot_id)
    assert outcome["built"]["build"] == "incremental" and outcome["swapped"]["moved"] and outcome["swapped"]["rebuilt"] is None
    assert_live_state_is_true(clients, snapshots, snapshot_id)
