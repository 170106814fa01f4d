"""The object store (S3 on AWS, moto locally) as the few operations the stages need: every
object-store call of the library goes through ``ObjectStore``."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog_search.errors import NotFound

# Rows a Parquet row group holds in every file the project writes: a reader of a catalog a batch
# at a time (``store.batches``) then decodes a row group, not the file (pyarrow's default, 1,048,576
# rows, is a whole catalog of a million products). A batch of 20,000 enriched 384-d products is
# about 0.1 GB as a frame; 50,000 took 0.26 GB.
ROW_GROUP_ROWS = 20_000
# Parts of the managed transfers (upload_file, download_file, copy). boto3's default, 8 MB, makes a
# million enriched products (1.6 GB) 200 requests; moto's S3 reads the whole object for each
# ranged GET or part copy, so a night's copies and downloads grew with the square of the catalog
# there. Parts of 64 MB are 25 requests on S3 (still more than boto3's 10 threads take at once)
# and a 50-million-product catalog about 1,200 parts, within S3's 10,000.
TRANSFER_PART_BYTES = 64 << 20


class MissingObject(NotFound):
    """An expected object is absent: the message names the s3:// URI."""


@dataclass
class ObjectStore:
    s3: Any  # a boto3 S3 client
    bucket: str

    @classmethod
    def at(cls, s3: Any, uri: str) -> tuple[ObjectStore, str]:
        """The store of an ``s3://bucket/key`` URI (any bucket) and the key."""
        bucket, key = split_s3_uri(uri)
        return cls(s3, bucket), key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def ensure_bucket(self) -> None:
        """Create the bucket when there is none (in the client's region: outside us-east-1 S3 wants
        it named); any other answer, a refused HeadBucket say, is raised as it is."""
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except self.s3.exceptions.ClientError as err:
            if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
            region = self.s3.meta.region_name
            located = {} if region in (None, "us-east-1") else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            self.s3.create_bucket(Bucket=self.bucket, **located)

    def put_bytes(self, key: str, data: bytes) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            raise MissingObject(f"{self.uri(key)} does not exist") from None

    def put_json(self, key: str, value: Any) -> str:
        return self.put_bytes(key, json.dumps(value, indent=1, sort_keys=True).encode())

    def get_json(self, key: str, default: Any = MissingObject) -> Any:
        try:
            return json.loads(self.get_bytes(key))
        except MissingObject:
            if default is MissingObject:
                raise
            return default

    def put_parquet(self, key: str, frame: Any, vectors: dict[str, Any] | None = None) -> str:
        """``frame`` as Parquet at ``key``; ``vectors``: more vector columns, each given as one
        matrix (row i belongs to the frame's row i), written after the frame's columns."""
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(arrow_table(frame, vectors), buffer, row_group_size=ROW_GROUP_ROWS)
        return self.put_bytes(key, buffer.getvalue())

    def get_parquet(self, key: str, columns: list[str] | None = None) -> Any:
        """The frame at ``key``, or only ``columns`` of it (the others are not decoded); a vector
        column comes back as a column of float32 arrays."""
        return frame_of(self.get_table(key, columns))

    def get_table(self, key: str, columns: list[str] | None = None) -> Any:
        """The Arrow table at ``key``, or only ``columns`` of it: for ``vector_matrix``, or to
        pick rows before making a frame."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        # An Arrow buffer, not a BytesIO: Parquet then reads the bytes in place instead of through
        # Python file calls (a million packed 256-d vectors: 0.25 s instead of 1.3 s). ParquetFile,
        # not read_table: it decodes each row group into one chunk, which ``vector_matrix`` copies
        # once into the matrix; read_table's batches of 128k rows were copied twice.
        return pq.ParquetFile(pa.BufferReader(self.get_bytes(key))).read(columns=columns)

    def upload_file(self, path: Path, key: str) -> str:
        self.s3.upload_file(str(path), self.bucket, key, Config=transfer_config())
        return self.uri(key)

    def download_file(self, key: str, path: Path) -> Path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.s3.download_file(self.bucket, key, str(path), Config=transfer_config())
        except self.s3.exceptions.ClientError as err:  # download_file heads the object first: a 404
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise MissingObject(f"{self.uri(key)} does not exist") from None
            raise
        return Path(path)

    def copy(self, source: ObjectStore, source_key: str, key: str) -> str:
        """The object ``source_key`` of ``source`` copied to ``key``, in S3 (a managed copy: parts
        of ``TRANSFER_PART_BYTES`` for a large object, which a single CopyObject refuses above 5 GB)."""
        try:
            self.s3.copy({"Bucket": source.bucket, "Key": source_key}, self.bucket, key, Config=transfer_config())
        except self.s3.exceptions.ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise MissingObject(f"{source.uri(source_key)} does not exist") from None
            raise
        return self.uri(key)

    def etag(self, key: str) -> str:
        """The object's ETag: it changes whenever the object is written again."""
        try:
            return self.s3.head_object(Bucket=self.bucket, Key=key)["ETag"]
        except self.s3.exceptions.ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise MissingObject(f"{self.uri(key)} does not exist") from None
            raise

    def exists(self, key: str) -> bool:
        return self.list_keys(key, limit=1) == [key]

    def list_keys(self, prefix: str, limit: int | None = None) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
            if limit and len(keys) >= limit:
                return keys[:limit]
        return keys

    def list_prefixes(self, prefix: str) -> list[str]:
        """The "folders" directly under prefix."""
        found: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
            found += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        return found

    def upload_dir(self, local_dir: Path, prefix: str) -> str:
        for path in sorted(p for p in Path(local_dir).rglob("*") if p.is_file()):
            self.upload_file(path, prefix + path.relative_to(local_dir).as_posix())
        return self.uri(prefix)

    def download_prefix(self, prefix: str, local_dir: Path) -> list[Path]:
        """Every object under the prefix into local_dir, as SageMaker lays out an S3Prefix input:
        paths relative to the prefix's last ``/`` (a prefix naming one object keeps its file name)."""
        paths = []
        parent = prefix[: prefix.rfind("/") + 1]
        for key in self.list_keys(prefix):
            if key.endswith("/"):
                continue
            paths.append(self.download_file(key, Path(local_dir) / key[len(parent):]))
        if not paths:
            raise MissingObject(f"nothing under {self.uri(prefix)}")
        return paths


