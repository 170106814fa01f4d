"""`catalog-search search` and `recommend` on bad input, run as a user runs them (a subprocess):
one line on stderr, a documented exit code, no traceback, and no service called for input that
can be refused up front (the services here point at a closed port, so a call would exit 3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from catalog_search.cli import BAD_INPUT, EXIT_CODES, UNAVAILABLE, parser

DEAD = "127.0.0.1:9"  # the discard port: nothing listens, every connection is refused
BAD = {
    "page 0": (["search", "shirt", "--page", "0"], "page must be ≥ 1"),
    "size too large": (["search", "shirt", "--size", "100000"], "size must be within 1..100"),
    "size 0": (["search", "shirt", "--size", "0"], "size must be within 1..100"),
    "past the result window": (["search", "shirt", "--page", "2000"], "past the 10,000 the index can serve"),
    "price not a range": (["search", "shirt", "--filter", "price=abc"], "expected LOW..HIGH"),
    "price not a number": (["search", "shirt", "--filter", "price=abc..10"], "bounds must be numbers"),
    "price bounds reversed": (["search", "shirt", "--filter", "price=50..10"], "low bound is above the high bound"),
    "price without range": (["search", "shirt", "--filter", "price=10"], "expected LOW..HIGH"),
    "filter without value": (["search", "shirt", "--filter", "colour"], "expected key=value"),
    "unknown filter key": (["search", "shirt", "--filter", "flavour=sweet"], "unknown key 'flavour'"),
    "empty query": (["search", ""], "has no searchable characters"),
    "blank query": (["search", "   "], "has no searchable characters"),
    "emoji only": (["search", "😀😀"], "has no searchable characters"),
    "punctuation only": (["search", "?!-"], "has no searchable characters"),
    "negative boost": (["search", "shirt", "--knn-boost", "-1"], "boosts must be ≥ 0"),
    "unknown mode": (["search", "shirt", "--mode", "fuzzy"], "invalid choice: 'fuzzy'"),
    "size not a number": (["search", "shirt", "--size", "ten"], "invalid int value: 'ten'"),
    "empty product id": (["recommend", ""], "product id is empty"),
    "recommend size 0": (["recommend", "15970", "--size", "0"], "size must be within 1..100"),
    "unknown command": (["serch", "shirt"], "invalid choice: 'serch'"),
}


def run_cli(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "catalog_search", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def dead_services() -> dict:
    aws = {"conn_type": "aws", "login": "x", "password": "x",
           "extra": {"region_name": "us-east-1", "endpoint_url": f"http://{DEAD}"}}
    opensearch = {"conn_type": "opensearch", "host": DEAD.split(":")[0], "port": int(DEAD.split(":")[1]), "schema": "http"}
    return {"AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws), "AIRFLOW_CONN_OPENSEARCH_DEFAULT": json.dumps(opensearch)}


def assert_one_clear_line(proc: subprocess.CompletedProcess, code: int, message: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0]


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_refused_before_any_service_is_called(case, dead_services):
    args, message = BAD[case]
    assert_one_clear_line(run_cli(args, dead_services), BAD_INPUT, message)


@pytest.mark.parametrize("args", [["search", "shirt"], ["search", "shirt", "--mode", "keyword"], ["recommend", "15970"]])
def test_an_unreachable_service_is_named_with_its_url_and_how_to_start_it(args, dead_services):
    proc = run_cli(args, dead_services)
    assert_one_clear_line(proc, UNAVAILABLE, f"OpenSearch is not reachable at http://{DEAD}")
    assert "make up" in proc.stderr


def test_help_documents_the_exit_codes():
    text = parser().format_help()
    for code, meaning in EXIT_CODES.items():
        assert f"{code} {meaning}" in text


def test_library_logging_is_quiet_unless_verbose(dead_services):
    quiet = run_cli(["search", "shirt"], dead_services)
    verbose = run_cli(["--verbose", "search", "shirt"], dead_services)
    assert "HEAD http" not in quiet.stderr and "WARNING" not in quiet.stderr
    assert "127.0.0.1:9" in verbose.stderr and len(verbose.stderr.splitlines()) > 1


def test_missing_aws_credentials_are_one_line_naming_the_connection(tmp_path):
    """As a shell without `source scripts/env.sh`: botocore finds no credentials in the first AWS
    call (here the model store's); the CLI says which connection and how to set it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AIRFLOW_CONN_"))}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true", AWS_DEFAULT_REGION="us-east-1")
    code = ("import sys\nfrom catalog_search import cli\nfrom catalog_search.clients import Clients\n"
            "from catalog_search.settings import Settings\n"
            "cli.cmd_search = lambda args: Clients.from_environment(Settings()).store.get_json('models/champion.json')\n"
            "sys.exit(cli.main(['search', 'shirt']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == BAD_INPUT and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and "no AWS credentials for the aws_default connection" in proc.stderr
    assert "AIRFLOW_CONN_AWS_DEFAULT" in proc.stderr and "source scripts/env.sh" in proc.stderr
