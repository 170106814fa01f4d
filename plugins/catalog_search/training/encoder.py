"""The Object2Vec encoder at inference: token ids → embedding, in numpy.

The local trainer (``object2vec_trainer``) exports the encoder it trained (``enc0_network``
pooled_embedding, hcnn or bilstm) as ``model.npz`` + ``model-meta.json`` + ``vocab.json``
inside model.tar.gz; batch transform and query encoding both use these classes, so catalog and
query vectors come from the same code. Each forward pass mirrors the trainer's torch module of
the same name (tests/unit/test_encoders.py holds them equal). ``ModelEncoders`` loads a model
version's encoder from the object store, once.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from catalog_search.store.object_keys import ObjectKeys
from catalog_search.store.object_store import ObjectStore
from catalog_search.training.tokenizer import encode

MODEL_WEIGHTS = "model.npz"
MODEL_META = "model-meta.json"
VOCAB = "vocab.json"
CHUNK = 4096  # sequences per forward pass: bounds the memory of any batch


@dataclass
class Encoder:
    """Token ids → float32 vectors. Id 0 is padding (a zero vector, whatever row 0 holds);
    sequences are cut to max_seq_len. ``from_dir`` returns the subclass of the model's network."""

    token_embedding: np.ndarray  # [vocab, token_dim]
    vocab: dict[str, int]
    max_seq_len: int

    network: ClassVar[str]

    @property
    def dim(self) -> int:
        raise NotImplementedError

    @classmethod
    def load(cls, w: dict, meta: dict, vocab: dict) -> Encoder:
        """The network's encoder from model.npz's arrays and model-meta.json."""
        raise NotImplementedError

    def embed_ids(self, sequences: list[list[int]]) -> np.ndarray:
        out = np.empty((len(sequences), self.dim), dtype=np.float32)
        for start in range(0, len(sequences), CHUNK):
            ids = _padded(sequences[start : start + CHUNK], self.max_seq_len)
            mask = ids != 0
            tokens = self.token_embedding[ids] * mask[..., None]
            out[start : start + CHUNK] = self._forward(tokens, np.maximum(mask.sum(1), 1))
        return out

    def _forward(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """[n, T, token_dim] token vectors (zero past each length) and lengths ≥ 1 → [n, dim]."""
        raise NotImplementedError

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return self.embed_ids([encode(t, self.vocab, self.max_seq_len) for t in texts])

    @classmethod
    def from_dir(cls, model_dir: Path) -> Encoder:
        weights = dict(np.load(Path(model_dir) / MODEL_WEIGHTS))
        meta = json.loads((Path(model_dir) / MODEL_META).read_text())
        vocab = json.loads((Path(model_dir) / VOCAB).read_text())
        network = meta.get("encoder", "pooled_embedding")
        if network not in NETWORKS:
            raise ValueError(f"{model_dir}: unknown encoder {network!r} (known: {', '.join(NETWORKS)})")
        return NETWORKS[network].load(weights, meta, vocab)

    @classmethod
    def from_tarball(cls, data: bytes, scratch: Path) -> Encoder:
        """The encoder in a model.tar.gz, extracted into a directory of its own under ``scratch``
        (removed once loaded): another process loading the same model never reads a half-written file."""
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch) as extract_to, tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(extract_to, filter="data")
            return cls.from_dir(Path(extract_to))


