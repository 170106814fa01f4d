"""The Object2Vec encoder at inference: token ids → embedding, in numpy.

The local trainer (``object2vec_trainer``) exports the pooled-embedding encoder as
``model.npz`` inside model.tar.gz; batch transform and query encoding both use this class, so
catalog and query vectors come from the same code. ``ModelEncoders`` loads a model version's
encoder from the object store, once.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catalog_search.layout import Layout
from catalog_search.storage import ObjectStore
from catalog_search.tokenizer import encode

MODEL_WEIGHTS = "model.npz"
MODEL_META = "model-meta.json"
VOCAB = "vocab.json"


@dataclass
class Encoder:
    token_embedding: np.ndarray  # [vocab, token_dim]; row 0 is padding
    projection_weight: np.ndarray  # [enc_dim, token_dim]
    projection_bias: np.ndarray  # [enc_dim]
    vocab: dict[str, int]
    max_seq_len: int

    @property
    def dim(self) -> int:
        return int(self.projection_bias.shape[0])

    def embed_ids(self, sequences: list[list[int]]) -> np.ndarray:
        """Mean of the token vectors of each sequence (padding excluded), then the projection."""
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        flat = np.fromiter((i for s in sequences for i in s), dtype=np.int64, count=int(lengths.sum()))
        owners = np.repeat(np.arange(len(sequences)), lengths)
        sums = np.zeros((len(sequences), self.token_embedding.shape[1]), dtype=np.float32)
        np.add.at(sums, owners, self.token_embedding[flat])
        counts = np.bincount(owners, weights=(flat != 0), minlength=len(sequences))
        pooled = sums / np.maximum(counts, 1.0)[:, None]
        return (pooled @ self.projection_weight.T + self.projection_bias).astype(np.float32)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return self.embed_ids([encode(t, self.vocab, self.max_seq_len) for t in texts])

    @classmethod
    def from_dir(cls, model_dir: Path) -> "Encoder":
        weights = np.load(Path(model_dir) / MODEL_WEIGHTS)
        meta = json.loads((Path(model_dir) / MODEL_META).read_text())
        vocab = json.loads((Path(model_dir) / VOCAB).read_text())
        return cls(
            weights["token_embedding"], weights["projection_weight"], weights["projection_bias"],
            vocab, int(meta["max_seq_len"]),
        )

    @classmethod
    def from_tarball(cls, data: bytes, extract_to: Path) -> "Encoder":
        extract_to.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(extract_to, filter="data")
        return cls.from_dir(extract_to)


class ModelEncoders:
    """The encoder of each model version, loaded from its model.tar.gz on first use."""

    def __init__(self, store: ObjectStore, cache_dir: Path):
        self.store, self.cache_dir = store, Path(cache_dir)
        self._encoders: dict[str, Encoder] = {}

    def __call__(self, model_version: str) -> Encoder:
        if model_version not in self._encoders:
            data = self.store.get_bytes(Layout.model_artifact(model_version))
            self._encoders[model_version] = Encoder.from_tarball(data, self.cache_dir / model_version)
        return self._encoders[model_version]
