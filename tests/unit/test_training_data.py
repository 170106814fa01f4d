"""Object2Vec inputs: tokenizer outputs, the trimmed pretrained file, the pairs suite run on them,
and the Processing entry point, which must write exactly what ``prepare`` writes in process."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catalog_search.training.pairs import PairSpec
from catalog_search.training.tokenizer import trim_pretrained
from catalog_search.training.training_data import CHECK_FILE, DATA_DOCS_DIR, PAIRS_FILE, TrainingDataSpec, check, prepare

JOB = Path(__file__).resolve().parents[2] / "include" / "jobs" / "prepare_training_data.py"


@pytest.fixture
def catalog():
    rng = np.random.default_rng(1)
    words = {"A > shirts": ["navy", "shirt", "check", "formal"], "A > jeans": ["blue", "jeans", "slim", "denim"],
             "B > watches": ["silver", "watch", "analog", "steel"]}
    rows = []
    for i in range(300):
        category = list(words)[i % 3]
        rows.append({"product_id": f"p{i}", "category": category,
                     "title": " ".join(rng.choice(words[category], 3)) + f" brand{i % 7}"})
    return pd.DataFrame(rows)


@pytest.fixture
def glove(tmp_path):
    """A small generated GloVe-format file: 4-dimensional vectors, some words not in the catalog."""
    rng = np.random.default_rng(2)
    words = ["navy", "shirt", "blue", "jeans", "silver", "watch", "zebra", "quantum"]
    path = tmp_path / "glove.txt"
    path.write_text("".join(f"{w} {' '.join(f'{x:.4f}' for x in rng.normal(size=4))}\n" for w in words))
    return path


def test_prepare_writes_object2vec_channels(tmp_path, catalog, glove):
    spec = TrainingDataSpec(PairSpec(pairs=500, hard_negative_share=0.2), max_seq_len=3, vocab_min_count=1)
    report = prepare(catalog, spec, tmp_path / "out", glove)
    vocab = json.loads((tmp_path / "out/auxiliary/vocab.json").read_text())
    assert vocab["<pad>"] == 0 and vocab["<unk>"] == 1
    records = [json.loads(line) for line in (tmp_path / "out/train/pairs.jsonl").read_text().splitlines()]
    assert records and all(set(r) == {"label", "in0", "in1"} and 1 <= len(r["in0"]) <= 3 for r in records)
    assert all(max(r["in0"] + r["in1"]) < len(vocab) for r in records)
    total = sum(len((tmp_path / f"out/{s}/pairs.jsonl").read_text().splitlines()) for s in ("train", "validation", "test"))
    assert total == report["pairs"] == len(pd.read_parquet(tmp_path / "out/pairs.parquet"))
    vectors = (tmp_path / "out/auxiliary/embeddings.txt").read_text().splitlines()
    assert {line.split()[0] for line in vectors} <= set(vocab)
    # Words of the pretrained file the catalog lacks join the vocabulary after the training words.
    catalog_words = {w for t in catalog["title"] for w in t.split()}
    assert {"zebra", "quantum"} <= set(vocab) and min(vocab["zebra"], vocab["quantum"]) > max(vocab[w] for w in catalog_words)
    assert report["pretrained"] == {"dimension": 4, "words_found": len(vectors), "vocabulary": len(vocab)}


def test_the_vocabulary_cap_trims_the_pretrained_words(tmp_path, catalog, glove):
    full = prepare(catalog, TrainingDataSpec(PairSpec(pairs=200), vocab_min_count=1), tmp_path / "full", glove)
    capped = prepare(catalog, TrainingDataSpec(PairSpec(pairs=200), vocab_min_count=1, vocab_max_size=full["vocab_size"] - 1),
                     tmp_path / "capped", glove)
    vocab = json.loads((tmp_path / "capped/auxiliary/vocab.json").read_text())
    assert "zebra" in vocab and "quantum" not in vocab and capped["vocab_size"] == full["vocab_size"] - 1
    assert "quantum" not in (tmp_path / "capped/auxiliary/embeddings.txt").read_text()


def test_pretrained_lines_of_mixed_width_are_refused(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("navy 0.1 0.2\nshirt 0.3\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: 1 values for 'shirt', expected 2"):
        trim_pretrained(bad, {"navy": 2, "shirt": 3}, tmp_path / "out.txt")


def test_processing_entry_point_writes_what_the_task_writes(tmp_path, catalog):
    catalog.to_csv(tmp_path / "catalog.csv", index=False)
    spec = TrainingDataSpec(PairSpec(pairs=400, seed=3, level=None), max_seq_len=4)
    proc = subprocess.run([sys.executable, str(JOB), "--input", str(tmp_path / "catalog.csv"), "--output", str(tmp_path / "job"),
                           "--where", "s3://b/training/x/", *spec.to_arguments()], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    from catalog_search.training.catalog import read_catalog

    prepare(read_catalog(tmp_path / "catalog.csv"), spec, tmp_path / "task")
    for name in ("train/pairs.jsonl", "validation/pairs.jsonl", "test/pairs.jsonl", "auxiliary/vocab.json"):
        assert (tmp_path / "job" / name).read_bytes() == (tmp_path / "task" / name).read_bytes(), name
    checks = json.loads((tmp_path / "job" / CHECK_FILE).read_text())  # the pairs suite, run in the job
    assert checks["validation"]["success"] and checks["validation"]["where"] == "s3://b/training/x/"
    assert json.loads(proc.stdout)["checks_passed"] and (tmp_path / "job" / DATA_DOCS_DIR / "index.html").is_file()


def test_the_check_names_the_broken_rule_and_its_rows_when_a_product_leaks_across_splits(tmp_path, catalog):
    spec = TrainingDataSpec(PairSpec(pairs=400, seed=3), vocab_min_count=1)
    prepare(catalog, spec, tmp_path / "out")
    pairs = pd.read_parquet(tmp_path / "out" / PAIRS_FILE)
    train, test = pairs.index[pairs["split"] == "train"][0], pairs.index[pairs["split"] == "test"][0]
    pairs.loc[test, "product_id_0"] = pairs.loc[train, "product_id_0"]  # one training product in a test pair too
    pairs.to_parquet(tmp_path / "out" / PAIRS_FILE, index=False)
    checks = check(catalog, spec, tmp_path / "out", "s3://b/training/x/")
    failed = [r for r in checks["validation"]["results"] if not r["success"]]
    assert any("leaks_across_splits" in r["rule"] and r["unexpected_count"] >= 2 for r in failed), failed  # both its pairs
    assert json.loads((tmp_path / "out" / CHECK_FILE).read_text()) == checks


def test_the_spec_goes_to_a_job_as_short_arguments_and_comes_back_whole():
    """SageMaker takes at most 256 characters per container argument; the spec as one JSON was 260."""
    spec = TrainingDataSpec(PairSpec(pairs=1_000_000, positive_share=0.45, level=2, allocation="proportional", seed=99),
                            max_seq_len=32, vocab_min_count=3)
    arguments = spec.to_arguments()
    assert max(map(len, arguments)) < 64 and arguments[:2] == ["--spec", "pairs.pairs=1000000"]
    assert TrainingDataSpec.from_arguments(arguments[1::2]) == spec
    assert TrainingDataSpec.from_arguments(["max_seq_len=8"]) == TrainingDataSpec(max_seq_len=8)
    for bad in ("max_seq_len", "max_seq_len=eight"):
        with pytest.raises(ValueError, match="expected NAME=JSON"):
            TrainingDataSpec.from_arguments([bad])


def test_processing_entry_point_reports_bad_input(tmp_path):
    (tmp_path / "c.csv").write_text("id,name\n1,x\n")
    proc = subprocess.run([sys.executable, str(JOB), "--input", str(tmp_path / "c.csv"), "--output", str(tmp_path / "o"),
                           "--where", "s3://b/x/"], capture_output=True, text=True)
    assert proc.returncode == 1 and "missing required column(s)" in proc.stderr and "Traceback" not in proc.stderr
