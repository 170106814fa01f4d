import re
from datetime import UTC, datetime

import pytest

from catalog_search.naming import job_name, snapshot_id_for
from catalog_search.settings import Settings
from catalog_search.store.object_keys import ObjectKeys


def test_job_names_are_deterministic_unique_and_valid_for_sagemaker():
    a = job_name("o2v", "20261129T010000Z-fashion", "manual__2026-11-29T01:00:00+00:00")
    assert a == job_name("o2v", "20261129T010000Z-fashion", "manual__2026-11-29T01:00:00+00:00")
    assert a != job_name("o2v", "20261129T010000Z-fashion", "manual__2026-11-29T02:00:00+00:00")
    assert a != job_name("o2v", "20261130T010000Z-fashion", "manual__2026-11-29T01:00:00+00:00")
    assert len(a) <= 63 and re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*", a)


def test_long_keys_still_give_short_distinct_names():
    long = "x" * 300
    assert len(job_name("embed", long, long + "1")) <= 63
    assert job_name("embed", long, long + "1") != job_name("embed", long, long + "2")


def test_snapshot_ids_sort_by_time():
    older = snapshot_id_for("fashion", datetime(2026, 3, 1, tzinfo=UTC))
    newer = snapshot_id_for("fashion", datetime(2026, 11, 1, 5, tzinfo=UTC))
    assert older < newer
    assert older == "20260301T000000Z-fashion"


def test_layout_is_keyed_by_snapshot_and_run():
    assert ObjectKeys.training("s1", "r1") == "training/s1/r1/"
    assert ObjectKeys.enrichment("s1", "m1") == "enrichment/s1/m1/"
    assert ObjectKeys.snapshot_products("s1") == "catalog/snapshots/s1/products.parquet"


def test_unknown_runner_is_rejected(monkeypatch):
    monkeypatch.setenv("CATALOG_SEARCH_RUNNER", "ec2")
    with pytest.raises(ValueError, match="CATALOG_SEARCH_RUNNER"):
        Settings.from_env()


def test_each_value_of_a_list_setting_is_held_to_its_choices(monkeypatch):
    monkeypatch.setenv("CATALOG_SEARCH_GOLDEN_ALSO_MODES", "keyword, knn")
    assert Settings.from_env().golden_also_modes == ("keyword", "knn")
    monkeypatch.setenv("CATALOG_SEARCH_GOLDEN_ALSO_MODES", "keyword,bm25")
    with pytest.raises(ValueError, match="GOLDEN_ALSO_MODES='keyword,bm25': expected one of keyword, knn"):
        Settings.from_env()


def test_the_settings_reference_is_current():
    """docs/settings.md is written by `make docs` from the Settings fields: every variable, its type,
    its default and what it does; a field added, changed or renamed without it fails here."""
    from pathlib import Path

    from catalog_search.settings import fields, reference

    page = (Path(__file__).resolve().parents[2] / "docs" / "settings.md").read_text()
    assert page == reference(), "docs/settings.md is stale: run `make docs`"
    assert all(f.metadata["help"] for f in fields(Settings)), "every setting says what it does"
