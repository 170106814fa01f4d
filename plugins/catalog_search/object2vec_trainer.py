"""The local Object2Vec trainer: a pooled-embedding encoder (Object2Vec's
``enc0_network=pooled_embedding``) with tied encoders and Object2Vec's comparator
(hadamard, concat, abs_diff) feeding an MLP with a softmax output.

Runs inside ``include/jobs/object2vec_train.py`` with SageMaker's channel folders; torch is
imported only here, because only the trainer needs it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from catalog_search.encoder import MODEL_META, MODEL_WEIGHTS, VOCAB
from catalog_search.sagemaker_jobs import hyperparameter_values
from catalog_search.settings import Settings

# The values and types of every hyperparameter come from the training request's own defaults;
# the seed is the local trainer's (Object2Vec has none).
DEFAULTS = {**hyperparameter_values(Settings(), vocab_size=0), "seed": 7}


def hyperparameters(raw: dict[str, str]) -> dict:
    """SageMaker passes every hyperparameter as a string; parse them against the defaults."""
    params = dict(DEFAULTS)
    for key, value in raw.items():
        default = DEFAULTS.get(key)
        params[key] = type(default)(value) if isinstance(default, (int, float)) and not isinstance(default, bool) else value
    if params["enc0_network"] != "pooled_embedding":
        raise ValueError(f"the local trainer implements enc0_network=pooled_embedding, got {params['enc0_network']!r}")
    return params


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


def train(channels: dict[str, Path], raw_params: dict[str, str], model_dir: Path, log=print) -> dict[str, float]:
    import torch
    from torch import nn

    params = hyperparameters(raw_params)
    torch.manual_seed(params["seed"])
    torch.set_num_threads(2)
    vocab = json.loads((channels["auxiliary"] / VOCAB).read_text())
    seq = params["enc0_max_seq_len"]
    data = {name: [torch.from_numpy(a) for a in read_pairs(path, seq)] for name, path in channels.items() if name != "auxiliary"}

    class PooledEncoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tokens = nn.Embedding(len(vocab), params["enc0_token_embedding_dim"], padding_idx=0)
            self.projection = nn.Linear(params["enc0_token_embedding_dim"], params["enc_dim"])

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            mask = (ids != 0).float().unsqueeze(-1)
            pooled = (self.tokens(ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.projection(pooled)

    encoder = PooledEncoder()
    if params.get("enc0_pretrained_embedding_file"):
        _load_pretrained(encoder.tokens.weight, channels["auxiliary"] / params["enc0_pretrained_embedding_file"], vocab, log)
    comparator = nn.Sequential(
        nn.Dropout(params["dropout"]), nn.Linear(4 * params["enc_dim"], params["mlp_dim"]), nn.ReLU(),
        nn.Linear(params["mlp_dim"], 2),
    )

    def logits(in0: torch.Tensor, in1: torch.Tensor) -> torch.Tensor:
        a, b = encoder(in0), encoder(in1)
        return comparator(torch.cat([a * b, a, b, (a - b).abs()], dim=1))

    parameters = list(encoder.parameters()) + list(comparator.parameters())
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

    model_dir.mkdir(parents=True, exist_ok=True)
    np.savez(
        model_dir / MODEL_WEIGHTS,
        token_embedding=encoder.tokens.weight.detach().numpy(),
        projection_weight=encoder.projection.weight.detach().numpy(),
        projection_bias=encoder.projection.bias.detach().numpy(),
    )
    (model_dir / VOCAB).write_text(json.dumps(vocab, ensure_ascii=False))
    (model_dir / MODEL_META).write_text(
        json.dumps({"encoder": "pooled_embedding", "max_seq_len": seq, "hyperparameters": params, "metrics": metrics}, indent=1)
    )
    return metrics


def _load_pretrained(weight, path: Path, vocab: dict[str, int], log) -> None:
    """Start the token embeddings of known words from the pretrained vectors (GloVe format)."""
    import torch

    from catalog_search.tokenizer import read_pretrained

    vectors = read_pretrained(path)
    dims = {len(v) for v in vectors.values()}
    if dims and dims != {weight.shape[1]}:
        raise ValueError(f"{path.name} has {sorted(dims)}-dimensional vectors; enc0_token_embedding_dim is {weight.shape[1]}")
    rows = [(vocab[w], v) for w, v in vectors.items() if w in vocab]
    with torch.no_grad():
        for row, vector in rows:
            weight[row] = torch.tensor(vector)
    log(f"pretrained embeddings: {len(rows)} of {len(vocab)} vocabulary words initialised from {path.name}")
