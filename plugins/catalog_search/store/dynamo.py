"""The DynamoDB item store of enriched products, keyed by product_id: kept equal to the
published snapshot by writing only what changed, never letting an older snapshot overwrite a
newer one, and reconciled after each write."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from catalog_search.errors import PermanentError, TransientError
from catalog_search.settings import REMOVALS
from catalog_search.store.batches import CatalogBatches
from catalog_search.store.changes import RECONCILE_SAMPLE, CatalogChanges
from catalog_search.store.object_keys import ObjectKeys

BATCH_SIZE = 25  # the BatchWriteItem maximum
SYNC_CHUNK = 10_000  # products made into items at a time (a million 256-d items at once took 9 GB)
EMBEDDING_FORMAT = "float32-le"
# Requests in flight: DynamoDB answers each in milliseconds and takes them in parallel (below the
# boto3 client's 10 pooled connections); moto, one Python process, still served 10-20 % more
# conditional writes a second with 8 than with 4.
REQUESTS_IN_FLIGHT = 8


def ensure_table(dynamodb: Any, table_name: str) -> None:
    """Create the table on first use (on-demand billing); an existing table is left as is."""
    try:
        dynamodb.describe_table(TableName=table_name)
    except dynamodb.exceptions.ResourceNotFoundException:
        dynamodb.create_table(**create_table_request(table_name))
        dynamodb.get_waiter("table_exists").wait(TableName=table_name)


def create_table_request(table_name: str) -> dict:
    return {"TableName": table_name, "KeySchema": [{"AttributeName": "product_id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "product_id", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}


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


WRITE_UNIT_BYTES = 1024  # a standard write unit covers an item of up to 1 KB


def item_bytes(item: dict) -> int:
    """An item's size as DynamoDB counts it (its developer guide, "Item sizes and formats"): each
    attribute's name plus its value; a number one byte per two significant digits plus one; a
    list or map 3 bytes, plus 1 byte an element."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, (int, float, Decimal)):
        digits = Decimal(str(value)).normalize().as_tuple().digits
        return (len(digits) + 1) // 2 + 1
    if isinstance(value, dict):
        return 3 + sum(len(k.encode()) + _value_bytes(v) + 1 for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return 3 + sum(_value_bytes(v) + 1 for v in value)
    raise TypeError(f"no DynamoDB size for a {type(value).__name__}")


def write_units(item: dict) -> int:
    """The write request units one standard write of ``item`` costs."""
    return -(-item_bytes(item) // WRITE_UNIT_BYTES)


CONTENT_HASH = "content_hash"  # of everything but the snapshot: an unchanged product is not written again
REMOVED_IN = "removed_in"  # a tombstone: the snapshot the product left the catalog in
WRITTEN_IN = "snapshot_id"  # the snapshot that wrote the item: an older one never overwrites it
_NOT_HASHED = {WRITTEN_IN, CONTENT_HASH, REMOVED_IN}


@dataclass(frozen=True)
class SyncReport:
    created: int
    updated: int
    unchanged: int
    removed: int
    kept_newer: int  # items written from a newer snapshot, left as they are
    # ``product_id -> content hash`` of up to RECONCILE_SAMPLE of the new and of the changed
    # products written, drawn as they were: what the read-back looks for
    written_sample: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def written(self) -> int:
        return self.created + self.updated + self.removed

    @property
    def counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged, "removed": self.removed,
                "kept_newer": self.kept_newer}


class _Sample:
    """A uniform sample of up to ``size`` of the items of a stream, drawn as they pass (reservoir
    sampling, seeded: the same stream gives the same sample), so that the stream is not read
    again to draw it."""

    def __init__(self, size: int) -> None:
        self.size, self.seen, self.kept = size, 0, list[dict]()
        self.rng = np.random.default_rng(0)

    def add(self, items: list[dict]) -> None:
        room = max(self.size - len(self.kept), 0)
        self.kept += items[:room]
        self.seen += min(room, len(items))
        rest = items[room:]
        if rest:  # item j of the stream replaces a kept one with probability size / (j + 1)
            draws = self.rng.integers(0, self.seen + np.arange(1, len(rest) + 1))
            for at in np.flatnonzero(draws < self.size):
                self.kept[draws[at]] = rest[at]
            self.seen += len(rest)


def content_hash(item: dict) -> str:
    digest = hashlib.sha256()
    for key in sorted(set(item) - _NOT_HASHED):
        value = item[key]
        digest.update(key.encode() + b"\0")
        digest.update(value if isinstance(value, bytes) else json.dumps(value, sort_keys=True, default=str).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


GET_BATCH = 100  # the BatchGetItem maximum


def item_states(dynamodb: Any, table_name: str, product_ids: Iterable[str], workers: int = REQUESTS_IN_FLIGHT) -> dict[str, dict]:
    """``product_id -> {snapshot_id, content_hash, removed_in}`` of those of the products the
    table holds: strongly consistent BatchGetItem of those attributes only (a key look-up per
    product, not a scan of every item and its vector)."""
    ids = sorted(set(product_ids))

    def get(batch: list[str]) -> list[dict]:
        found, pending = [], states_request(table_name, batch)["RequestItems"]
        for attempt in range(8):
            answer = dynamodb.batch_get_item(RequestItems=pending)
            found += answer["Responses"].get(table_name, [])
            pending = answer.get("UnprocessedKeys") or {}
            if not pending:
                return found
            time.sleep(min(0.05 * 2**attempt, 2.0))
        raise TransientError(f"DynamoDB {table_name}: {len(pending[table_name]['Keys'])} keys still unprocessed after 8 attempts")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        items = [item for part in pool.map(get, [ids[i: i + GET_BATCH] for i in range(0, len(ids), GET_BATCH)]) for item in part]
    return {item["product_id"]["S"]: {k: v["S"] for k, v in item.items() if k != "product_id"} for item in items}


def states_request(table_name: str, product_ids: list[str]) -> dict:
    """BatchGetItem of the bookkeeping attributes of up to ``GET_BATCH`` products, strongly consistent."""
    names = {f"#a{i}": a for i, a in enumerate(("product_id", WRITTEN_IN, CONTENT_HASH, REMOVED_IN))}
    return {"RequestItems": {table_name: {"Keys": [{"product_id": {"S": pid}} for pid in product_ids],
                                          "ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names,
                                          "ConsistentRead": True}}}


def serialized(item: dict) -> dict:
    """An item in DynamoDB's wire form."""
    serializer = TypeSerializer()
    return {k: serializer.serialize(v) for k, v in item.items()}


def _not_newer(snapshot_id: str) -> dict:
    """The condition of every write: no newer snapshot wrote the item."""
    return {"ConditionExpression": f"attribute_not_exists({WRITTEN_IN}) OR {WRITTEN_IN} <= :snapshot",
            "ExpressionAttributeValues": {":snapshot": {"S": snapshot_id}}}


def put_request(table_name: str, item: dict, snapshot_id: str) -> dict:
    """PutItem of a changed product, unless a newer snapshot wrote it."""
    return {"TableName": table_name, "Item": serialized(item), **_not_newer(snapshot_id)}


def remove_request(table_name: str, product_id: str, snapshot_id: str, removal: str) -> tuple[str, dict]:
    """The operation and request that take a removed product out of the table: DeleteItem, or
    UpdateItem setting its tombstone; unless a newer snapshot wrote it."""
    key = {"TableName": table_name, "Key": {"product_id": {"S": product_id}}, **_not_newer(snapshot_id)}
    if removal == "delete":
        return "delete_item", key
    return "update_item", {**key, "UpdateExpression": f"SET {REMOVED_IN} = :snapshot"}


def batch_write_request(table_name: str, items: list[dict]) -> dict:
    """BatchWriteItem of up to ``BATCH_SIZE`` new products."""
    return {"RequestItems": {table_name: [{"PutRequest": {"Item": serialized(item)}} for item in items]}}


def sync(dynamodb: Any, table_name: str, changes: CatalogChanges, snapshot_id: str, model_version: str,
         removal: str = "delete", workers: int = REQUESTS_IN_FLIGHT) -> SyncReport:
    """Apply ``changes`` (the snapshot's enriched catalog against the one the table holds) to the
    table: new products in batches of 25; changed ones, and removed ones (deleted, or tombstoned
    with ``removed_in``), one by one, each on the condition that no newer snapshot wrote the
    item. Unchanged products are not touched, so a second run of the same snapshot writes nothing."""
    if removal not in REMOVALS:
        raise ValueError(f"removal {removal!r}: expected one of {REMOVALS}")

    def put(item: dict) -> bool:
        return _conditional(lambda: dynamodb.put_item(**put_request(table_name, item, snapshot_id)))

    def remove(product_id: str) -> bool:
        operation, request = remove_request(table_name, product_id, snapshot_id, removal)
        return _conditional(lambda: getattr(dynamodb, operation)(**request))

    created = updated = kept_newer = 0
    samples = {"new": _Sample(RECONCILE_SAMPLE), "changed": _Sample(RECONCILE_SAMPLE)}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for items in item_chunks(changes.upserts, snapshot_id, model_version):
            is_new = changes.is_new([i["product_id"] for i in items])
            new = [i for i, fresh in zip(items, is_new, strict=True) if fresh]
            rewritten = [i for i, fresh in zip(items, is_new, strict=True) if not fresh]
            list(pool.map(lambda batch: _write_batch(dynamodb, table_name, batch), [new[i: i + BATCH_SIZE] for i in range(0, len(new), BATCH_SIZE)]))
            written = sum(pool.map(put, rewritten))
            created, updated, kept_newer = created + len(new), updated + written, kept_newer + len(rewritten) - written
            samples["new"].add([{"product_id": i["product_id"], CONTENT_HASH: i[CONTENT_HASH]} for i in new])
            samples["changed"].add([{"product_id": i["product_id"], CONTENT_HASH: i[CONTENT_HASH]} for i in rewritten])
        removed = list(pool.map(remove, changes.removed_ids))
    return SyncReport(created=created, updated=updated, unchanged=len(changes.unchanged_ids), removed=sum(removed),
                      kept_newer=kept_newer + removed.count(False),
                      written_sample={i["product_id"]: i[CONTENT_HASH] for sample in samples.values() for i in sample.kept})


def content_hashes(enriched: pd.DataFrame, snapshot_id: str, model_version: str) -> dict[str, str]:
    """``product_id -> content hash`` of the items of these rows."""
    return {i["product_id"]: i[CONTENT_HASH] for items in item_chunks(enriched, snapshot_id, model_version) for i in items}


def item_chunks(enriched: pd.DataFrame | CatalogBatches, snapshot_id: str, model_version: str) -> Iterable[list[dict]]:
    """``expected_items`` of the rows, ``SYNC_CHUNK`` rows at a time (a catalog read a batch at a time)."""
    for batch, _ in CatalogBatches.of(enriched):
        for start in range(0, len(batch), SYNC_CHUNK):
            yield expected_items(batch.iloc[start: start + SYNC_CHUNK], snapshot_id, model_version)


def expected_items(enriched: pd.DataFrame, snapshot_id: str, model_version: str) -> list[dict]:
    """The items of these enriched rows as ``sync`` writes them, each with its content hash."""
    items = [to_item(row) for row in enriched_rows(enriched, snapshot_id, model_version)]
    for item in items:
        item[CONTENT_HASH] = content_hash(item)
    return items


def _conditional(write: Callable[[], Any]) -> bool:
    """True when written, False when the condition kept a newer item."""
    from botocore.exceptions import ClientError

    try:
        write()
        return True
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise


class TableMismatch(PermanentError):
    """The table does not hold exactly the snapshot's products after a sync."""


def reconcile(dynamodb: Any, table_name: str, expected: dict[str, str], snapshot_id: str,
              removed_ids: Iterable[str] = ()) -> int:
    """Read back by key: each product of ``expected`` (``product_id -> content hash``: what a
    sync wrote, and a sample of what it left) is a live item with that content, and none of
    ``removed_ids`` is live, apart from items a newer snapshot wrote. Returns the number of
    products checked, or raises naming the products that differ."""
    removed = set(removed_ids) - set(expected)
    states = item_states(dynamodb, table_name, set(expected) | removed)

    def newer(pid: str) -> bool:
        return states.get(pid, {}).get(WRITTEN_IN, "") > snapshot_id

    wrong = sorted(pid for pid, digest in expected.items()
                   if not newer(pid) and (pid not in states or REMOVED_IN in states[pid] or states[pid].get(CONTENT_HASH) != digest))
    extra = sorted(pid for pid in removed if pid in states and REMOVED_IN not in states[pid] and not newer(pid))
    if wrong or extra:
        raise TableMismatch(
            f"DynamoDB {table_name} does not hold snapshot {snapshot_id}: {len(wrong)} of its products missing or "
            f"different {wrong[:5]}, {len(extra)} products it does not have {extra[:5]}. Another writer may be using "
            "the table, or items were changed outside the pipeline: stop the writer and clear upsert_dynamodb (it "
            f"rewrites only what differs); if the table was emptied or edited, delete {ObjectKeys.table_state(table_name)} "
            "from the bucket so that the next run writes every product again.")
    return len(expected)


def _write_batch(dynamodb: Any, table_name: str, items: list[dict], attempts: int = 8) -> None:
    pending = batch_write_request(table_name, items)["RequestItems"]
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


_BOOKKEEPING = {WRITTEN_IN, CONTENT_HASH, REMOVED_IN, "model_version", "embedding_format"}


def read_catalog(dynamodb: Any, table_name: str, model_version: str, segments: int = 4) -> pd.DataFrame:
    """Every live item of the table back as an enriched catalog (vector unpacked, attributes as
    JSON text, numbers as floats), by a strongly consistent parallel scan: the source of an index
    when the enriched catalog in S3 is gone. Raises if an item was embedded by another model."""
    deserialize = TypeDeserializer().deserialize

    def scan(segment: int) -> list[dict]:
        rows, request = [], {"TableName": table_name, "Segment": segment, "TotalSegments": segments, "ConsistentRead": True}
        while True:
            page = dynamodb.scan(**request)
            rows += [from_item({k: deserialize(v) for k, v in raw.items()}, model_version) for raw in page["Items"]
                     if REMOVED_IN not in raw]
            if "LastEvaluatedKey" not in page:
                return rows
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    with ThreadPoolExecutor(max_workers=segments) as pool:
        rows = [row for part in pool.map(scan, range(segments)) for row in part]
    return pd.DataFrame(rows).sort_values("product_id", ignore_index=True) if rows else pd.DataFrame()


class OtherModel(PermanentError):
    """An item of the table was embedded by another model than the one asked for."""


def from_item(item: dict, model_version: str) -> dict:
    """An item read back (``TypeDeserializer``) as an enriched row: the inverse of ``to_item``."""
    if item.get("model_version") != model_version:
        raise OtherModel(f"product {item['product_id']!r} was embedded by {item.get('model_version')!r}, not {model_version!r}: "
                         "the table is not one model's catalog; rebuild from the enriched catalog in S3 instead")
    row = {k: v for k, v in item.items() if k not in _BOOKKEEPING}
    row["embedding"] = unpack_embedding(item)
    row["attributes"] = json.dumps(item.get("attributes", {}), default=_plain, sort_keys=True)
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in row.items()}


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else str(value)


def unpack_embedding(item: dict) -> np.ndarray:
    """The vector of an item read back with boto3 (Binary or bytes)."""
    raw = item["embedding"]
    return np.frombuffer(getattr(raw, "value", raw), dtype="<f4")
