import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws

from catalog_search.dynamo import TableMismatch, ensure_table, enriched_rows, reconcile, sync, to_item, unpack_embedding


def _enriched(n=60, title="Red Shirt"):
    return pd.DataFrame({
        "product_id": [str(i) for i in range(n)], "title": [title] * n, "category": ["A > B"] * n,
        "price": [np.nan] * (n - 1) + [9.5], "attributes": ['{"colour": "Red"}'] * n,
        "brand": [None] * n, "embedding": [np.arange(4, dtype=np.float32) + i for i in range(n)],
    })


def test_items_drop_empty_values_and_pack_the_vector():
    item = to_item(_enriched().iloc[-1].to_dict())
    assert "brand" not in item and item["attributes"] == {"colour": "Red"}
    assert str(item["price"]) == "9.5"
    np.testing.assert_array_equal(unpack_embedding(item), np.arange(4) + 59)


@pytest.fixture
def table(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("dynamodb")
        ensure_table(client, "products")
        ensure_table(client, "products")  # a second call leaves the table alone
        yield client


def items(client) -> dict:
    return {i["product_id"]: i for i in boto3.resource("dynamodb").Table("products").scan(ConsistentRead=True)["Items"]}


def test_a_first_sync_writes_every_product_and_a_second_writes_none(table):
    first = sync(table, "products", enriched_rows(_enriched(), "s1", "m1"), "s1")
    assert (first.created, first.updated, first.removed, first.written) == (60, 0, 0, 60)
    again = sync(table, "products", enriched_rows(_enriched(), "s1", "m1"), "s1", previous_ids={str(i) for i in range(60)})
    assert (again.written, again.unchanged) == (0, 60)
    np.testing.assert_array_equal(unpack_embedding(items(table)["7"]), np.arange(4) + 7)
    assert reconcile(table, "products", {str(i) for i in range(60)}, "s1") == 60


def test_a_refresh_writes_the_changed_products_and_deletes_the_removed_ones(table):
    sync(table, "products", enriched_rows(_enriched(), "s1", "m1"), "s1")
    refreshed = _enriched()
    refreshed.loc[refreshed["product_id"] == "7", "title"] = "Blue Shirt"
    refreshed = pd.concat([refreshed[refreshed["product_id"] != "3"], _enriched(n=61).tail(1)])  # 3 left, 60 came
    every = {str(i) for i in range(60)}
    report = sync(table, "products", enriched_rows(refreshed, "s2", "m1"), "s2", previous_ids=every)
    assert (report.created, report.updated, report.removed, report.unchanged) == (1, 1, 1, 58)
    stored = items(table)
    assert "3" not in stored and stored["7"]["title"] == "Blue Shirt" and stored["7"]["snapshot_id"] == "s2"
    assert stored["8"]["snapshot_id"] == "s1"  # unchanged: not rewritten
    assert reconcile(table, "products", set(refreshed["product_id"]), "s2", removed_ids=every) == 60


def test_an_older_snapshot_never_overwrites_or_removes_what_a_newer_one_wrote(table):
    newer = _enriched(title="Blue Shirt")
    sync(table, "products", enriched_rows(newer, "s2", "m1"), "s2")
    older = _enriched().head(50)  # the backfill's snapshot lacks 10 products the newer one has
    report = sync(table, "products", enriched_rows(older, "s1", "m1"), "s1", previous_ids=set(newer["product_id"]))
    assert report.kept_newer == 60 and report.written == 0
    assert {i["title"] for i in items(table).values()} == {"Blue Shirt"} and len(items(table)) == 60


def test_tombstones_keep_removed_products_out_of_the_live_count_until_they_come_back(table):
    sync(table, "products", enriched_rows(_enriched(), "s1", "m1"), "s1", removal="tombstone")
    without_5 = _enriched()[lambda f: f["product_id"] != "5"]
    every, kept = {str(i) for i in range(60)}, set(without_5["product_id"])
    assert sync(table, "products", enriched_rows(without_5, "s2", "m1"), "s2", every, removal="tombstone").removed == 1
    assert items(table)["5"]["removed_in"] == "s2" and reconcile(table, "products", kept, "s2", removed_ids=every) == 59
    assert sync(table, "products", enriched_rows(without_5, "s2", "m1"), "s2", kept, removal="tombstone").written == 0
    back = sync(table, "products", enriched_rows(_enriched(), "s3", "m1"), "s3", kept, removal="tombstone")
    assert back.updated == 1 and "removed_in" not in items(table)["5"]


def test_reconcile_names_the_products_the_table_lacks_or_should_not_have(table):
    sync(table, "products", enriched_rows(_enriched(n=10), "s1", "m1"), "s1")
    with pytest.raises(TableMismatch, match=r"1 of its products missing \['10'\], 1 products it does not have \['9'\]"):
        reconcile(table, "products", {str(i) for i in range(9)} | {"10"}, "s1", removed_ids={"9"})
