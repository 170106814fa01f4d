"""What changed between two enriched catalogs: the products to write again (new, or different in
any field or in their vector) and the products to remove. The index and the DynamoDB table each
hold one enriched catalog; a night applies only this difference to them."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from catalog_search.store.batches import CatalogBatches, as_matrix
from catalog_search.store.object_keys import ObjectKeys

log = logging.getLogger(__name__)


# Read back after a DynamoDB sync: this many products of each kind (new, changed, removed,
# unchanged). DynamoDB has already acknowledged every write, item by item (a batch's unprocessed
# items are sent again; a failed condition is counted as a newer item kept), so the read-back
# looks for what an acknowledgement cannot show: another writer, or items edited outside the
# pipeline. The changes carry the rows of their unchanged sample, so that the sync need not read
# the catalog they were found in.
RECONCILE_SAMPLE = 1000


@dataclass(frozen=True)
class CatalogChanges:
    # rows of the new catalog that are new or changed; every row of it, read a batch at a time,
    # when the whole catalog is written (a first load, a new model)
    upserts: pd.DataFrame | CatalogBatches
    new_ids: frozenset[str]  # of those, the products the old catalog lacks
    removed_ids: tuple[str, ...]  # products of the old catalog the new one lacks
    unchanged_ids: tuple[str, ...]
    # rows of the new catalog for up to RECONCILE_SAMPLE of the unchanged products, drawn once
    unchanged_sample: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def summary(self) -> dict:
        return {"new": len(self.new_ids), "changed": len(self.upserts) - len(self.new_ids),
                "removed": len(self.removed_ids), "unchanged": len(self.unchanged_ids)}

    def kinds(self) -> pd.DataFrame:
        """``product_id, change`` (new, changed, removed or unchanged) of every product of
        either catalog."""
        upserts = CatalogBatches.of(self.upserts).product_ids()
        return pd.DataFrame({
            "product_id": pd.concat([upserts, pd.Series(self.removed_ids, dtype=str), pd.Series(self.unchanged_ids, dtype=str)],
                                    ignore_index=True),
            "change": np.concatenate([np.where(is_in(upserts, self.new_ids), "new", "changed"),
                                      np.full(len(self.removed_ids), "removed"), np.full(len(self.unchanged_ids), "unchanged")]),
        })


def kept_changes(store, before_snapshot: str, snapshot_id: str, model_version: str) -> str:
    """Where the changes from ``before_snapshot``'s enriched catalog to this snapshot's are kept
    (a prefix: ``keep``): found once a night, by whichever stage has both catalogs first. The key
    names the ETags of both catalog objects, so a catalog written again is compared again."""
    compared = hashlib.sha256((store.etag(ObjectKeys.enriched_products(before_snapshot, model_version))
                               + store.etag(ObjectKeys.enriched_products(snapshot_id, model_version))).encode())
    return ObjectKeys.catalog_changes(snapshot_id, model_version, before_snapshot, compared.hexdigest()[:16])


KEPT_FILES = ("rows.parquet", "kinds.parquet")  # in the order they are written: kinds found means rows there


def kept_frames(found: CatalogChanges) -> list[tuple[str, pd.DataFrame]]:
    """The files that keep ``found`` (``KEPT_FILES``, in order): the rows it carries (upserts and
    the unchanged sample, with their vectors), then the kinds of every product, which ``kept``
    looks for first."""
    assert isinstance(found.upserts, pd.DataFrame), "a whole catalog is no night's changes to keep"
    return list(zip(KEPT_FILES, (pd.concat([found.upserts, found.unchanged_sample], ignore_index=True), found.kinds()), strict=True))


def keep(store, key: str, found: CatalogChanges) -> None:
    """Store ``found`` under ``key``, the prefix ``kept_changes`` gave for it (``kept_frames``)."""
    for name, frame in kept_frames(found):
        store.put_parquet(key + name, frame)
    log.info("what changed: %s (%s)", found.summary, store.uri(key))


def kept(store, key: str) -> CatalogChanges:
    """The changes ``keep`` stored under ``key`` (``MissingObject`` if none): a night's few
    thousand rows, without the catalogs they were found in."""
    kinds = store.get_parquet(key + KEPT_FILES[1])
    rows = store.get_parquet(key + KEPT_FILES[0])
    of_kind = {kind: ids for kind, ids in kinds.groupby("change")["product_id"]}  # noqa: C416 (dict() would call the group's .keys)
    ids = rows["product_id"].astype(str)
    empty = pd.Series(dtype=str)
    rewrite = is_in(ids, pd.concat([of_kind.get("new", empty), of_kind.get("changed", empty)]))
    return CatalogChanges(
        upserts=rows[rewrite].reset_index(drop=True),
        new_ids=frozenset(of_kind.get("new", empty)),
        removed_ids=tuple(of_kind.get("removed", empty)),
        # tolist: iterating an Arrow-backed string Series builds each value through pandas (1.2 s
        # a million; tolist 0.1 s).
        unchanged_ids=tuple(of_kind.get("unchanged", empty).tolist()),
        unchanged_sample=rows[~rewrite].reset_index(drop=True),
    )


def everything(after: pd.DataFrame | CatalogBatches) -> CatalogChanges:
    """Every product of ``after`` is new (nothing held before)."""
    return CatalogChanges(after, frozenset(CatalogBatches.of(after).product_ids()), (), ())


def diff(before: pd.DataFrame, after: pd.DataFrame, chunk: int = 100_000,
         vectors: tuple[np.ndarray, np.ndarray] | None = None) -> CatalogChanges:
    """Compare by product id, field by field (missing values equal each other) and vector by
    vector, exactly: vectorised over rows aligned by position (no per-row hashing, no index
    look-ups per column), the vectors ``chunk`` rows at a time. Catalogs with different columns
    differ everywhere. ``vectors``: both catalogs' embedding columns as matrices (before's,
    after's), when they were read as such; otherwise the row arrays are stacked."""
    if set(before.columns) != set(after.columns):
        return everything(after)
    new_ids, old_ids = after["product_id"].astype(str), before["product_id"].astype(str)
    at_old = pd.Index(old_ids).get_indexer(new_ids)  # -1: a new product
    rows = np.flatnonzero(at_old >= 0)
    old_rows = at_old[rows]
    fields = [c for c in after.columns if c != "embedding"]
    a = after[fields].iloc[rows].reset_index(drop=True)
    b = before[fields].iloc[old_rows].reset_index(drop=True)
    differs = ~((a == b) | (a.isna() & b.isna())).all(axis=1).to_numpy()
    if len(rows):
        vectors_before, vectors_now = vectors or (before["embedding"].to_numpy(), after["embedding"].to_numpy())
        if len(vectors_now[rows[0]]) != len(vectors_before[old_rows[0]]):  # another embedding size: another model
            return everything(after)
        for start in range(0, len(rows), chunk):
            part = slice(start, start + chunk)
            differs[part] |= (as_matrix(vectors_now[rows[part]]) != as_matrix(vectors_before[old_rows[part]])).any(axis=1)
    rewrite = at_old < 0
    rewrite[rows[differs]] = True
    still_there = np.zeros(len(old_ids), dtype=bool)
    still_there[old_rows] = True
    unchanged = rows[~differs]
    sample = np.sort(np.random.default_rng(0).choice(len(unchanged), size=min(RECONCILE_SAMPLE, len(unchanged)), replace=False))
    return CatalogChanges(
        upserts=after[rewrite],
        new_ids=frozenset(new_ids[at_old < 0]),
        removed_ids=tuple(old_ids[~still_there].tolist()),
        unchanged_ids=tuple(new_ids.iloc[unchanged].tolist()),
        unchanged_sample=after.iloc[unchanged[sample]],
    )


def is_in(ids: Iterable[str], values: Iterable[str]) -> np.ndarray:
    """Which of the product ids are among ``values``, in Arrow: pandas' ``isin`` of strings makes
    a Python object per value, 10 s for a million ids."""
    def strings(items: Iterable[str]) -> pa.Array:
        return pa.array(pd.Series(items if isinstance(items, pd.Series) else list(items), dtype=str), type=pa.large_string())

    return pc.is_in(strings(ids), value_set=strings(values)).to_numpy(zero_copy_only=False)
