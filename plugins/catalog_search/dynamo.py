"""The DynamoDB item store of enriched products: idempotent upserts keyed by product_id."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, Iterable

import numpy as np
import pandas as pd

from catalog_search.errors import TransientError

BATCH_SIZE = 25  # the BatchWriteItem maximum
EMBEDDING_FORMAT = "float32-le"


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
    """A product row as a DynamoDB item: no empty values, numbers as Decimal, vector packed."""
    item: dict = {}
    for key, value in row.items():
        if key == "embedding":
            # Packed float32 (4 bytes a dimension) instead of a list of Numbers: a fraction
            # of the item size, hence of the write capacity each upsert costs.
            item[key] = np.asarray(value, dtype="<f4").tobytes()
            item["embedding_format"] = EMBEDDING_FORMAT
            continue
        if value is None or (isinstance(value, float) and value != value) or value == "":
            continue
        if key == "attributes":
            value = json.loads(value)
        elif isinstance(value, float):
            value = Decimal(str(value))
        item[key] = value
    return item


def upsert(dynamodb: Any, table_name: str, rows: Iterable[dict], workers: int = 4) -> int:
    """Put every row, 25 per BatchWriteItem, a few batches at a time; unprocessed items are
    retried with backoff. A put replaces the item with the same key, so re-runs converge."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    requests = [
        {"PutRequest": {"Item": {k: serializer.serialize(v) for k, v in to_item(row).items()}}} for row in rows
    ]
    batches = [requests[i : i + BATCH_SIZE] for i in range(0, len(requests), BATCH_SIZE)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda batch: _write_batch(dynamodb, table_name, batch), batches))
    return len(requests)


def _write_batch(dynamodb: Any, table_name: str, batch: list[dict], attempts: int = 8) -> None:
    pending = {table_name: batch}
    for attempt in range(attempts):
        pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        if not pending:
            return
        time.sleep(min(0.05 * 2**attempt, 2.0))
    raise TransientError(f"DynamoDB {table_name}: {len(pending[table_name])} items still unprocessed after {attempts} attempts")


def enriched_rows(enriched: pd.DataFrame, snapshot_id: str, model_version: str) -> Iterable[dict]:
    for row in enriched.to_dict("records"):
        row.update(snapshot_id=snapshot_id, model_version=model_version)
        yield row


def unpack_embedding(item: dict) -> np.ndarray:
    """The vector of an item read back with boto3 (Binary or bytes)."""
    raw = item["embedding"]
    return np.frombuffer(getattr(raw, "value", raw), dtype="<f4")
