"""A sample of embeddings as Embedding Projector files, as the seed exports them, without
TensorFlow: ``tensors.tsv`` (one vector a line), ``metadata.tsv`` (a header, then title and
category a line) and ``projector_config.pbtxt`` pointing TensorBoard's projector at them.

Open them at https://projector.tensorflow.org ("Load": the two TSV files), or run
``tensorboard --logdir DIR`` on the folder and choose the Projector tab.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TENSORS, METADATA, CONFIG = "tensors.tsv", "metadata.tsv", "projector_config.pbtxt"
METADATA_COLUMNS = ("title", "category")


def sample(products: pd.DataFrame, vectors: np.ndarray, size: int, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of ``size`` products (all of them if fewer): ``product_id``, the metadata
    columns and ``embedding`` (row i of ``vectors`` is the product in row i), by product id."""
    rows = np.sort(np.random.default_rng(seed).choice(len(products), size=min(size, len(products)), replace=False))
    picked = products.iloc[rows][["product_id", *METADATA_COLUMNS]].assign(embedding=list(vectors[rows]))
    return picked.sort_values("product_id", ignore_index=True)


def write(rows: pd.DataFrame, out_dir: Path, tensor_name: str) -> dict:
    """Write the three files for ``rows`` (a ``sample``); returns what was written."""
    vectors = np.stack(rows["embedding"].to_numpy()).astype(np.float32)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savetxt(out_dir / TENSORS, vectors, delimiter="\t", fmt="%.6g")
    lines = ["\t".join(METADATA_COLUMNS)] + ["\t".join(_cell(row[c]) for c in METADATA_COLUMNS) for _, row in rows.iterrows()]
    (out_dir / METADATA).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out_dir / CONFIG).write_text(
        f'embeddings {{\n  tensor_name: "{tensor_name}"\n  tensor_path: "{TENSORS}"\n  metadata_path: "{METADATA}"\n}}\n')
    return {"products": len(rows), "dimension": vectors.shape[1]}


def _cell(value: object) -> str:
    """A metadata cell: tabs and line breaks would shift columns or rows."""
    return " ".join(str(value).split()) if value is not None and value == value else ""
