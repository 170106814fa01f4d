"""Deterministic tokenizer, vocabulary and Object2Vec JSON Lines.

Object2Vec reads sequences of integer token ids: ``{"label": 1, "in0": [...], "in1": [...]}``
for training and ``{"in0": [...]}`` for inference, and maps ids to words through the
``vocab.json`` given as ``enc0_vocab_file``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def tokenize(text: str | None) -> list[str]:
    """NFKC-normalised, lower-cased word tokens; punctuation separates tokens."""
    if not text:
        return []
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def build_vocab(texts: Iterable[str | None], min_count: int = 1, max_size: int = 50_000) -> dict[str, int]:
    """Token → id, most frequent first (ties alphabetical), ids 0 and 1 for padding and unknown."""
    counts = Counter(token for text in texts for token in tokenize(text))
    ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    vocab = {PAD: 0, UNK: 1}
    for token in ranked[: max(0, max_size - len(vocab))]:
        vocab[token] = len(vocab)
    return vocab


def encode(text: str | None, vocab: dict[str, int], max_seq_len: int) -> list[int]:
    """Token ids truncated to max_seq_len; an empty text becomes [unk] (Object2Vec needs ≥ 1 id)."""
    ids = [vocab.get(t, vocab[UNK]) for t in tokenize(text)][:max_seq_len]
    return ids or [vocab[UNK]]


def write_vocab(vocab: dict[str, int], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(vocab, ensure_ascii=False))
    return path


def write_pairs_jsonl(left: Iterable[list[int]], right: Iterable[list[int]], labels: Iterable[int], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w") as out:
        for in0, in1, label in zip(left, right, labels):
            out.write(json.dumps({"label": int(label), "in0": in0, "in1": in1}) + "\n")
            n += 1
    return n


def write_inference_jsonl(sequences: Iterable[list[int]], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w") as out:
        for in0 in sequences:
            out.write(json.dumps({"in0": in0}) + "\n")
            n += 1
    return n


def trim_pretrained(source: Path, vocab: dict[str, int], target: Path) -> dict:
    """Copy only the vocabulary's words of a GloVe-format text file (``word v1 v2 …`` per line)
    for Object2Vec's auxiliary channel; returns the dimension and how many words were found."""
    dim, kept = None, 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with Path(source).open(encoding="utf-8", errors="strict") as src, target.open("w", encoding="utf-8") as out:
        for line_no, line in enumerate(src, 1):
            word, _, rest = line.rstrip("\n").partition(" ")
            if word not in vocab:
                continue
            width = len(rest.split())
            if dim is None:
                dim = width
            elif width != dim:
                raise ValueError(f"{source}:{line_no}: {width} values for {word!r}, expected {dim} like the lines before")
            out.write(line if line.endswith("\n") else line + "\n")
            kept += 1
    return {"dimension": dim, "words_found": kept, "vocabulary": len(vocab)}


def pretrained_words(path: Path) -> list[str]:
    """The words of a GloVe-format file, in file order, that are whole tokens of this tokenizer
    (so that a query can reach them)."""
    words = []
    with Path(path).open(encoding="utf-8") as src:
        for line in src:
            word = line.split(" ", 1)[0]
            if tokenize(word) == [word]:
                words.append(word)
    return words


def extend_vocab(vocab: dict[str, int], words: Iterable[str], max_size: int) -> dict[str, int]:
    """The vocabulary plus new words after its own (ids keep their frequency order), up to max_size."""
    extended = dict(vocab)
    for word in words:
        if len(extended) >= max_size:
            break
        extended.setdefault(word, len(extended))
    return extended


def read_pretrained(path: Path) -> dict[str, list[float]]:
    vectors = {}
    with Path(path).open(encoding="utf-8") as src:
        for line in src:
            word, *values = line.rstrip("\n").split(" ")
            vectors[word] = [float(v) for v in values]
    return vectors
