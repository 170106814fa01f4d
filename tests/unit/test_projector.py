"""Embedding Projector export: the files TensorBoard's projector reads, rows aligned, sample seeded."""

import numpy as np
import pandas as pd

from catalog_search.training import projector


def _products(n=30):
    return pd.DataFrame({
        "product_id": [f"p{i:02d}" for i in range(n)],
        "title": [f"Men\tnavy shirt {i}\n" if i == 3 else f"Men navy shirt {i}" for i in range(n)],
        "category": ["Apparel > Topwear > Shirts"] * (n - 1) + [None],
        "price": [float(i) for i in range(n)],
    })


def _vectors(n=30):
    return np.arange(4, dtype=np.float32) + np.arange(n, dtype=np.float32)[:, None]  # shirt i has arange(4) + i


def _sample(n=30, size=30):
    return projector.sample(_products(n), _vectors(n), size)


def test_the_projector_files_hold_aligned_vectors_and_metadata(tmp_path):
    written = projector.write(_sample(), tmp_path, tensor_name="cs-o2v-x")
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


def test_the_sample_is_the_same_for_the_same_seed_and_capped_by_the_catalog():
    picked = _sample(size=10)
    ids = picked["product_id"].tolist()
    assert ids == _sample(size=10)["product_id"].tolist() and len(ids) == 10 and ids == sorted(ids)
    assert ids != projector.sample(_products(), _vectors(), 10, seed=1)["product_id"].tolist()
    assert list(picked.columns) == ["product_id", *projector.METADATA_COLUMNS, "embedding"]
    assert all(vector[0] == int(pid[1:]) for pid, vector in zip(picked["product_id"], picked["embedding"]))
    assert len(_sample(n=5, size=10)) == 5
