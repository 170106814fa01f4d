"""An enriched catalog read a batch of rows at a time: a task that must touch every product (the
index load and its checks) holds one batch, not the catalog.

The catalog's Parquet file is copied from the store to the task's disk (boto3 streams it in
parts), then read a batch of ``BATCH_ROWS`` rows at a time, a row group each
(``object_store.ROW_GROUP_ROWS``); a frame already in memory (a rebuild from DynamoDB, a test) is
cut into the same batches.

The file is read without pyarrow's pre-buffering, which reads every column chunk the batches will
need ahead of them: a million 384-d products (1.6 GB of vectors) then peaked at 1.8 GB and took
6.8 s, read a buffer of ``READ_BUFFER`` bytes at a time 0.34 GB and 1.0 s. After each batch the
Arrow memory pool gives back what it freed: mimalloc keeps it otherwise, and 250,000 enriched
products read in batches of 50,000 held 0.44 GB at the end instead of 0.35.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from catalog_search.store import object_store

BATCH_ROWS = object_store.ROW_GROUP_ROWS  # 31 MB of 384-d vectors, and their documents' fields
READ_BUFFER = 1 << 20
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
        file = pq.ParquetFile(self.path, pre_buffer=False, buffer_size=READ_BUFFER)
        for batch in file.iter_batches(batch_size=BATCH_ROWS):
            yield object_store.frame_with_vectors(pa.Table.from_batches([batch]), VECTORS)
            pa.default_memory_pool().release_unused()

    def product_ids(self) -> pd.Series:
        """Every product's id, in order (the one column read)."""
        if self.frame is not None:
            return self.frame["product_id"].astype(str).reset_index(drop=True)
        import pyarrow.parquet as pq

        return pq.read_table(self.path, columns=["product_id"]).column("product_id").to_pandas().astype(str)

    @property
    def dim(self) -> int:
        """The vectors' dimension (0 for an empty catalog)."""
        first = next(iter(self), None)
        return first[1].shape[1] if first is not None else 0

    def remove(self) -> None:
        """Delete the local copy (a frame has none)."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def id_batches(path: Path) -> Iterator[Any]:
    """The ``product_id`` column of the Parquet file at ``path``, ``BATCH_ROWS`` at a time (Arrow arrays)."""
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path, pre_buffer=False, buffer_size=READ_BUFFER).iter_batches(batch_size=BATCH_ROWS, columns=["product_id"]):
        yield batch.column(0)


def as_matrix(vectors: Iterable[np.ndarray]) -> np.ndarray:
    """A column of vectors as one float32 matrix (0 × 0 for none); a matrix is returned as is."""
    if isinstance(vectors, np.ndarray) and vectors.ndim == 2:
        return vectors.astype(np.float32, copy=False)
    vectors = list(vectors)
    return np.stack(vectors).astype(np.float32, copy=False) if vectors else np.empty((0, 0), dtype=np.float32)


def row_norms(matrix: np.ndarray) -> np.ndarray:
    """The Euclidean norm of each row, without a temporary the size of the matrix (empty for none)."""
    return np.sqrt(np.einsum("ij,ij->i", matrix, matrix)) if matrix.size else np.empty(0, dtype=np.float32)
