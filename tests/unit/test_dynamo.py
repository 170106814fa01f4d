from decimal import Decimal

import boto3
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from moto import mock_aws

from catalog_search.store import changes, dynamo
from catalog_search.store.changes import diff, everything
from catalog_search.store.dynamo import (
    CONTENT_HASH,
    OtherModel,
    TableMismatch,
    ensure_table,
    expected_items,
    item_bytes,
    read_catalog,
    reconcile,
    sync,
    to_item,
    unpack_embedding,
    write_units,
)


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


def test_item_sizes_are_counted_as_dynamodb_counts_them():
    # Names plus values; numbers 1 byte per two significant digits (zeros trimmed) plus 1; a map
    # 3 bytes plus 1 an element (the developer guide's "Item sizes and formats").
    assert item_bytes({"id": "abc"}) == 2 + 3
    assert item_bytes({"n": Decimal("12.50"), "z": Decimal("100")}) == (1 + 3) + (1 + 2)
    assert item_bytes({"m": {"a": "x"}, "flag": True}) == (1 + 3 + 1 + 1 + 1) + (4 + 1)
    assert [write_units({"b": b"\0" * size}) for size in (1023, 1024)] == [1, 2]


def test_a_384_dimensional_product_costs_two_write_units():
    frame = _enriched(1).assign(embedding=[np.ones(384, dtype=np.float32)])
    item = expected_items(frame, "20270101T010000Z", "m1")[0]
    assert 1536 < item_bytes(item) <= 2048 and write_units(item) == 2


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


def _sync(client, before, after, snapshot_id, removal="delete"):
    found = everything(after) if before is None else diff(before, after)
    return sync(client, "products", found, snapshot_id, "m1", removal)


def _expected(frame, snapshot_id="s"):
    return {i["product_id"]: i[CONTENT_HASH] for i in expected_items(frame, snapshot_id, "m1")}


def test_a_first_sync_writes_every_product_and_a_second_writes_none(table):
    first = _sync(table, None, _enriched(), "s1")
    assert (first.created, first.updated, first.removed, first.written) == (60, 0, 0, 60)
    again = _sync(table, _enriched(), _enriched(), "s1")
    assert (again.written, again.unchanged) == (0, 60)
    np.testing.assert_array_equal(unpack_embedding(items(table)["7"]), np.arange(4) + 7)
    assert reconcile(table, "products", _expected(_enriched()), "s1") == 60


def test_a_refresh_writes_the_changed_products_and_deletes_the_removed_ones(table):
    _sync(table, None, _enriched(), "s1")
    refreshed = _enriched()
    refreshed.loc[refreshed["product_id"] == "7", "title"] = "Blue Shirt"
    refreshed.loc[refreshed["product_id"] == "9", "embedding"] = pd.Series([np.zeros(4, dtype=np.float32)], index=[9])
    refreshed = pd.concat([refreshed[refreshed["product_id"] != "3"], _enriched(n=61).tail(1)])  # 3 left, 60 came
    report = _sync(table, _enriched(), refreshed, "s2")
    assert (report.created, report.updated, report.removed, report.unchanged) == (1, 2, 1, 57)
    stored = items(table)
    assert "3" not in stored and stored["7"]["title"] == "Blue Shirt" and stored["7"]["snapshot_id"] == "s2"
    assert stored["8"]["snapshot_id"] == "s1"  # unchanged: not rewritten
    assert reconcile(table, "products", _expected(refreshed), "s2", removed_ids={"3"}) == 60


def test_an_older_snapshot_never_overwrites_or_removes_what_a_newer_one_wrote(table):
    newer = _enriched(title="Blue Shirt")
    _sync(table, None, newer, "s2")
    older = _enriched().head(50)  # the backfill's snapshot lacks 10 products the newer one has
    report = _sync(table, newer, older, "s1")
    assert report.kept_newer == 60 and report.written == 0
    assert {i["title"] for i in items(table).values()} == {"Blue Shirt"} and len(items(table)) == 60
    assert reconcile(table, "products", _expected(older), "s1", removed_ids=set(newer["product_id"])) == 50  # newer kept


def test_tombstones_keep_removed_products_out_of_the_live_count_until_they_come_back(table):
    _sync(table, None, _enriched(), "s1", removal="tombstone")
    without_5 = _enriched()[lambda f: f["product_id"] != "5"]
    assert _sync(table, _enriched(), without_5, "s2", removal="tombstone").removed == 1
    assert items(table)["5"]["removed_in"] == "s2"
    assert reconcile(table, "products", _expected(without_5), "s2", removed_ids={"5"}) == 59
    assert _sync(table, without_5, without_5, "s2", removal="tombstone").written == 0
    back = _sync(table, without_5, _enriched(), "s3", removal="tombstone")
    assert back.created == 1 and "removed_in" not in items(table)["5"]


def test_reconcile_names_the_products_the_table_lacks_or_has_other_content_for_or_should_not_have(table):
    _sync(table, None, _enriched(n=10), "s1")
    retitled = _enriched(n=10, title="Blue Shirt").head(1)
    expected = {**_expected(_enriched(n=10).tail(1)), **_expected(_enriched(n=11).tail(1)), **_expected(retitled)}
    # 9 is as written, 10 is missing, 0 is not blue, 8 should have been removed
    with pytest.raises(TableMismatch, match=r"2 of its products missing or different \['0', '10'\], "
                                            r"1 products it does not have \['8'\].*delete tables/products.json"):
        reconcile(table, "products", expected, "s1", removed_ids={"8"})