VECTOR_ENCODING = "float32-le"  # a vector column's field metadata: packed little-endian float32


def write_parquet(path: Path, frame: Any, vectors: dict[str, Any] | None = None) -> Path:
    """As ``ObjectStore.put_parquet`` writes an object, to a local file."""
    import pyarrow.parquet as pq

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(arrow_table(frame, vectors), path, row_group_size=ROW_GROUP_ROWS)
    return Path(path)


def read_parquet(path: Path, columns: list[str] | None = None) -> Any:
    """As ``ObjectStore.get_parquet`` reads an object, from a local file (a job's input)."""
    import pyarrow.parquet as pq

    return frame_of(pq.ParquetFile(path).read(columns=columns))


def arrow_table(frame: Any, vectors: dict[str, Any] | None = None) -> Any:
    """``frame`` as an Arrow table in which a column of equal-length float32 vectors (the
    embeddings) is one fixed-size binary value a row, the vector packed as little-endian float32
    (as in the DynamoDB items), marked by the field's ``vector`` metadata. Parquet decodes a list
    column value by value with its nesting levels; a million 256-d vectors as fixed-size lists
    took 5.1 s to read as a frame and 6.2 s to write, packed 1.0 s and 1.7 s
    (``benchmarks/vector_column.py``).
    ``vectors``: more such columns given as matrices, appended; a matrix is packed as it is,
    while a column of row arrays is stacked first."""
    import numpy as np
    import pyarrow as pa

    stacked = {name: np.stack(frame[name].to_numpy()) for name in _vector_columns(frame)}
    table = pa.Table.from_pandas(frame.drop(columns=list(stacked)), preserve_index=False)
    for name, matrix in stacked.items():
        table = table.add_column(list(frame.columns).index(name), *_packed(name, matrix))
    for name, matrix in (vectors or {}).items():
        table = table.append_column(*_packed(name, matrix))
    return table


