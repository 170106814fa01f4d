"""A week through Airflow itself, with the default settings.

The project's Airflow as ``make airflow-start`` runs it (``scripts/airflow.sh start``: scheduler,
dag-processor, triggerer and API server), on a home, database and port of its own, with a bucket,
table and alias of its own holding the end-to-end chain's champion model, and a 3,000-product
sample of the fashion catalog as the source. The golden-query gate is on with its defaults (the
dev queries, judged by rule on the sample).

A backfill of ``catalog_refresh`` over the seven latest logical dates is created as the UI
does it (the REST API's ``POST /backfills``; conf ``derive_from: previous``: the first night
lands the source, each later one is the refresh simulator's next night), then the DAGs are
unpaused. ``catalog_enrichment`` starts on its cron for the first night (unpaused once that
night's snapshot exists, as an operator would) and on the snapshot's asset after that;
``search_index_publish`` on the enriched catalog's. The backfill is paused while a night's chain
runs and resumed once it settled, as nights are a day apart. After each night: the alias and
DynamoDB on that night's snapshot, and the enrichment embedded exactly the products whose encoder
input changed. After the week: seven validated snapshots, every DAG run succeeded, one run report
per DAG run. Then a backfill over three older dates: landed and validated, embedded and published
never, and nothing moves back.

The daily schedules move to two hours before now: the newest night is the refresh cron's latest
tick, which the backfill covers, so unpausing starts no other scheduled run, and no tick comes
during the test."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalog_search.naming import snapshot_id_for
from catalog_search.stages import Run
from catalog_search.store import dynamo, index
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.training import tokenizer
from catalog_search.training.encoder import model_vocabulary

pytestmark = pytest.mark.nightly

ROOT = Path(__file__).resolve().parents[2]
NIGHTS, OLDER, PRODUCTS = 7, 3, 3000
CHAIN = ("catalog_refresh", "catalog_enrichment", "search_index_publish")
NIGHT_TIMEOUT = 600  # seconds for one night's three DAGs


class Airflow:
    """One Airflow started by the project's script, reached through its REST API (the UI's) and CLI."""

    def __init__(self, env: dict, home: Path):
        self.env, self.home = env, home
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{env['AIRFLOW_PORT']}/api/v2", timeout=30)

    def script(self, action: str) -> None:
        subprocess.run(["bash", str(ROOT / "scripts" / "airflow.sh"), action], env=self.env, check=True, cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)

    def api(self, method: str, path: str, **body: Any) -> Any:
        answer = self.http.request(method, path, json=body or None)
        answer.raise_for_status()
        return answer.json()

    def runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns?limit=100&order_by=run_after")["dag_runs"]

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        answer = self.http.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
                               params={"deserialize": True, "stringify": False})
        return answer.json()["value"] if answer.status_code == 200 else None

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        tasks = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {t["task_id"]: t["state"] for t in tasks}

    def settled(self) -> bool:
        """No run of the chain running, none of the downstream DAGs queued (the paused backfill's
        later nights wait queued), and no asset event waiting to start one."""
        active = any(r["state"] == "running" or (dag_id != CHAIN[0] and r["state"] == "queued")
                     for dag_id in CHAIN for r in self.runs(dag_id))
        waiting = any(self.api("GET", f"/dags/{dag_id}/assets/queuedEvents").get("queued_events") for dag_id in CHAIN[1:])
        return not active and not waiting

    def wait(self, what: str, done: Callable[[], Any], timeout: float = NIGHT_TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = done()
            if found:
                return found
            failed = [f"{dag_id} {r['dag_run_id']}" for dag_id in CHAIN for r in self.runs(dag_id) if r["state"] == "failed"]
            assert not failed, f"while waiting for {what}: failed runs {failed} (task logs under {self.home / 'logs'})"
            time.sleep(1)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (logs under {self.home / 'logs'})")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def week(world, tmp_path_factory):
    sample = world("week", PRODUCTS)
    root = tmp_path_factory.mktemp("week-airflow")
    source = root / "source"
    source.mkdir()
    sample.sample.drop(columns=["embedding"], errors="ignore").to_parquet(source / "products.parquet", index=False)
    latest = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    hour = latest.hour
    env = {**os.environ, "CS_LOCAL": str(root / "local"), "AIRFLOW_HOME": str(root / "airflow"), "AIRFLOW_PORT": str(_free_port()),
           "CATALOG_SEARCH_BUCKET": sample.name, "CATALOG_SEARCH_TABLE": sample.name, "CATALOG_SEARCH_INDEX_ALIAS": sample.name,
           "CATALOG_SEARCH_WORK_DIR": str(sample.clients.settings.work_dir), "CATALOG_SEARCH_SOURCE_DIR": str(source),
           "CATALOG_SEARCH_REFRESH_SCHEDULE": f"0 {hour} * * *", "CATALOG_SEARCH_ENRICHMENT_SCHEDULE": f"30 {hour} * * *"}
    airflow = Airflow(env, root / "airflow")
    airflow.script("start")
    try:
        airflow.wait("the DAGs to be parsed", lambda: all(
            airflow.http.get(f"/dags/{dag_id}").status_code == 200 for dag_id in CHAIN), timeout=180)
        yield airflow, sample.clients, latest - timedelta(days=NIGHTS - 1)
    finally:
        airflow.script("stop")


def _backfill(airflow: Airflow, first: datetime, last: datetime) -> int:
    """A backfill of catalog_refresh over [first, last], one run at a time, as the UI creates it; its id."""
    return airflow.api("POST", "/backfills", dag_id="catalog_refresh", from_date=first.isoformat(), to_date=last.isoformat(),
                       max_active_runs=1, dag_run_conf={"derive_from": "previous"}, reprocess_behavior="none")["id"]


def _refresh_run(airflow: Airflow, when: datetime) -> dict | None:
    return next((r for r in airflow.runs("catalog_refresh") if datetime.fromisoformat(r["logical_date"]) == when), None)


def _encoder_changes(clients, snapshot_id: str, before: str | None) -> int:
    """Products of ``snapshot_id`` that are new since ``before`` or whose token ids changed."""
    now = clients.store.get_parquet(ObjectKeys.snapshot_products(snapshot_id)).set_index("product_id")["title"]
    if before is None:
        return len(now)
    vocab, max_len = model_vocabulary(clients.store, clients.store.get_json(ObjectKeys.CHAMPION)["model_version"])
    then = clients.store.get_parquet(ObjectKeys.snapshot_products(before)).set_index("product_id")["title"]
    kept = now.index.intersection(then.index)
    changed = sum(tokenizer.encode(a, vocab, max_len) != tokenizer.encode(b, vocab, max_len)
                  for a, b in zip(now[kept], then[kept]) if a != b)
    return len(now) - len(kept) + changed


def _products(clients, snapshot_id: str) -> set[str]:
    return set(clients.store.get_parquet(ObjectKeys.snapshot_products(snapshot_id))["product_id"].astype(str))


def _live(clients, snapshots: list[str]) -> tuple[str, set[str]]:
    """The live index's snapshot, and the products the table holds live among every product of
    ``snapshots`` (a product removed on any night must be gone)."""
    live = index.live_index(clients.opensearch, clients.settings.index_alias)
    ever = set().union(*(_products(clients, s) for s in snapshots))
    states = dynamo.item_states(clients.dynamodb, clients.settings.table_name, ever)
    return index.index_meta(clients.opensearch, live)["snapshot_id"], {p for p, s in states.items() if dynamo.REMOVED_IN not in s}


def _live_snapshot(clients) -> str | None:
    live = index.live_index(clients.opensearch, clients.settings.index_alias)
    return index.index_meta(clients.opensearch, live)["snapshot_id"] if live else None


def _table_snapshot(clients) -> str:
    return clients.store.get_json(ObjectKeys.table_state(clients.settings.table_name))["snapshot_id"]


def test_a_week_of_nights_then_a_backfill_of_older_dates(week):
    airflow, clients, first = week
    dates = [first + timedelta(days=night) for night in range(NIGHTS)]
    snapshots = [snapshot_id_for("source", when) for when in dates]
    backfill = _backfill(airflow, dates[0], dates[-1])
    for dag_id in ("search_index_publish", "catalog_refresh"):
        airflow.api("PATCH", f"/dags/{dag_id}", is_paused=False)
    published = 0
    for night, (when, snapshot_id) in enumerate(zip(dates, snapshots)):
        airflow.wait(f"night {night + 1}'s catalog_refresh to start",
                     lambda when=when: (_refresh_run(airflow, when) or {}).get("state") in ("running", "success"), timeout=120)
        airflow.api("PUT", f"/backfills/{backfill}/pause")  # the next night waits for this one's chain
        airflow.wait(f"night {night + 1}'s catalog_refresh", lambda when=when: _refresh_run(airflow, when)["state"] == "success")
        if night == 0:
            airflow.api("PATCH", "/dags/catalog_enrichment", is_paused=False)  # its cron's latest tick embeds the first night
        airflow.wait(f"night {night + 1}'s publish", lambda snapshot_id=snapshot_id: _live_snapshot(clients) == snapshot_id)
        airflow.wait(f"night {night + 1}'s chain to settle", airflow.settled)

        live_snapshot, table = _live(clients, snapshots[: night + 1])
        assert live_snapshot == snapshot_id and _table_snapshot(clients) == snapshot_id, f"night {night + 1}"
        assert table == _products(clients, snapshot_id), f"night {night + 1}: DynamoDB differs from the snapshot"
        enriched = [airflow.xcom("catalog_enrichment", r["dag_run_id"], "publish_enriched")
                    for r in airflow.runs("catalog_enrichment")]
        tonight = [e for e in enriched if e and e["snapshot_id"] == snapshot_id]
        assert len(tonight) == 1, f"night {night + 1}: {len(tonight)} enrichments of {snapshot_id}"
        assert tonight[0]["embedded"] == _encoder_changes(clients, snapshot_id, snapshots[night - 1] if night else None)
        assert (tonight[0]["embedded"] == PRODUCTS) if night == 0 else (0 < tonight[0]["embedded"] < PRODUCTS / 10)
        published += 1
        if night < NIGHTS - 1:  # after the last night the backfill is complete
            airflow.api("PUT", f"/backfills/{backfill}/unpause")
    airflow.wait("the backfill to complete", lambda: airflow.api("GET", f"/backfills/{backfill}")["completed_at"], timeout=120)

    assert published == NIGHTS
    assert all(clients.store.exists(ObjectKeys.snapshot_validated(s)) for s in snapshots)
    publishes = airflow.runs("search_index_publish")
    moved = [airflow.xcom("search_index_publish", r["dag_run_id"], "swap_alias") for r in publishes]
    assert len(publishes) == NIGHTS and all(m and m["moved"] for m in moved)  # the alias moved every night
    for dag_id in CHAIN:  # no run needed a person, and each wrote its report page
        for run in airflow.runs(dag_id):
            assert run["state"] == "success", f"{dag_id} {run['dag_run_id']}: {run['state']}"
            assert clients.store.exists(Run(dag_id, run["dag_run_id"]).report_prefix + "index.html"), f"{dag_id} {run['dag_run_id']}"

    # Three older dates, backfilled from the UI: landed and validated, but nothing embedded or moved.
    enrichments_before = {r["dag_run_id"] for r in airflow.runs("catalog_enrichment")}
    older = [first - timedelta(days=day) for day in range(OLDER, 0, -1)]
    backfill = _backfill(airflow, older[0], older[-1])
    airflow.wait("the older dates' backfill to complete", lambda: airflow.api("GET", f"/backfills/{backfill}")["completed_at"])
    airflow.wait("the chain to settle after the backfill", airflow.settled)
    newest = snapshots[-1]
    for when in older:
        snapshot_id = snapshot_id_for("source", when)
        assert clients.store.exists(ObjectKeys.snapshot_validated(snapshot_id))
        assert not clients.store.list_keys(ObjectKeys.ENRICHMENTS + snapshot_id + "/")  # not even a transform input
    later = [r for r in airflow.runs("catalog_enrichment") if r["dag_run_id"] not in enrichments_before]
    assert later and all(airflow.task_states("catalog_enrichment", r["dag_run_id"])["prepare_transform_input"] == "skipped"
                         for r in later)
    assert len(airflow.runs("search_index_publish")) == NIGHTS  # nothing enriched, so nothing to publish
    assert clients.store.get_json(ObjectKeys.LATEST_SNAPSHOT)["snapshot_id"] == newest
    live_snapshot, table = _live(clients, snapshots + [snapshot_id_for("source", when) for when in older])
    assert live_snapshot == newest and _table_snapshot(clients) == newest and table == _products(clients, newest)
