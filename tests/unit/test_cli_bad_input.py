"""`catalog-search validate-catalog` and `sample-pairs` on bad input of every kind: a clear
message, a non-zero exit, never a traceback from inside a library."""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest

from catalog_search.cli import main

GOOD = "product_id,title,category,price\n1,Red Shirt,Apparel > Shirts,10\n2,Blue Jeans,Apparel > Jeans,20\n"


@pytest.fixture
def cli(capsys):
    """Runs the CLI in-process: an exception escaping main() fails the test, as a traceback
    would fail a user."""

    def run(*args: str) -> subprocess.CompletedProcess:
        code = main(list(args))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    return run


def _write(tmp_path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


CASES = {
    "missing file": (lambda t: str(t / "nope.csv"), 2, "no such file"),
    "corrupt parquet": (lambda t: _write(t, "c.parquet", b"PAR1 not really"), 2, "cannot be read as parquet"),
    "not json lines": (lambda t: _write(t, "c.jsonl", "{not json\n"), 2, "cannot be read as jsonl"),
    "unsupported format": (lambda t: _write(t, "c.xlsx", "x"), 2, "unsupported format"),
    "empty folder": (lambda t: str((t / "empty").mkdir() or t / "empty"), 2, "no catalog files"),
    "missing columns": (lambda t: _write(t, "c.csv", "id,name\n1,x\n"), 2, "missing required column(s) ['product_id', 'title', 'category']"),
    "header only": (lambda t: _write(t, "c.csv", "product_id,title,category\n"), 2, "holds no products"),
    "price not a number": (lambda t: _write(t, "c.csv", GOOD + "3,Bag,Bags,cheap\n"), 2, "1 price value(s) are not numbers"),
    "attributes not an object": (lambda t: _write(t, "c.jsonl", json.dumps(
        {"product_id": "1", "title": "t", "category": "c", "attributes": "[1]"}) + "\n"), 2, "attributes must be a JSON object"),
    "latin-1 bytes": (lambda t: _write(t, "c.csv", "product_id,title,category\n1,Caf\xe9,A\n".encode("latin-1")), 2, "not valid UTF-8"),
    "duplicate ids": (lambda t: _write(t, "c.csv", GOOD + "2,Green Jeans,Apparel > Jeans,30\n"), 1,
                      "expect_column_values_to_be_unique(column=product_id): 2 row(s)"),
    "absurdly long title": (lambda t: _write(t, "c.csv", GOOD + f"3,{'x' * 10_000},Bags,1\n"), 1, "expect_column_value_lengths_to_be_between(column=title"),
    "empty category level": (lambda t: _write(t, "c.csv", GOOD + "3,Bag,Bags >  > Totes,1\n"), 1, "expect_column_values_to_not_match_regex(column=category"),
    "negative price": (lambda t: _write(t, "c.csv", GOOD + "3,Bag,Bags,-1\n"), 1, "expect_column_values_to_be_between(column=price"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_validate_catalog_rejects_bad_input_readably(cli, tmp_path, case):
    make, code, message = CASES[case]
    result = cli("validate-catalog", make(tmp_path))
    assert result.returncode == code, result.stdout + result.stderr
    assert message in result.stderr


def test_validate_catalog_accepts_a_good_file_and_keeps_unknown_columns(cli, tmp_path):
    path = _write(tmp_path, "c.csv", "product_id,title,category,colour\n1,Red Shirt,Apparel > Shirts,Red\n")
    result = cli("validate-catalog", path, "--docs", str(tmp_path / "docs"))
    assert result.returncode == 0, result.stderr
    assert "passed" in result.stdout and (tmp_path / "docs" / "index.html").is_file()


def test_validate_catalog_checks_size_against_the_previous_snapshot(cli, tmp_path):
    previous = _write(tmp_path, "prev.csv", "product_id,title,category\n" + "".join(f"{i},t{i},c{i % 3}\n" for i in range(100)))
    current = _write(tmp_path, "cur.csv", "product_id,title,category\n" + "".join(f"{i},t{i},c{i % 3}\n" for i in range(50)))
    result = cli("validate-catalog", current, "--previous", previous)
    assert result.returncode == 1
    assert '"removed": 50' in result.stdout and "expect_table_row_count_to_be_between" in result.stderr


def test_sample_pairs_cli_writes_training_inputs(cli, tmp_path):
    rows = [{"product_id": str(i), "title": f"item {i % 9} colour {i % 4}", "category": f"A > c{i % 5}"} for i in range(400)]
    pd.DataFrame(rows).to_parquet(tmp_path / "c.parquet")
    result = cli("sample-pairs", "--catalog", str(tmp_path / "c.parquet"), "--pairs", "1000", "--positive-share", "0.4",
                  "--seed", "3", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "positive share 0.40" in result.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["pairs"] == 1000 and {r["split"] for r in report["by_split"]} == {"train", "validation", "test"}


def test_sample_pairs_cli_refuses_a_bad_spec(cli, tmp_path):
    pd.DataFrame([{"product_id": "1", "title": "x", "category": "a"}]).to_parquet(tmp_path / "c.parquet")
    result = cli("sample-pairs", "--catalog", str(tmp_path / "c.parquet"), "--pairs", "10", "--positive-share", "2", "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "positive_share must be within [0, 1]" in result.stderr
