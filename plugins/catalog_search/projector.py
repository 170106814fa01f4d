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


def write(enriched: pd.DataFrame, out_dir: Path, sample: int, tensor_name: str, seed: int = 0) -> dict:
    """Write the three files for a seeded sample of ``enriched`` (product_id, title, category,
    embedding); returns what was written."""
    rows = enriched.sample(min(sample, len(enriched)), random_state=seed).sort_values("product_id")
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