def test_the_diff_finds_new_changed_and_removed_products_field_by_field_and_vector_by_vector():
    before = _enriched(n=5)
    after = before.copy()
    after.loc[1, "price"] = 3.0  # NaN before
    after.loc[2, "embedding"] = after.loc[2, "embedding"] + 1
    after = pd.concat([after.drop(index=4), _enriched(n=6).tail(1)], ignore_index=True)
    found = diff(before, after)
    assert sorted(found.upserts["product_id"]) == ["1", "2", "5"] and found.new_ids == {"5"}
    assert found.removed_ids == ("4",) and sorted(found.unchanged_ids) == ["0", "3"]
    assert found.summary == {"new": 1, "changed": 2, "removed": 1, "unchanged": 2}
    pd.testing.assert_frame_equal(found.unchanged_sample, after.iloc[[0, 3]])  # rows "0" and "3", for the read-back
    as_read = diff(before, after, vectors=(np.stack(before["embedding"].to_numpy()), np.stack(after["embedding"].to_numpy())))
    assert as_read.summary == found.summary and as_read.upserts["product_id"].tolist() == found.upserts["product_id"].tolist()
    other_model = after.assign(embedding=[np.zeros(8, dtype=np.float32)] * len(after))
    assert len(diff(before, other_model).upserts) == len(after)


def test_catalogs_of_other_columns_or_another_model_are_written_whole_yet_removals_are_still_found():
    before = _enriched(n=6)
    after = pd.concat([before.iloc[1:], _enriched(n=8).tail(2)], ignore_index=True)
    for other in (after.assign(colour="red"), after.assign(embedding=[np.zeros(8, dtype=np.float32)] * len(after))):
        found = diff(before, other)
        assert len(found.upserts) == len(after) and found.removed_ids == ("0",)
        assert found.summary == {"new": 2, "changed": 5, "removed": 1, "unchanged": 0}


def test_held_ids_are_hashes_that_find_every_held_product_and_no_other():
    held = changes.HeldIds.of_batches([pd.Series([f"p{i}" for i in range(1000)]), pa.array(["q1", "q2"])])
    assert len(held) == 1002 and held.hashes.dtype == np.uint64
    assert held.holds(["p0", "p999", "q2", "p1000", "q3", ""]).tolist() == [True, True, True, False, False, False]
    assert changes.HeldIds().holds(["p0"]).tolist() == [False]  # a first load: every product is new


def test_a_whole_catalog_over_a_held_one_writes_the_held_products_on_condition_and_the_others_in_batches(table):
    held = _enriched(n=10)
    _sync(table, None, held, "s1")
    boto3.resource("dynamodb").Table("products").update_item(
        Key={"product_id": "3"}, UpdateExpression="SET snapshot_id = :s", ExpressionAttributeValues={":s": "s9"})
    whole = _enriched(n=12, title="Blue Shirt").iloc[1:]
    report = sync(table, "products", everything(whole, changes.HeldIds.of_batches([held["product_id"]]), ("0",)), "s2", "m1")
    assert (report.created, report.updated, report.kept_newer, report.removed) == (2, 8, 1, 1)
    assert report.written_sample == _expected(whole, "s2")  # fewer than RECONCILE_SAMPLE of each kind: all of them
    assert sorted(items(table)) == sorted(whole["product_id"]) and items(table)["3"]["title"] == "Red Shirt"


def test_the_sample_written_is_drawn_uniformly_as_the_items_pass_and_the_same_each_time(table, monkeypatch):
    monkeypatch.setattr(dynamo, "RECONCILE_SAMPLE", 50)
    monkeypatch.setattr(dynamo, "SYNC_CHUNK", 70)
    catalog = _enriched(n=2000)
    samples = [sync(table, "products", everything(catalog), snapshot, "m1").written_sample for snapshot in ("s1", "s2")]
    assert len(samples[0]) == 50 and samples[0].keys() == samples[1].keys()
    positions = np.array(sorted(int(p) for p in samples[0]))
    assert 10 <= (positions < 1000).sum() <= 40 and positions.max() >= 1000  # not the first 50, nor one end's
    assert samples[1] == _expected(catalog[catalog["product_id"].isin(samples[1].keys())], "s2")


def test_the_diff_keeps_the_rows_of_a_sample_of_the_unchanged_products(monkeypatch):
    before = _enriched(n=50)
    monkeypatch.setattr(changes, "RECONCILE_SAMPLE", 10)
    sample = diff(before, before).unchanged_sample
    assert len(sample) == 10 and sample["product_id"].is_unique
    pd.testing.assert_frame_equal(sample, before.loc[sample.index])  # whole rows, vectors and all
    assert diff(before, before).unchanged_sample["product_id"].tolist() == sample["product_id"].tolist()  # drawn the same each time


def test_the_table_reads_back_as_the_enriched_catalog_it_was_written_from(table):
    written = _enriched()
    _sync(table, None, written, "s1")
    without_5 = written[lambda f: f["product_id"] != "5"]
    _sync(table, written, without_5, "s2", removal="tombstone")
    catalog = read_catalog(table, "products", "m1", segments=3)
    expected = without_5.sort_values("product_id", ignore_index=True)
    assert list(catalog["product_id"]) == list(expected["product_id"])  # the tombstoned product is not live
    pd.testing.assert_series_equal(catalog["title"], expected["title"])
    assert catalog["attributes"].tolist() == ['{"colour": "Red"}'] * 59 and catalog["price"].count() == 1
    np.testing.assert_array_equal(np.stack(catalog["embedding"]), np.stack(expected["embedding"]))
    assert diff(expected, catalog[expected.columns.drop("brand")].assign(brand=None)).upserts.empty
    with pytest.raises(OtherModel, match="embedded by 'm1', not 'm2'"):
        read_catalog(table, "products", "m2")
