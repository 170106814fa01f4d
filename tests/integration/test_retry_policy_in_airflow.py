"""The retry policy as Airflow applies it (`airflow dags test`): a permanent error fails the task
on its first try with the message in the log; a transient one is put up for retry."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _dags_test(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(["airflow", "dags", "test", "catalog_refresh"], env=env, cwd=ROOT,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def test_missing_input_fails_at_once_without_retry(tmp_path, unique):
    env = {**os.environ, "CATALOG_SEARCH_SOURCE_DIR": str(tmp_path / "no-such-catalog"),
           "CATALOG_SEARCH_BUCKET": f"retry-{unique}", "CATALOG_SEARCH_WORK_DIR": str(tmp_path / "work")}
    log = tmp_path / "dags-test.log"
    started = time.monotonic()
    assert _dags_test(env, log).wait(timeout=300) != 0
    text = log.read_text()
    assert "no-such-catalog: no such file or folder" in text
    assert "action=fail" in text and "CatalogError is permanent" in text
    assert "up_for_retry" not in text.lower()
    assert time.monotonic() - started < 120  # not minutes of retry delays


def test_an_unreachable_object_store_is_retried(tmp_path, unique):
    dead = json.dumps({"conn_type": "aws", "login": "testing", "password": "testing",
                       "extra": {"region_name": "us-east-1", "endpoint_url": "http://127.0.0.1:9",
                                 "config_kwargs": {"retries": {"max_attempts": 1}}}})
    env = {**os.environ, "AIRFLOW_CONN_AWS_DEFAULT": dead, "CATALOG_SEARCH_BUCKET": f"retry-{unique}",
           "CATALOG_SEARCH_WORK_DIR": str(tmp_path / "work")}
    log = tmp_path / "dags-test.log"
    proc = _dags_test(env, log)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and "action=retry" not in log.read_text() and proc.poll() is None:
            time.sleep(1)
        text = log.read_text()
        assert "action=retry" in text, text[-3000:]
        assert "EndpointConnectionError is transient" in text
    finally:  # the retry would come after its backoff delay; what matters is the decision
        os.killpg(proc.pid, 9)
        proc.wait()
