import boto3
import numpy as np
import pandas as pd
from moto import mock_aws

from catalog_search.dynamo import ensure_table, enriched_rows, to_item, unpack_embedding, upsert


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


def test_upsert_is_idempotent_and_replaces_items(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("dynamodb")
        ensure_table(client, "products")
        ensure_table(client, "products")  # a second call leaves the table alone
        assert upsert(client, "products", enriched_rows(_enriched(), "s1", "m1")) == 60
        assert upsert(client, "products", enriched_rows(_enriched(title="Blue Shirt"), "s2", "m1")) == 60
        table = boto3.resource("dynamodb").Table("products")
        assert table.scan(Select="COUNT")["Count"] == 60
        item = table.get_item(Key={"product_id": "7"})["Item"]
        assert item["title"] == "Blue Shirt" and item["snapshot_id"] == "s2"
        np.testing.assert_array_equal(unpack_embedding(item), np.arange(4) + 7)
