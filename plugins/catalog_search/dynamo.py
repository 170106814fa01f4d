"""The DynamoDB item store of enriched products: idempotent upserts keyed by product_id."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Iterable

import pandas as pd


def ensure_table(dynamodb: Any, table_name: str) -> None:
    """Create the table on first use (on-demand billing); an existing table is left as is."""
    try:
        dynamodb.describe_table(TableName=table_name)
    except dynamodb.exceptions.ResourceNotFoundException:
        dynamodb.create_table(
            TableName=table_name,
            KeySchema=[{"AttributeName": "product_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "product_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.get_waiter("table_exists").wait(TableName=table_name)


def to_item(row: dict) -> dict:
    """A product row as a DynamoDB item: no empty values, numbers as Decimal, vector as a list."""
    item: dict = {}
    for key, value in row.items():
        if key == "embedding":
            item[key] = [Decimal(str(round(float(x), 6))) for x in value]
            continue
        if value is None or (isinstance(value, float) and value != value) or value == "":
            continue
        if key == "attributes":
            value = json.loads(value)
        elif isinstance(value, float):
            value = Decimal(str(value))
        item[key] = value
    return item


def upsert(table: Any, rows: Iterable[dict]) -> int:
    """Put every row (a put replaces the item with the same key, so re-runs converge)."""
    n = 0
    with table.batch_writer(overwrite_by_pkeys=["product_id"]) as batch:
        for row in rows:
            batch.put_item(Item=to_item(row))
            n += 1
    return n


def enriched_rows(enriched: pd.DataFrame, snapshot_id: str, model_version: str) -> Iterable[dict]:
    for row in enriched.to_dict("records"):
        row.update(snapshot_id=snapshot_id, model_version=model_version)
        yield row
