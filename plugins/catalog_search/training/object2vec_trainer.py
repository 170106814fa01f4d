"""The local Object2Vec trainer: Object2Vec's enc0 networks (``enc0_network`` =
``pooled_embedding``, ``hcnn`` or ``bilstm``) as tied encoders, Object2Vec's comparator
(hadamard, concat, abs_diff) feeding an MLP with a softmax output.

Runs inside ``include/jobs/object2vec_train.py`` with SageMaker's channel folders. torch is
imported here, at module level: only the training job (and its tests) import this module.
``build_encoder`` and ``export`` make and save an encoder without training, so that tests can
compare it with the numpy ``catalog_search.training.encoder`` that serves it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from catalog_search.sagemaker.job_requests import hyperparameter_values
from catalog_search.settings import ENCODER_NETWORKS, POOLED_OUTPUTS, Settings
from catalog_search.training.encoder import MODEL_META, MODEL_WEIGHTS, VOCAB

# The values and types of every hyperparameter come from the training request's own defaults;
# the seed is the local trainer's (Object2Vec has none).
DEFAULTS = {**hyperparameter_values(Settings(), vocab_size=0), "seed": 7}
# Object2Vec's enc0_layers="auto", by its documented meanings: 4 layers for hcnn, 1 for bilstm
# (pooled_embedding has no layers). The project's default is 1 layer (Settings.encoder_layers).
AUTO_LAYERS = {"pooled_embedding": 1, "hcnn": 4, "bilstm": 1}


def hyperparameters(raw: dict[str, str]) -> dict:
    """SageMaker passes every hyperparameter as a string; parse them against the defaults."""
    params = dict(DEFAULTS)
    for key, value in raw.items():
        default = DEFAULTS.get(key)
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        params[key] = type(default)(value) if numeric and not (key == "enc0_layers" and value == "auto") else value  # type: ignore[misc]
    network = params["enc0_network"]
    if network not in ENCODER_NETWORKS:
        raise ValueError(f"the local trainer implements enc0_network {', '.join(ENCODER_NETWORKS)}; got {network!r}")
    if params["enc0_layers"] == "auto":
        params["enc0_layers"] = AUTO_LAYERS[network]
    freeze = str(params["enc0_freeze_pretrained_embedding"]).lower()
    if freeze not in ("true", "false"):
        raise ValueError(f"enc0_freeze_pretrained_embedding is true or false, got {freeze!r}")
    params["enc0_freeze_pretrained_embedding"] = freeze
    if not 1 <= params["enc0_layers"] <= 4:
        raise ValueError(f"enc0_layers is auto or 1 to 4, got {params['enc0_layers']}")
    if not 1 <= params["enc0_cnn_filter_width"] <= 9:
        raise ValueError(f"enc0_cnn_filter_width is 1 to 9, got {params['enc0_cnn_filter_width']}")
    if network == "bilstm" and params["enc_dim"] % 2:
        raise ValueError(f"bilstm needs an even enc_dim (half per direction), got {params['enc_dim']}")
    return params


class Enc0(nn.Module):
    """Padded ids [n, T] (0 is padding) → [n, enc_dim]. Padding tokens are zero vectors and
    each network reads only a sequence's real length, so padding never changes a vector."""

    def __init__(self, vocab_size: int, token_dim: int):
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, token_dim, padding_idx=0)

    @property
    def dim(self) -> int:
        """The length of the vectors ``forward`` returns."""
        raise NotImplementedError

    def encode(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[n, T, token_dim] token vectors (zero past each length) and lengths ≥ 1 → [n, dim]."""
        raise NotImplementedError

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != 0
        lengths = mask.sum(1).clamp(min=1)
        width = int(lengths.max()) if len(ids) else 1  # right-padded: columns past the longest are padding
        return self.encode(self.tokens(ids[:, :width]) * mask[:, :width].unsqueeze(-1), lengths)

    def weights(self) -> dict[str, np.ndarray]:
        """The arrays of model.npz, by the names the numpy encoder reads."""
        return {"token_embedding": _array(self.tokens.weight)}


class PooledEmbedding(Enc0):
    """pooled_embedding: the mean of the token vectors, then a linear map to enc_dim; or, with
    ``pooled_output="token_embedding_dim"``, the mean alone (Object2Vec's documentation can be
    read either way: ``settings.POOLED_OUTPUTS``)."""

    def __init__(self, vocab_size: int, token_dim: int, enc_dim: int, project: bool = True):
        super().__init__(vocab_size, token_dim)
        self.projection = nn.Linear(token_dim, enc_dim) if project else None

    @property
    def dim(self) -> int:
        return self.projection.out_features if self.projection is not None else self.tokens.embedding_dim

    def encode(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        pooled = x.sum(1) / lengths.unsqueeze(1)
        return self.projection(pooled) if self.projection is not None else pooled

    def weights(self) -> dict[str, np.ndarray]:
        if self.projection is None:
            return super().weights()
        return {**super().weights(), "projection_weight": _array(self.projection.weight),
                "projection_bias": _array(self.projection.bias)}


class HierarchicalCNN(Enc0):
    """hcnn: enc0_layers Conv1d layers (width enc0_cnn_filter_width, enc_dim channels, ReLU),
    each over the windows that start inside the real tokens (a sequence shorter than the width
    is zero-padded to one window), then the max over those windows."""

    def __init__(self, vocab_size: int, token_dim: int, enc_dim: int, width: int, layers: int):
        super().__init__(vocab_size, token_dim)
        self.width = width
        self.convs = nn.ModuleList(nn.Conv1d(token_dim if k == 0 else enc_dim, enc_dim, width) for k in range(layers))

    @property
    def dim(self) -> int:
        return self._convs()[-1].out_channels

    def _convs(self) -> list[nn.Conv1d]:
        return cast(list[nn.Conv1d], list(self.convs))

    def encode(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        for conv in self._convs():
            if x.shape[1] < self.width:
                x = nn.functional.pad(x, (0, 0, 0, self.width - x.shape[1]))
            x = torch.relu(conv(x.transpose(1, 2))).transpose(1, 2)
            lengths = (lengths - self.width + 1).clamp(min=1)
            x = x * (torch.arange(x.shape[1]) < lengths.unsqueeze(1)).unsqueeze(-1)
        return x.max(1).values  # ReLU outputs are ≥ 0, so the zeroed windows never win

    def weights(self) -> dict[str, np.ndarray]:
        out = super().weights()
        for k, conv in enumerate(self._convs()):
            out[f"conv{k}_weight"], out[f"conv{k}_bias"] = _array(conv.weight), _array(cast(torch.Tensor, conv.bias))
        return out


class BiLSTM(Enc0):
    """bilstm: enc0_layers bidirectional LSTM layers, enc_dim // 2 units per direction; the
    vector is the forward state after the last real token next to the backward state after the
    first (packed sequences: padding is never read)."""

    def __init__(self, vocab_size: int, token_dim: int, enc_dim: int, layers: int):
        super().__init__(vocab_size, token_dim)
        self.lstm = nn.LSTM(token_dim, enc_dim // 2, num_layers=layers, bidirectional=True, batch_first=True)

    @property
    def dim(self) -> int:
        return 2 * self.lstm.hidden_size

    def encode(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (state, _) = self.lstm(packed)  # [layers * 2, n, enc_dim // 2], in the batch's order
        return torch.cat([state[-2], state[-1]], dim=1)

    def weights(self) -> dict[str, np.ndarray]:
        out, lstm = super().weights(), self.lstm.state_dict()
        for k in range(self.lstm.num_layers):
            for direction, suffix in (("forward", f"l{k}"), ("backward", f"l{k}_reverse")):
                name = f"lstm_l{k}_{direction}"
                out[f"{name}_weight_ih"] = _array(lstm[f"weight_ih_{suffix}"])
                out[f"{name}_weight_hh"] = _array(lstm[f"weight_hh_{suffix}"])
                out[f"{name}_bias"] = _array(lstm[f"bias_ih_{suffix}"] + lstm[f"bias_hh_{suffix}"])
        return out


def build_encoder(params: dict, vocab_size: int, pooled_output: str = POOLED_OUTPUTS[0]) -> Enc0:
    """The enc0 encoder that ``params`` (parsed by ``hyperparameters``) describe, untrained."""
    token_dim, enc_dim, layers = params["enc0_token_embedding_dim"], params["enc_dim"], params["enc0_layers"]
    network = params["enc0_network"]
    if pooled_output not in POOLED_OUTPUTS:
        raise ValueError(f"pooled_output is one of {', '.join(POOLED_OUTPUTS)}, got {pooled_output!r}")
    if network == "pooled_embedding":
        return PooledEmbedding(vocab_size, token_dim, enc_dim, project=pooled_output == "enc_dim")
    if network == "hcnn":
        return HierarchicalCNN(vocab_size, token_dim, enc_dim, params["enc0_cnn_filter_width"], layers)
    return BiLSTM(vocab_size, token_dim, enc_dim, layers)


def export(encoder: Enc0, params: dict, vocab: dict[str, int], model_dir: Path, metrics: dict | None = None) -> None:
    """model.npz (the network's weights), model-meta.json (network and shapes) and vocab.json."""
    model_dir.mkdir(parents=True, exist_ok=True)
    np.savez(model_dir / MODEL_WEIGHTS, **encoder.weights())  # type: ignore[arg-type]  # numpy's stub: names are arrays
    (model_dir / VOCAB).write_text(json.dumps(vocab, ensure_ascii=False))
    meta = {
        "encoder": params["enc0_network"], "max_seq_len": params["enc0_max_seq_len"],
        "token_embedding_dim": params["enc0_token_embedding_dim"], "enc_dim": params["enc_dim"],
        "dim": encoder.dim,
        "layers": params["enc0_layers"], "cnn_filter_width": params["enc0_cnn_filter_width"],
        "hyperparameters": params, "metrics": metrics or {},
    }
    (model_dir / MODEL_META).write_text(json.dumps(meta, indent=1))


def read_pairs(channel: Path, max_seq_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All *.jsonl of a channel as padded id matrices [n, max_seq_len] and labels [n]."""
    rows = [json.loads(line) for f in sorted(channel.glob("*.jsonl")) for line in f.open() if line.strip()]
    if not rows:
        raise ValueError(f"channel {channel} holds no JSON Lines records")

    def pad(key: str) -> np.ndarray:
        out = np.zeros((len(rows), max_seq_len), dtype=np.int64)
        for r, row in enumerate(rows):
            ids = row[key][:max_seq_len]
            out[r, : len(ids)] = ids
        return out

    return pad("in0"), pad("in1"), np.array([int(r["label"]) for r in rows], dtype=np.int64)


def train(channels: dict[str, Path], raw_params: dict[str, str], model_dir: Path, log=print,
          pooled_output: str = POOLED_OUTPUTS[0]) -> dict[str, float]:
    params = hyperparameters(raw_params)
    torch.manual_seed(params["seed"])
    torch.set_num_threads(2)
    vocab = json.loads((channels["auxiliary"] / VOCAB).read_text())
    seq = params["enc0_max_seq_len"]
    data = {name: [torch.from_numpy(a) for a in read_pairs(path, seq)] for name, path in channels.items() if name != "auxiliary"}

    encoder = build_encoder(params, len(vocab), pooled_output)

    if params.get("enc0_pretrained_embedding_file"):
        _load_pretrained(encoder.tokens.weight, channels["auxiliary"] / params["enc0_pretrained_embedding_file"], vocab, log)
        if params["enc0_freeze_pretrained_embedding"] == "true":
            encoder.tokens.weight.requires_grad_(False)
            log("token embeddings frozen (enc0_freeze_pretrained_embedding=true)")
    comparator = nn.Sequential(
        nn.Dropout(params["dropout"]), nn.Linear(4 * encoder.dim, params["mlp_dim"]), nn.ReLU(),
        nn.Linear(params["mlp_dim"], 2),
    )

    def logits(in0: torch.Tensor, in1: torch.Tensor) -> torch.Tensor:
        a, b = encoder(torch.cat([in0, in1])).chunk(2)  # tied encoders: one pass for both sides
        return comparator(torch.cat([a * b, a, b, (a - b).abs()], dim=1))

    parameters = [p for p in list(encoder.parameters()) + list(comparator.parameters()) if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=params["learning_rate"])
    loss_fn = nn.CrossEntropyLoss()
    in0, in1, labels = data["train"]
    batch = params["mini_batch_size"]
    for epoch in range(params["epochs"]):
        encoder.train(), comparator.train()
        order = torch.randperm(len(labels))
        total = 0.0
        for start in range(0, len(labels), batch):
            idx = order[start : start + batch]
            optimizer.zero_grad()
            loss = loss_fn(logits(in0[idx], in1[idx]), labels[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        log(f"epoch {epoch + 1}/{params['epochs']}: train cross_entropy {total / len(labels):.4f}")

    metrics: dict[str, float] = {}
    encoder.eval(), comparator.eval()
    with torch.no_grad():
        for name in ("validation", "test"):
            if name not in data:
                continue
            out = logits(data[name][0], data[name][1])
            metrics[f"{name}:cross_entropy"] = float(loss_fn(out, data[name][2]))
            metrics[f"{name}:accuracy"] = float((out.argmax(1) == data[name][2]).float().mean())
    for key, value in metrics.items():
        if not math.isfinite(value):
            raise ValueError(f"metric {key} is {value}: training diverged")

    export(encoder, params, vocab, model_dir, metrics)
    return metrics


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().numpy().astype(np.float32)


def _load_pretrained(weight, path: Path, vocab: dict[str, int], log) -> None:
    """Start the token embeddings of known words from the pretrained vectors (GloVe format)."""
    from catalog_search.training.tokenizer import read_pretrained

    vectors = read_pretrained(path)
    dims = {len(v) for v in vectors.values()}
    if dims and dims != {weight.shape[1]}:
        raise ValueError(f"{path.name} has {sorted(dims)}-dimensional vectors; enc0_token_embedding_dim is {weight.shape[1]}")
    rows = [(vocab[w], v) for w, v in vectors.items() if w in vocab]
    with torch.no_grad():
        for row, vector in rows:
            weight[row] = torch.tensor(vector)
    log(f"pretrained embeddings: {len(rows)} of {len(vocab)} vocabulary words initialised from {path.name}")
