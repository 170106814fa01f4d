"""An enriched catalog read a batch of rows at a time: a task that must touch every product (the
index load and its checks) holds one batch, not the catalog.

The catalog's Parquet file is copied from the store to the task's disk (boto3 streams it in
parts), then read a batch of ``BATCH_ROWS`` rows at a time; a frame already in memory (a rebuild
from DynamoDB, a test) is cut into the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from catalog_search.store import object_store
from catalog_search.store.changes import as_matrix

BATCH_ROWS = 50_000  # 77 MB of 384-d vectors, and their documents' fields
VECTORS = "embedding"


@dataclass(frozen=True)
class CatalogBatches:
    """The catalog at ``path`` (a Parquet file on local disk) or ``frame``, ``rows`` products."""

    rows: int
    path: Path | None = None
    frame: pd.DataFrame | None = None

    @classmethod
    def from_store(cls, store: object_store.ObjectStore, key: str, local: Path) -> CatalogBatches:
        import pyarrow.parquet as pq

        path = store.download_file(key, local)
        return cls(pq.ParquetFile(path).metadata.num_rows, path=path)

    @classmethod
    def of(cls, catalog: pd.DataFrame | CatalogBatches) -> CatalogBatches:
        return catalog if isinstance(catalog, CatalogBatches) else cls(len(catalog), frame=catalog)

    def __len__(self) -> int:
        return self.rows

    def __iter__(self) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """Each batch as a frame (its ``embedding`` arrays views of the matrix) and its vectors as
        one float32 matrix, in the catalog's order."""
        if self.frame is not None:
            for start in range(0, self.rows, BATCH_ROWS):
                batch = self.frame.iloc[start: start + BATCH_ROWS]
                yield batch, as_matrix(batch[VECTORS])
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self.path is not None
        file = pq.ParquetFile(self.path)
        for batch in file.iter_batches(batch_size=BATCH_ROWS):
            yield object_store.frame_with_vectors(pa.Table.from_batches([batch]), VECTORS)

    @property
    def dim(self) -> int:
        """The vectors' dimension (0 for an empty catalog)."""
        first = next(iter(self), None)
        return first[1].shape[1] if first is not None else 0

    def remove(self) -> None:
        """Delete the local copy (a frame has none)."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)