def _packed(name: str, matrix: Any) -> tuple[Any, Any]:
    """The field and column of a vector column (``arrow_table``) holding ``matrix``."""
    import numpy as np
    import pyarrow as pa

    matrix = np.ascontiguousarray(matrix, dtype="<f4")
    column = pa.FixedSizeBinaryArray.from_buffers(pa.binary(matrix.shape[1] * 4), len(matrix), [None, pa.py_buffer(matrix)])
    return pa.field(name, column.type, nullable=False, metadata={"vector": VECTOR_ENCODING}), column


def frame_of(table: Any) -> Any:
    """The pandas frame of an Arrow table, vector columns (``arrow_table``) as columns of arrays."""
    return _frame_and_matrices(table)[0]


def frame_with_vectors(table: Any, name: str) -> tuple[Any, Any]:
    """``frame_of`` the table, and its vector column ``name`` as the one matrix whose rows the
    frame's arrays are (made once: each is a copy of a gigabyte at a million 256-d vectors)."""
    frame, matrices = _frame_and_matrices(table)
    return frame, matrices[name] if name in matrices else vector_matrix(table.column(name))


def _frame_and_matrices(table: Any) -> tuple[Any, dict[str, Any]]:

    names = [field.name for field in table.schema if _is_vector_field(field)]
    frame = table.drop_columns(names).to_pandas()
    matrices = {name: vector_matrix(table.column(name)) for name in names}
    for name, matrix in matrices.items():
        frame = with_vectors(frame, name, matrix, at=table.schema.get_field_index(name))
    return frame, matrices


def with_vectors(frame: Any, name: str, matrix: Any, at: int | None = None) -> Any:
    """``frame`` with the column ``name`` of ``matrix``'s rows (views, not copies), inserted at
    position ``at`` (default: last)."""
    import pandas as pd

    frame = frame.copy(deep=False)
    frame.insert(len(frame.columns) if at is None else at, name, pd.Series(list(matrix), dtype=object, index=frame.index))
    return frame


def _is_vector_field(field: Any) -> bool:
    return (field.metadata or {}).get(b"vector") == VECTOR_ENCODING.encode()


def vector_matrix(column: Any) -> Any:
    """A vector column of an Arrow table as one float32 matrix, without a copy per row. Also
    reads the fixed-size float32 lists that enriched catalogs written before the packed column
    hold, so that a night can carry their vectors over."""
    import numpy as np
    import pyarrow as pa

    # combine_chunks copies even a single chunk (a gigabyte to allocate and fault in: 0.5-4 s here).
    packed = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    if pa.types.is_fixed_size_list(packed.type):
        return packed.flatten().to_numpy().astype(np.float32, copy=False).reshape(len(packed), packed.type.list_size)
    width = packed.type.byte_width // 4
    if not len(packed):
        return np.empty((0, width), dtype=np.float32)
    values = np.frombuffer(packed.buffers()[1], dtype="<f4", count=len(packed) * width, offset=packed.offset * width * 4)
    return values.reshape(len(packed), width)


def _vector_columns(frame: Any) -> list[str]:
    import numpy as np

    def is_vectors(column: Any) -> bool:
        first = column.iloc[0] if len(column) and column.dtype == object else None
        return isinstance(first, np.ndarray) and first.ndim == 1 and first.dtype == np.float32 and first.size > 0 \
            and column.map(lambda v: isinstance(v, np.ndarray) and v.shape == first.shape).all()

    return [name for name in frame.columns if is_vectors(frame[name])]


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def transfer_config() -> Any:
    """The managed transfers' settings: parts of ``TRANSFER_PART_BYTES``."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=TRANSFER_PART_BYTES, multipart_chunksize=TRANSFER_PART_BYTES)
