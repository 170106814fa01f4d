"""The snapshot pointers on an object store (moto in-process)."""

import boto3
import pytest
from moto import mock_aws

from catalog_search.layout import Layout
from catalog_search.pointers import advance_snapshot, latest_snapshot, previous_snapshot
from catalog_search.storage import MissingObject, ObjectStore


@pytest.fixture
def store(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        store = ObjectStore(boto3.client("s3"), "pointers")
        store.ensure_bucket()
        yield store


def test_latest_only_moves_forward(store):
    advance_snapshot(store, "20260201T000000Z-x")
    advance_snapshot(store, "20260101T000000Z-x")  # a backfill
    assert latest_snapshot(store) == "20260201T000000Z-x"
    advance_snapshot(store, "20260301T000000Z-x")
    assert latest_snapshot(store) == "20260301T000000Z-x"


def test_previous_snapshot_is_the_newest_older_one(store):
    for snapshot_id in ("20260101T000000Z-x", "20260201T000000Z-x", "20260301T000000Z-x"):
        store.put_bytes(Layout.snapshot_products(snapshot_id), b"parquet")
        store.put_json(Layout.snapshot_validated(snapshot_id), {})
    store.put_bytes(Layout.snapshot_products("20260215T000000Z-x"), b"parquet")  # failed its suite: not validated
    assert previous_snapshot(store, "20260301T000000Z-x") == "20260201T000000Z-x"
    assert previous_snapshot(store, "20260210T000000Z-x") == "20260201T000000Z-x"
    assert previous_snapshot(store, "20260101T000000Z-x") is None


def test_missing_objects_name_their_uri(store):
    with pytest.raises(MissingObject, match="s3://pointers/nothing/here"):
        store.get_bytes("nothing/here")
    with pytest.raises(LookupError, match="run catalog_refresh first"):
        latest_snapshot(store)
