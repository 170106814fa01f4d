"""The retry policy as Airflow applies it (`airflow dags test`): a permanent error fails the task
on its first try with the message in the log, and alerts once through SNS (moto server, read back
through an SQS subscription); a transient one is put up for retry."""

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


def _alert_topic(clients, name: str) -> tuple[str, str]:
    """An SNS topic and an SQS queue subscribed to it: what the topic publishes can be read back."""
    sns, sqs = clients.make_aws("sns"), clients.make_aws("sqs")
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


def test_missing_input_fails_at_once_without_retry_and_alerts_once(tmp_path, unique, clients):
    topic, queue = _alert_topic(clients, f"alerts-{unique}")
    env = {**os.environ, "CATALOG_SEARCH_SOURCE_DIR": str(tmp_path / "no-such-catalog"),
           "CATALOG_SEARCH_BUCKET": f"retry-{unique}", "CATALOG_SEARCH_WORK_DIR": str(tmp_path / "work"),
           "CATALOG_SEARCH_ALERT_TOPIC_ARN": topic}
    log = tmp_path / "dags-test.log"
    started = time.monotonic()
    assert _dags_test(env, log).wait(timeout=300) != 0
    text = log.read_text()
    assert "no-such-catalog: no such file or folder" in text
    assert "action=fail" in text and "CatalogError is permanent" in text
    assert "up_for_retry" not in text.lower()
    assert time.monotonic() - started < 120  # not minutes of retry delays
    received = clients.make_aws("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2)
    alerts = [json.loads(m["Body"]) for m in received.get("Messages", [])]
    assert [a["Subject"] for a in alerts] == ["catalog-search: catalog_refresh.land_snapshot failed"]
    assert "no-such-catalog: no such file or folder" in alerts[0]["Message"] and "a retry cannot fix it" in alerts[0]["Message"]


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