@dataclass
class PooledEmbedding(Encoder):
    """pooled_embedding: mean of the token vectors (padding excluded), then the projection (a
    model trained with ``local_pooled_output=token_embedding_dim`` has none: the mean is its vector)."""

    projection_weight: np.ndarray | None  # [enc_dim, token_dim]
    projection_bias: np.ndarray | None  # [enc_dim]
    network: ClassVar[str] = "pooled_embedding"

    @property
    def dim(self) -> int:
        return int((self.projection_bias if self.projection_bias is not None else self.token_embedding[0]).shape[0])

    def _forward(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        pooled = tokens.sum(1) / lengths[:, None].astype(np.float32)
        if self.projection_weight is None:
            return pooled
        return pooled @ self.projection_weight.T + self.projection_bias

    @classmethod
    def load(cls, w: dict, meta: dict, vocab: dict) -> PooledEmbedding:
        return cls(w["token_embedding"], vocab, int(meta["max_seq_len"]), w.get("projection_weight"), w.get("projection_bias"))


@dataclass
class HierarchicalCNN(Encoder):
    """hcnn: per layer, a convolution (ReLU) over the windows that start inside the real
    tokens (a sequence shorter than the width is zero-padded to one window); then the max."""

    conv_weights: list[np.ndarray]  # per layer [enc_dim, in_channels, width] (torch's Conv1d layout)
    conv_biases: list[np.ndarray]  # per layer [enc_dim]
    network: ClassVar[str] = "hcnn"

    @property
    def dim(self) -> int:
        return int(self.conv_biases[-1].shape[0])

    def _forward(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        for weight, bias in zip(self.conv_weights, self.conv_biases):
            out_channels, in_channels, width = weight.shape
            if x.shape[1] < width:
                x = np.pad(x, ((0, 0), (0, width - x.shape[1]), (0, 0)))
            steps = x.shape[1] - width + 1
            windows = np.concatenate([x[:, k : k + steps] for k in range(width)], axis=2)  # [n, steps, width * in]
            kernel = weight.transpose(2, 1, 0).reshape(width * in_channels, out_channels)
            lengths = np.maximum(lengths - width + 1, 1)
            x = np.maximum(windows @ kernel + bias, 0) * (np.arange(steps) < lengths[:, None])[..., None]
        return x.max(1)  # ReLU outputs are ≥ 0, so the zeroed windows never win

    @classmethod
    def load(cls, w: dict, meta: dict, vocab: dict) -> HierarchicalCNN:
        layers = range(int(meta["layers"]))
        return cls(w["token_embedding"], vocab, int(meta["max_seq_len"]),
                   [w[f"conv{k}_weight"] for k in layers], [w[f"conv{k}_bias"] for k in layers])


@dataclass
class BiLSTM(Encoder):
    """bilstm: bidirectional LSTM layers (torch's gate order i, f, g, o); the vector is the
    forward state after the last real token next to the backward state after the first."""

    layers: list[tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]]  # per layer, forward and backward (w_ih, w_hh, bias)
    network: ClassVar[str] = "bilstm"

    @property
    def dim(self) -> int:
        return 2 * int(self.layers[-1][0][1].shape[1])

    def _forward(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        n, steps, _ = x.shape
        active = np.arange(steps) < lengths[:, None]  # [n, T]: a state moves only over real tokens
        for layer in self.layers:
            outputs, finals = [], []
            for (w_ih, w_hh, bias), order in zip(layer, (range(steps), range(steps - 1, -1, -1))):
                gates_in = x @ w_ih.T + bias  # [n, T, 4 * hidden], all steps at once
                h = np.zeros((n, w_hh.shape[1]), dtype=np.float32)
                c = np.zeros_like(h)
                out = np.zeros((n, steps, h.shape[1]), dtype=np.float32)
                for t in order:
                    i, f, g, o = np.split(gates_in[:, t] + h @ w_hh.T, 4, axis=1)
                    c_next = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
                    h_next = _sigmoid(o) * np.tanh(c_next)
                    real = active[:, t, None]
                    c, h = np.where(real, c_next, c), np.where(real, h_next, h)
                    out[:, t] = h * real
                outputs.append(out)
                finals.append(h)
            x = np.concatenate(outputs, axis=2)
        return np.concatenate(finals, axis=1)

    @classmethod
    def load(cls, w: dict, meta: dict, vocab: dict) -> BiLSTM:
        def direction(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return w[f"{name}_weight_ih"], w[f"{name}_weight_hh"], w[f"{name}_bias"]

        layers: list[tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]] = [
            (direction(f"lstm_l{k}_forward"), direction(f"lstm_l{k}_backward")) for k in range(int(meta["layers"]))]
        return cls(w["token_embedding"], vocab, int(meta["max_seq_len"]), layers)


NETWORKS: dict[str, type[Encoder]] = {c.network: c for c in (PooledEmbedding, HierarchicalCNN, BiLSTM)}


def model_vocabulary(store: ObjectStore, model_version: str) -> tuple[dict[str, int], int]:
    """The vocabulary and ``max_seq_len`` a model was trained with, from its training data (the
    auxiliary channel's vocab.json, the request's ``enc0_max_seq_len``). It does not depend on
    the model's own files, which differ between SageMaker's Object2Vec and the local trainer."""
    lineage = store.get_json(ObjectKeys.model_lineage(model_version))
    data, prefix = ObjectStore.at(store.s3, lineage["training_uri"])
    return data.get_json(f"{prefix}auxiliary/{VOCAB}"), int(lineage["hyperparameters"]["enc0_max_seq_len"])


def _padded(sequences: list[list[int]], max_seq_len: int) -> np.ndarray:
    """Right-padded id matrix [n, longest] (at least one column), each sequence cut to max_seq_len."""
    lengths = np.fromiter((min(len(s), max_seq_len) for s in sequences), dtype=np.int64, count=len(sequences))
    ids = np.zeros((len(sequences), max(int(lengths.max(initial=0)), 1)), dtype=np.int64)
    flat = np.fromiter((i for s in sequences for i in s[:max_seq_len]), dtype=np.int64, count=int(lengths.sum()))
    ids[np.arange(ids.shape[1]) < lengths[:, None]] = flat
    return ids


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|


class ModelEncoders:
    """The encoder of each model version, loaded from its model.tar.gz on first use, once: the
    searches that arrive while it loads (a server's first, or the first after a swap to a new
    model) wait for it instead of each downloading and extracting the model."""

    def __init__(self, store: ObjectStore, scratch_dir: Path):
        self.store, self.scratch_dir = store, Path(scratch_dir)
        self._encoders: dict[str, Encoder] = {}
        self._loading = threading.Lock()

    def __call__(self, model_version: str) -> Encoder:
        if model_version not in self._encoders:
            with self._loading:
                if model_version not in self._encoders:
                    data = self.store.get_bytes(ObjectKeys.model_artifact(model_version))
                    self._encoders[model_version] = Encoder.from_tarball(data, self.scratch_dir)
        return self._encoders[model_version]
