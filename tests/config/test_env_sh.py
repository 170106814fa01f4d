"""scripts/env.sh is sourced by every script, often twice in one process tree (demo.sh, then
airflow.sh): the connections it sets must stay valid JSON however often it is sourced."""

import json
import subprocess
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

ENV_SH = Path(__file__).resolve().parents[2] / "scripts" / "env.sh"


def _connections(times: int, extra_env: dict | None = None) -> dict:
    script = f"for i in $(seq {times}); do source {ENV_SH}; done; " \
             'printf "%s\\n%s\\n" "$AIRFLOW_CONN_AWS_DEFAULT" "$AIRFLOW_CONN_OPENSEARCH_DEFAULT"'
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", **(extra_env or {})}
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True, env=env).stdout
    aws, opensearch = out.splitlines()
    return {"aws": json.loads(aws), "opensearch": json.loads(opensearch)}


def test_connections_are_valid_json_after_sourcing_twice():
    once, twice = _connections(1), _connections(2)
    assert once == twice
    assert once["aws"]["extra"]["endpoint_url"] == "http://127.0.0.1:5000"
    assert once["opensearch"]["host"] == "127.0.0.1" and once["opensearch"]["port"] == 9200


def test_ports_move_the_connections():
    moved = _connections(1, {"MOTO_PORT": "5111", "OPENSEARCH_PORT": "9333"})
    assert moved["aws"]["extra"]["endpoint_url"] == "http://127.0.0.1:5111"
    assert moved["opensearch"]["port"] == 9333


def test_a_connection_set_by_the_caller_wins():
    given = '{"conn_type": "aws", "extra": {"region_name": "eu-west-1"}}'
    assert _connections(2, {"AIRFLOW_CONN_AWS_DEFAULT": given})["aws"] == json.loads(given)


def _metadata_db(script: str, extra_env: dict) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", **extra_env}
    return subprocess.run(["bash", "-c", f'{script}; printf "%s" "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"'],
                          capture_output=True, text=True, check=True, env=env).stdout


def test_the_local_metadata_db_waits_for_a_busy_writer():
    """The scheduler, API server and tasks share one SQLite file; sqlite3's 5 s default wait made the
    API answer 500 ("database is locked") on two busy cores."""
    url = sa.make_url(_metadata_db(f"source {ENV_SH}", {"AIRFLOW_HOME": "/tmp/home-of-airflow"}))
    assert url.database == "/tmp/home-of-airflow/airflow.db"
    _, connect_kwargs = SQLiteDialect_pysqlite().create_connect_args(url)
    assert connect_kwargs["timeout"] >= 30


def test_the_metadata_db_follows_airflow_home_when_sourced_again_and_a_callers_own_wins():
    """The nightly-week test starts an Airflow of its own under another AIRFLOW_HOME from a shell
    that sourced this file already: it must not share the working copy's database."""
    again = f"source {ENV_SH}; export AIRFLOW_HOME=/tmp/another-airflow; source {ENV_SH}"
    assert sa.make_url(_metadata_db(again, {})).database == "/tmp/another-airflow/airflow.db"
    given = "postgresql+psycopg2://airflow:airflow@db:5432/airflow"
    assert _metadata_db(again, {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": given}) == given
