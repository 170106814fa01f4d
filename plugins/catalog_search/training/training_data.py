"""Object2Vec training inputs from a catalog: pairs, vocabulary, JSON Lines per split, and
the trimmed pretrained embeddings (``prepare``), and the pairs suite on what it wrote (``check``).
Both run in the SageMaker Processing entry point ``include/jobs/prepare_training_data.py``, so the
task that follows reads a small summary, never the catalog or the pairs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from catalog_search.naming import short_hash
from catalog_search.settings import Settings
from catalog_search.store import object_store
from catalog_search.training import catalog as catalogs
from catalog_search.training import pairs as pair_sampling
from catalog_search.training import tokenizer

PAIRS_FILE = "pairs.parquet"
EVALUATION_FILE = "evaluation_pairs.parquet"  # the test channel's pairs, as text: the frozen evaluation set's form
EVALUATION_COLUMNS = ["product_id_0", "product_id_1", "title_0", "title_1", "label"]
REPORT_FILE = "report.json"
CHECK_FILE = "checks.json"  # the pairs suite's report, the catalog's taxonomy and the evaluation set's hash
DATA_DOCS_DIR = "data_docs/"
SUITE = "pairs"
VOCAB_FILE = "vocab.json"
PRETRAINED_FILE = "embeddings.txt"


@dataclass(frozen=True)
class TrainingDataSpec:
    pairs: pair_sampling.PairSpec = field(default_factory=pair_sampling.PairSpec)
    max_seq_len: int = Settings.max_seq_len
    vocab_min_count: int = Settings.vocab_min_count
    vocab_max_size: int = Settings.vocab_max_size

    @classmethod
    def from_settings(cls, settings: Settings) -> TrainingDataSpec:
        """The spec the settings describe (the pipeline's: ``CATALOG_SEARCH_PAIRS``, …)."""
        pairs = pair_sampling.PairSpec(
            pairs=settings.pairs, positive_share=settings.positive_share, hard_negative_share=settings.hard_negative_share,
            allocation=settings.allocation, min_per_category=settings.min_per_category, level=settings.category_level,
            validation_share=settings.validation_share, test_share=settings.test_share, seed=settings.pair_seed,
        )
        return cls(pairs, settings.max_seq_len, settings.vocab_min_count, settings.vocab_max_size)

    @classmethod
    def from_dict(cls, raw: dict) -> TrainingDataSpec:
        return cls(pair_sampling.PairSpec(**raw.get("pairs", {})), **{k: v for k, v in raw.items() if k != "pairs"})

    def to_arguments(self) -> list[str]:
        """The spec as a job's arguments, ``--spec NAME=JSON`` per field (``pairs.seed=13``):
        SageMaker takes at most 256 characters per container argument, and the whole spec as
        one JSON argument is longer."""
        fields = {**{f"pairs.{k}": v for k, v in asdict(self.pairs).items()},
                  **{k: v for k, v in asdict(self).items() if k != "pairs"}}
        return [part for name, value in fields.items() for part in (SPEC_OPTION, f"{name}={json.dumps(value)}")]

    @classmethod
    def from_arguments(cls, items: list[str]) -> TrainingDataSpec:
        """The spec of ``to_arguments``'s ``NAME=JSON`` items (fields not given keep their defaults)."""
        raw: dict = {}
        for item in items:
            name, equals, value = item.partition("=")
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                equals = ""
            if not equals:
                raise ValueError(f"{SPEC_OPTION} {item!r}: expected NAME=JSON, e.g. pairs.seed=13")
            *path, leaf = name.split(".")
            target = raw
            for part in path:
                target = target.setdefault(part, {})
            target[leaf] = parsed
        return cls.from_dict(raw)


SPEC_OPTION = "--spec"


def prepare(catalog: pd.DataFrame, spec: TrainingDataSpec, out_dir: Path, pretrained: Path | None = None,
            evaluation: pd.DataFrame | None = None) -> dict:
    """Write ``{train,validation,test}/pairs.jsonl``, ``auxiliary/vocab.json`` (and
    ``auxiliary/embeddings.txt``), ``pairs.parquet``, ``evaluation_pairs.parquet`` and
    ``report.json`` under out_dir.

    ``evaluation`` (``EVALUATION_COLUMNS``), the frozen evaluation set, becomes the test channel,
    so that every model of a taxonomy reports ``test:*`` metrics on the same pairs; its products
    never appear in training or validation pairs. Without it the sampled test split is the test
    channel (and ``evaluation_pairs.parquet`` is that split, ready to be frozen)."""
    out_dir = Path(out_dir)
    sample = pair_sampling.sample_pairs(catalog, spec.pairs)
    titles = catalog.set_index(catalog["product_id"].astype(str))["title"]
    if evaluation is None:
        test = sample.pairs[sample.pairs["split"] == "test"]
        evaluation = test.assign(title_0=titles.loc[test["product_id_0"]].to_numpy(),
                                 title_1=titles.loc[test["product_id_1"]].to_numpy())[EVALUATION_COLUMNS]
    held_out = pd.unique(pd.concat([evaluation["product_id_0"], evaluation["product_id_1"]]).astype(str))
    # Products split by a stable hash of their id stay in the test split, so this drops nothing
    # unless the split shares changed since the set was frozen.
    touches = sample.pairs["product_id_0"].isin(held_out) | sample.pairs["product_id_1"].isin(held_out)
    dropped = int((touches & (sample.pairs["split"] != "test")).sum())
    sample.pairs = sample.pairs[(sample.pairs["split"] == "test") | ~touches].reset_index(drop=True)
    train = sample.pairs[sample.pairs["split"] == "train"]
    train_ids = pd.unique(pd.concat([train["product_id_0"], train["product_id_1"]]))
    # The vocabulary comes from training products only: validation measures unseen words honestly.
    vocab = tokenizer.build_vocab(titles.loc[train_ids], spec.vocab_min_count, spec.vocab_max_size)
    if pretrained is not None:
        # The pretrained file's words join the vocabulary after the training words: frozen,
        # their vectors keep query words the catalog never uses near their meaning.
        vocab = tokenizer.extend_vocab(vocab, tokenizer.pretrained_words(pretrained), spec.vocab_max_size)
    used = pd.unique(pd.concat([sample.pairs["product_id_0"], sample.pairs["product_id_1"]]))
    encoded = {pid: tokenizer.encode(title, vocab, spec.max_seq_len) for pid, title in titles.loc[used].items()}
    for split in ("train", "validation"):
        part = sample.pairs[sample.pairs["split"] == split]
        tokenizer.write_pairs_jsonl(
            map(encoded.__getitem__, part["product_id_0"]), map(encoded.__getitem__, part["product_id_1"]),
            part["label"], out_dir / split / "pairs.jsonl",
        )
    tokenizer.write_pairs_jsonl(
        (tokenizer.encode(t, vocab, spec.max_seq_len) for t in evaluation["title_0"]),
        (tokenizer.encode(t, vocab, spec.max_seq_len) for t in evaluation["title_1"]),
        evaluation["label"], out_dir / "test" / "pairs.jsonl",
    )
    evaluation.to_parquet(out_dir / EVALUATION_FILE, index=False)
    tokenizer.write_vocab(vocab, out_dir / "auxiliary" / VOCAB_FILE)
    report = {**sample.report, "vocab_size": len(vocab), "max_seq_len": spec.max_seq_len,
              "evaluation_pairs": len(evaluation), "pairs_dropped_for_evaluation": dropped}
    if pretrained is not None:
        report["pretrained"] = tokenizer.trim_pretrained(pretrained, vocab, out_dir / "auxiliary" / PRETRAINED_FILE)
    sample.pairs.to_parquet(out_dir / PAIRS_FILE, index=False)
    (out_dir / REPORT_FILE).write_text(json.dumps({**report, "spec": {**asdict(spec)}}, indent=1, default=str))
    return report


def check(catalog: pd.DataFrame, spec: TrainingDataSpec, out_dir: Path, where: str) -> dict:
    """The pairs suite on the pairs ``prepare`` wrote under ``out_dir``, with its Data Docs there;
    writes and returns ``CHECK_FILE``: the suite's report, the catalog's taxonomy id (the frozen
    evaluation set's key) and the hash of the evaluation pairs (the set's identity)."""
    from catalog_search import validation

    out_dir = Path(out_dir)
    pairs = object_store.read_parquet(out_dir / PAIRS_FILE)
    category = catalogs.category_levels(catalog.set_index("product_id")["category"], spec.pairs.level)
    report = validation.validate(validation.pairs_frame(pairs, category), SUITE, where,
                                 validation.pairs_expectations(spec.pairs.positive_share), docs_dir=out_dir / DATA_DOCS_DIR)
    checks = {"validation": report.as_dict(), "taxonomy_id": catalogs.taxonomy_id(catalog["category"]),
              "evaluation_hash": evaluation_hash(object_store.read_parquet(out_dir / EVALUATION_FILE))}
    (out_dir / CHECK_FILE).write_text(json.dumps(checks, indent=1, sort_keys=True))
    return checks


def evaluation_hash(pairs: pd.DataFrame) -> str:
    """A hash of an evaluation set's pairs, as the store reads them back: models whose sets hash
    alike were scored alike."""
    return short_hash(*pd.util.hash_pandas_object(pairs, index=False).tolist())
