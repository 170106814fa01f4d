import pandas as pd
import pytest

from catalog_search.stages import refresh
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.validation import ValidationFailed
from support import pipeline

from .conftest import run_of, small_catalog


def test_land_snapshot_keys_the_snapshot_by_the_runs_date_and_sets_rejects_aside(clients, settings):
    with_untitled = pd.concat([small_catalog(), pd.DataFrame([{"product_id": "9", "title": "", "category": "A > B"}])])
    with_untitled.to_csv(settings.source_dir / "catalog.csv", index=False)
    manifest = refresh.land_snapshot(clients, run_of("catalog_refresh", "2026-11-29T01:00:00"))
    assert manifest["snapshot_id"] == "20261129T010000Z-source"
    assert (manifest["products"], manifest["rejected"], manifest["categories"]) == (400, 1, 5)
    store = clients.store
    assert store.get_json(ObjectKeys.snapshot_manifest(manifest["snapshot_id"])) == manifest
    assert store.get_parquet(ObjectKeys.snapshot_rejects(manifest["snapshot_id"]))["product_id"].tolist() == ["9"]


def test_land_snapshot_can_derive_a_refresh_of_an_earlier_snapshot(clients, snapshot_id):
    derived = refresh.land_snapshot(clients, run_of("catalog_refresh", "2026-11-30T01:00:00"), derive_from=snapshot_id)
    assert derived["snapshot_id"] > snapshot_id and derived["source"].startswith(f"refresh of {snapshot_id}")


def test_land_snapshot_derives_from_the_previous_validated_snapshot_or_reads_the_source(clients, snapshot_id):
    first = refresh.land_snapshot(clients, run_of("catalog_refresh", "2026-11-20T01:00:00"), derive_from=refresh.PREVIOUS)
    assert first["source"] == str(clients.settings.source_dir)  # nothing validated before it
    night = refresh.land_snapshot(clients, run_of("catalog_refresh", "2026-11-30T01:00:00"), derive_from=refresh.PREVIOUS)
    assert night["source"].startswith(f"refresh of {snapshot_id}: ")  # the newest validated one, not the unvalidated first


def test_validate_snapshot_publishes_its_report_and_compares_with_the_previous_one(clients, snapshot_id):
    run = run_of("catalog_refresh", "2026-11-30T01:00:00")
    later = refresh.land_snapshot(clients, run, derive_from=snapshot_id)["snapshot_id"]
    result = pipeline.validate_snapshot(clients, pipeline.runner_of(clients), run, later)
    assert result["diff"]["previous_snapshot"] == snapshot_id and result["diff"]["added"] > 0
    report = clients.store.get_json(ObjectKeys.suite_report(run.report_prefix, "catalog_snapshot"))
    assert report["success"] and clients.store.exists(ObjectKeys.data_docs(run.report_prefix, "catalog_snapshot") + "index.html")
    assert clients.store.exists(ObjectKeys.snapshot_validated(later))


def test_a_snapshot_that_fails_its_suite_is_never_marked_validated(clients, settings):
    bad = small_catalog()
    bad.loc[1, "product_id"] = bad.loc[0, "product_id"]
    bad.to_csv(settings.source_dir / "catalog.csv", index=False)
    run = run_of("catalog_refresh")
    snapshot = refresh.land_snapshot(clients, run)["snapshot_id"]
    with pytest.raises(ValidationFailed, match="expect_column_values_to_be_unique"):
        pipeline.validate_snapshot(clients, pipeline.runner_of(clients), run, snapshot)
    assert not clients.store.exists(ObjectKeys.snapshot_validated(snapshot))


def test_publish_snapshot_only_moves_forward(clients, snapshot_id):
    assert refresh.publish_snapshot(clients, run_of("catalog_refresh"), "20200101T000000Z-source")["latest"] == snapshot_id
    assert clients.store.get_json(ObjectKeys.LATEST_SNAPSHOT)["snapshot_id"] == snapshot_id
