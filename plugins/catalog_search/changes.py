"""What changed between two enriched catalogs: the products to write again (new, or different in
any field or in their vector) and the products to remove. The index and the DynamoDB table each
hold one enriched catalog; a night applies only this difference to them."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from catalog_search.layout import Layout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogChanges:
    upserts: pd.DataFrame  # rows of the new catalog that are new or changed
    new_ids: frozenset[str]  # of those, the products the old catalog lacks
    removed_ids: tuple[str, ...]  # products of the old catalog the new one lacks
    unchanged_ids: tuple[str, ...]

    @property
    def summary(self) -> dict:
        return {"new": len(self.new_ids), "changed": len(self.upserts) - len(self.new_ids),
                "removed": len(self.removed_ids), "unchanged": len(self.unchanged_ids)}

    def kinds(self) -> pd.DataFrame:
        """``product_id, change`` (new, changed or removed) of every product that changed: with
        the new catalog, all ``from_kinds`` needs to make these changes again."""
        upserts = self.upserts["product_id"].astype(str)
        return pd.DataFrame({
            "product_id": pd.concat([upserts, pd.Series(self.removed_ids, dtype=str)], ignore_index=True),
            "change": np.concatenate([np.where(is_in(upserts, self.new_ids), "new", "changed"),
                                      np.full(len(self.removed_ids), "removed")]),
        })


def kept_changes(store, before_snapshot: str, snapshot_id: str, model_version: str) -> str:
    """Where the changes from ``before_snapshot``'s enriched catalog to this snapshot's are kept
    (``kinds``): found once a night, by whichever stage has both catalogs first. The key names
    the ETags of both catalog objects, so a catalog written again is compared again."""
    compared = hashlib.sha256((store.etag(Layout.enriched_products(before_snapshot, model_version))
                               + store.etag(Layout.enriched_products(snapshot_id, model_version))).encode())
    return Layout.catalog_changes(snapshot_id, model_version, before_snapshot, compared.hexdigest()[:16])


def keep(store, key: str, found: CatalogChanges) -> None:
    """Store ``found`` at ``key``, the place ``kept_changes`` gave for it."""
    store.put_parquet(key, found.kinds())
    log.info("what changed: %s (%s)", found.summary, store.uri(key))


def from_kinds(kinds: pd.DataFrame, after: pd.DataFrame) -> CatalogChanges:
    """The changes ``kinds`` lists, with the rows of ``after``, the new catalog they were found in."""
    ids = after["product_id"].astype(str)
    rewrite = is_in(ids, kinds.loc[kinds["change"] != "removed", "product_id"])
    # tolist: iterating an Arrow-backed string Series builds each value through pandas (1.2 s a
    # million; tolist 0.1 s).
    return CatalogChanges(
        upserts=after[rewrite],
        new_ids=frozenset(kinds.loc[kinds["change"] == "new", "product_id"]),
        removed_ids=tuple(kinds.loc[kinds["change"] == "removed", "product_id"]),
        unchanged_ids=tuple(ids[~rewrite].tolist()),
    )


def everything(after: pd.DataFrame) -> CatalogChanges:
    """Every product of ``after`` is new (nothing held before)."""
    ids = after["product_id"].astype(str)
    return CatalogChanges(after, frozenset(ids), (), ())


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
    kept = np.zeros(len(old_ids), dtype=bool)
    kept[old_rows] = True
    return CatalogChanges(
        upserts=after[rewrite],
        new_ids=frozenset(new_ids[at_old < 0]),
        removed_ids=tuple(old_ids[~kept].tolist()),
        unchanged_ids=tuple(new_ids.iloc[rows[~differs]].tolist()),
    )


def is_in(ids: Iterable[str], values: Iterable[str]) -> np.ndarray:
    """Which of the product ids are among ``values``, in Arrow: pandas' ``isin`` of strings makes
    a Python object per value, 10 s for a million ids."""
    def strings(items: Iterable[str]) -> pa.Array:
        return pa.array(pd.Series(items if isinstance(items, pd.Series) else list(items), dtype=str), type=pa.large_string())

    return pc.is_in(strings(ids), value_set=strings(values)).to_numpy(zero_copy_only=False)


def as_matrix(vectors: Iterable[np.ndarray]) -> np.ndarray:
    """A column of vectors as one float32 matrix (0 × 0 for none); a matrix is returned as is."""
    if isinstance(vectors, np.ndarray) and vectors.ndim == 2:
        return vectors.astype(np.float32, copy=False)
    vectors = list(vectors)
    return np.stack(vectors).astype(np.float32, copy=False) if vectors else np.empty((0, 0), dtype=np.float32)


def row_norms(matrix: np.ndarray) -> np.ndarray:
    """The Euclidean norm of each row, without a temporary the size of the matrix (empty for none)."""
    return np.sqrt(np.einsum("ij,ij->i", matrix, matrix)) if matrix.size else np.empty(0, dtype=np.float32)
