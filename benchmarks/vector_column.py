"""The enriched catalog's vector column in Parquet: packed float32 (``object_store.arrow_table``)
against the fixed-size float32 list it replaced, measured in the same run: seconds to write a
catalog of ``--products`` 256-d vectors, to read it back as a frame (``object_store.frame_of``) and as
one matrix (``object_store.vector_matrix``), from an Arrow buffer as ``ObjectStore.get_table`` reads;
and the packed frame read through a ``BytesIO``, as the store read before.

    python benchmarks/vector_column.py [--products 1000000] [--dim 256]
"""

from __future__ import annotations

import argparse
import io
import sys
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from catalog_search.store.object_store import arrow_table, frame_of, vector_matrix


def as_fixed_size_lists(table: pa.Table, name: str = "embedding") -> pa.Table:
    """The baseline: the same table with its vector column as fixed-size float32 lists."""
    matrix = vector_matrix(table.column(name))
    column = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), matrix.shape[1])
    return table.set_column(table.schema.get_field_index(name), name, column)


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def measure(table: pa.Table) -> dict[str, float]:
    buffer = io.BytesIO()
    write, _ = timed(lambda: pq.write_table(table, buffer))
    data = buffer.getvalue()
    as_frame, _ = timed(lambda: frame_of(pq.read_table(pa.BufferReader(data))))
    as_matrix, _ = timed(lambda: vector_matrix(pq.read_table(pa.BufferReader(data), columns=["embedding"]).column("embedding")))
    through_python, _ = timed(lambda: frame_of(pq.read_table(io.BytesIO(data))))
    return {"write": write, "read as a frame": as_frame, "read as a matrix": as_matrix,
            "frame through a BytesIO": through_python, "GB": len(data) / 1e9}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=256)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"product_id": [f"p-{i:07d}" for i in range(args.products)],
                          "embedding": list(rng.standard_normal((args.products, args.dim), dtype=np.float32))})
    packed = arrow_table(frame)
    results = {"fixed-size list": measure(as_fixed_size_lists(packed)), "packed float32": measure(packed)}
    print(f"{args.products:,} vectors of {args.dim} float32")
    print(f"{'':<18} {'write s':>8} {'frame s':>8} {'matrix s':>9} {'BytesIO frame s':>16} {'GB':>6}")
    for name, figures in results.items():
        print(f"{name:<18} {figures['write']:>8.2f} {figures['read as a frame']:>8.2f} {figures['read as a matrix']:>9.2f} "
              f"{figures['frame through a BytesIO']:>16.2f} {figures['GB']:>6.2f}")
    baseline, packed_figures = results["fixed-size list"], results["packed float32"]
    print("packed against fixed-size lists: " + ", ".join(
        f"{step} {baseline[step] / packed_figures[step]:.1f}× faster" for step in ("write", "read as a frame", "read as a matrix")))
    print(f"packed, a frame read from an Arrow buffer against through a BytesIO: "
          f"{packed_figures['frame through a BytesIO'] / packed_figures['read as a frame']:.1f}× faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
