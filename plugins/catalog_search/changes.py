"""What changed between two enriched catalogs: the products to write again (new, or different in
any field or in their vector) and the products to remove. The index and the DynamoDB table each
hold one enriched catalog; a night applies only this difference to them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


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


def everything(after: pd.DataFrame) -> CatalogChanges:
    """Every product of ``after`` is new (nothing held before)."""
    ids = after["product_id"].astype(str)
    return CatalogChanges(after, frozenset(ids), (), ())


def diff(before: pd.DataFrame, after: pd.DataFrame) -> CatalogChanges:
    """Compare by product id, field by field (missing values equal each other) and vector by
    vector, exactly: one vectorised pass, no per-row hashing. Catalogs with different columns
    differ everywhere."""
    old = before.set_index(before["product_id"].astype(str))
    new = after.set_index(after["product_id"].astype(str))
    if set(old.columns) != set(new.columns):
        return everything(after)
    common = new.index.intersection(old.index)
    fields = [c for c in new.columns if c != "embedding"]
    a, b = new.loc[common, fields], old.loc[common, fields]
    differs = ~((a == b) | (a.isna() & b.isna())).all(axis=1).to_numpy()
    if len(common):
        vectors_now, vectors_before = _matrix(new.loc[common, "embedding"]), _matrix(old.loc[common, "embedding"])
        if vectors_now.shape != vectors_before.shape:  # another embedding size: another model
            return everything(after)
        differs |= (vectors_now != vectors_before).any(axis=1)
    added = ~new.index.isin(old.index)
    rewrite = pd.Series(added, index=new.index)
    rewrite.loc[common[differs]] = True
    return CatalogChanges(
        upserts=after[rewrite.to_numpy()],
        new_ids=frozenset(new.index[added]),
        removed_ids=tuple(old.index[~old.index.isin(new.index)]),
        unchanged_ids=tuple(common[~differs]),
    )


def _matrix(column: pd.Series) -> np.ndarray:
    return np.stack(column.to_numpy()).astype(np.float32, copy=False)
