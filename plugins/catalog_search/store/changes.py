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


def _hashes(product_ids: Iterable[str]) -> np.ndarray:
    """The 64-bit hashes of product ids (pandas' ``hash_array``: SipHash with a fixed key, the
    same in every process)."""
    ids = product_ids.to_numpy(zero_copy_only=False) if isinstance(product_ids, (pa.Array, pa.ChunkedArray)) else product_ids
    return pd.util.hash_array(np.asarray(ids, dtype=object))


@dataclass(frozen=True)
class HeldIds:
    """The products a table held before a whole catalog is written to it, as the sorted 64-bit
    hashes of their ids: 8 bytes a product, where a set of a million id strings took 0.17 GB of
    the task. A held product is always found. Another is taken for a held one only if it shares
    a hash (2^-64 a pair); it is then written as a changed product, on the condition that no
    newer snapshot wrote it, which is as right for a new one."""

    hashes: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))

    @classmethod
    def of_batches(cls, batches: Iterable[Iterable[str]]) -> HeldIds:
        """Of ids read a batch at a time (only the hashes are kept)."""
        return cls(np.unique(np.concatenate([_hashes(batch) for batch in batches] + [np.empty(0, dtype=np.uint64)])))

    def __len__(self) -> int:
        return len(self.hashes)

    def holds(self, product_ids: Iterable[str]) -> np.ndarray:
        hashes = _hashes(product_ids)
        if not len(self.hashes):
            return np.zeros(len(hashes), dtype=bool)
        at = np.minimum(np.searchsorted(self.hashes, hashes), len(self.hashes) - 1)
        return self.hashes[at] == hashes


@dataclass(frozen=True)
class CatalogChanges:
    # rows of the new catalog that are new or changed; every row of it, read a batch at a time,
    # when the whole catalog is written (a first load, a new model)
    upserts: pd.DataFrame | CatalogBatches
    new_ids: frozenset[str]  # of those, the products the old catalog lacks (none listed when ``held`` is)
    removed_ids: tuple[str, ...]  # products of the old catalog the new one lacks
    unchanged_ids: tuple[str, ...]
    # rows of the new catalog for up to RECONCILE_SAMPLE of the unchanged products, drawn once
    unchanged_sample: pd.DataFrame = field(default_factory=pd.DataFrame)
    # when the whole catalog is written: the products the old catalog held, so that no list of
    # every new product's id is made (a first load: none held, every product is new)
    held: HeldIds | None = None

    def is_new(self, product_ids: Iterable[str]) -> np.ndarray:
        """Which of these products of ``upserts`` the old catalog lacks."""
        return ~self.held.holds(product_ids) if self.held is not None else is_in(product_ids, self.new_ids)

    @property
    def summary(self) -> dict:
        new = int(self.is_new(CatalogBatches.of(self.upserts).product_ids()).sum())
        return {"new": new, "changed": len(self.upserts) - new, "removed": len(self.removed_ids), "unchanged": len(self.unchanged_ids)}

    def kinds(self) -> pd.DataFrame:
        """``product_id, change`` (new, changed, removed or unchanged) of every product of
        either catalog."""
        upserts = CatalogBatches.of(self.upserts).product_ids()
        return pd.DataFrame({
            "product_id": pd.concat([upserts, pd.Series(self.removed_ids, dtype=str), pd.Series(self.unchanged_ids, dtype=str)],
                                    ignore_index=True),
            "change": np.concatenate([np.where(self.is_new(upserts), "new", "changed"),
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


def everything(after: pd.DataFrame | CatalogBatches, held: HeldIds | None = None, removed_ids: tuple[str, ...] = ()) -> CatalogChanges:
    """Every product of ``after`` written: the ones ``held`` lacks (all, if nothing was held) as
    new ones; ``removed_ids`` (of the held ones) taken out."""
    return CatalogChanges(after, frozenset(), removed_ids, (), held=held if held is not None else HeldIds())


def diff(before: pd.DataFrame, after: pd.DataFrame, chunk: int = 100_000,
         vectors: tuple[np.ndarray, np.ndarray] | None = None) -> CatalogChanges:
    """Compare by product id, field by field (missing values equal each other) and vector by
    vector, exactly: vectorised over rows aligned by position (no per-row hashing, no index
    look-ups per column), the vectors ``chunk`` rows at a time. Catalogs with different columns
    differ everywhere. ``vectors``: both catalogs' embedding columns as matrices (before's,
    after's), when they were read as such; otherwise the row arrays are stacked."""
    new_ids, old_ids = after["product_id"].astype(str), before["product_id"].astype(str)
    at_old = pd.Index(old_ids).get_indexer(new_ids)  # -1: a new product
    rows = np.flatnonzero(at_old >= 0)
    old_rows = at_old[rows]
    still_there = np.zeros(len(old_ids), dtype=bool)
    still_there[old_rows] = True
    removed_ids = tuple(old_ids[~still_there].tolist())
    if set(before.columns) != set(after.columns):
        return everything(after, HeldIds.of_batches([old_ids]), removed_ids)
    fields = [c for c in after.columns if c != "embedding"]
    a = after[fields].iloc[rows].reset_index(drop=True)
    b = before[fields].iloc[old_rows].reset_index(drop=True)
    differs = ~((a == b) | (a.isna() & b.isna())).all(axis=1).to_numpy()
    if len(rows):
        vectors_before, vectors_now = vectors or (before["embedding"].to_numpy(), after["embedding"].to_numpy())
        if len(vectors_now[rows[0]]) != len(vectors_before[old_rows[0]]):  # another embedding size: another model
            return everything(after, HeldIds.of_batches([old_ids]), removed_ids)
        for start in range(0, len(rows), chunk):
            part = slice(start, start + chunk)
            differs[part] |= (as_matrix(vectors_now[rows[part]]) != as_matrix(vectors_before[old_rows[part]])).any(axis=1)
    rewrite = at_old < 0
    rewrite[rows[differs]] = True
    unchanged = rows[~differs]
    sample = np.sort(np.random.default_rng(0).choice(len(unchanged), size=min(RECONCILE_SAMPLE, len(unchanged)), replace=False))
    return CatalogChanges(
        upserts=after[rewrite],
        new_ids=frozenset(new_ids[at_old < 0]),
        removed_ids=removed_ids,
        unchanged_ids=tuple(new_ids.iloc[unchanged].tolist()),
        unchanged_sample=after.iloc[unchanged[sample]],
    )


def is_in(ids: Iterable[str], values: Iterable[str]) -> np.ndarray:
    """Which of the product ids are among ``values``, in Arrow: pandas' ``isin`` of strings makes
    a Python object per value, 10 s for a million ids."""
    def strings(items: Iterable[str]) -> pa.Array:
        return pa.array(pd.Series(items if isinstance(items, pd.Series) else list(items), dtype=str), type=pa.large_string())

    return pc.is_in(strings(ids), value_set=strings(values)).to_numpy(zero_copy_only=False)
