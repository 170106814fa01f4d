"""Embedding Projector export: the files TensorBoard's projector reads, rows aligned, sample seeded."""

import numpy as np
import pandas as pd

from catalog_search import projector


def _enriched(n=30):
    return pd.DataFrame({
        "product_id": [f"p{i:02d}" for i in range(n)],
        "title": [f"Men\tnavy shirt {i}\n" if i == 3 else f"Men navy shirt {i}" for i in range(n)],
        "category": ["Apparel > Topwear > Shirts"] * (n - 1) + [None],
        "embedding": [np.arange(4, dtype=np.float32) + i for i in range(n)],
    })


def test_the_projector_files_hold_aligned_vectors_and_metadata(tmp_path):
    written = projector.write(_enriched(), tmp_path, sample=30, tensor_name="cs-o2v-x")
    assert written == {"products": 30, "dimension": 4}
    vectors = np.loadtxt(tmp_path / projector.TENSORS, delimiter="\t", ndmin=2)
    metadata = (tmp_path / projector.METADATA).read_text(encoding="utf-8").splitlines()
    assert vectors.shape == (30, 4) and metadata[0] == "title\tcategory" and len(metadata) == 31
    assert all(len(line.split("\t")) == 2 for line in metadata)
    for vector, line in zip(vectors, metadata[1:]):  # each line describes its vector: shirt i has arange(4) + i
        assert line.split("\t")[0] == f"Men navy shirt {int(vector[0])}"  # a tab or line break in a title is a space
    assert metadata[-1].endswith("\t")  # a missing category is an empty cell
    config = (tmp_path / projector.CONFIG).read_text()
    assert 'tensor_name: "cs-o2v-x"' in config and 'tensor_path: "tensors.tsv"' in config and 'metadata_path: "metadata.tsv"' in config


def test_the_sample_is_the_same_for_the_same_seed_and_capped_by_the_catalog(tmp_path):
    projector.write(_enriched(), tmp_path / "a", sample=10, tensor_name="m")
    projector.write(_enriched(), tmp_path / "b", sample=10, tensor_name="m")
    assert (tmp_path / "a" / projector.METADATA).read_bytes() == (tmp_path / "b" / projector.METADATA).read_bytes()
    assert projector.write(_enriched(5), tmp_path / "c", sample=10, tensor_name="m")["products"] == 5
