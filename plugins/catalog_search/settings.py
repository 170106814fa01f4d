"""Settings, names and the object-store layout: the seams every stage agrees on.

Everything is read from the environment (``CATALOG_SEARCH_*``) so that the same code runs
on AWS and on one machine; only the connections (``aws_default``, ``opensearch_default``)
say where the services are.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from catalog_search.errors import BadInput

AWS_CONN_ID = "aws_default"
OPENSEARCH_CONN_ID = "opensearch_default"

# Asset URIs connect the DAGs (data-aware scheduling).
ASSET_CATALOG_SNAPSHOT = "s3://catalog-search/catalog/snapshot"
ASSET_EMBEDDING_MODEL = "s3://catalog-search/models/champion"
ASSET_ENRICHED_CATALOG = "s3://catalog-search/enrichment/enriched"
ASSET_LIVE_INDEX = "opensearch://catalog-search/products"

RUNNERS = ("local", "sagemaker")


def _env(name: str, default: str) -> str:
    return os.environ.get(f"CATALOG_SEARCH_{name}", default)


@dataclass(frozen=True)
class Settings:
    """Pipeline configuration; ``Settings.from_env()`` is the only constructor stages use."""

    bucket: str = "catalog-search-local"
    runner: str = "local"
    work_dir: Path = Path(".local/work")
    source_dir: Path = Path("data/fashion")  # the demo catalog in the repository
    table_name: str = "catalog-search-products"
    index_alias: str = "products"
    knn_engine: str = "lucene"
    embedding_dim: int = 64
    max_seq_len: int = 16
    pairs: int = 60_000
    positive_share: float = 0.5
    hard_negative_share: float = 0.2
    allocation: str = "sqrt"
    min_per_category: int = 5
    category_level: int | None = None
    pair_seed: int = 13
    vocab_min_count: int = 2
    vocab_max_size: int = 50_000
    pretrained_embeddings: str = ""
    row_tolerance: float = 0.1
    epochs: int = 4
    min_validation_accuracy: float = 0.75
    champion_tolerance: float = 0.02
    index_retention: int = 3
    sagemaker_role_arn: str = ""
    region: str = "us-east-1"

    @classmethod
    def from_env(cls) -> "Settings":
        runner = _env("RUNNER", "local")
        if runner not in RUNNERS:
            raise BadInput(f"CATALOG_SEARCH_RUNNER={runner!r}: expected one of {RUNNERS}")
        return cls(
            bucket=_env("BUCKET", cls.bucket),
            runner=runner,
            work_dir=Path(_env("WORK_DIR", str(cls.work_dir))).resolve(),
            source_dir=Path(_env("SOURCE_DIR", str(cls.source_dir))).resolve(),
            table_name=_env("TABLE", cls.table_name),
            index_alias=_env("INDEX_ALIAS", cls.index_alias),
            knn_engine=_env("KNN_ENGINE", cls.knn_engine),
            embedding_dim=int(_env("EMBEDDING_DIM", str(cls.embedding_dim))),
            max_seq_len=int(_env("MAX_SEQ_LEN", str(cls.max_seq_len))),
            pairs=int(_env("PAIRS", str(cls.pairs))),
            positive_share=float(_env("POSITIVE_SHARE", str(cls.positive_share))),
            hard_negative_share=float(_env("HARD_NEGATIVE_SHARE", str(cls.hard_negative_share))),
            allocation=_env("ALLOCATION", cls.allocation),
            min_per_category=int(_env("MIN_PER_CATEGORY", str(cls.min_per_category))),
            category_level=int(_env("CATEGORY_LEVEL", "0")) or None,
            pair_seed=int(_env("PAIR_SEED", str(cls.pair_seed))),
            vocab_min_count=int(_env("VOCAB_MIN_COUNT", str(cls.vocab_min_count))),
            vocab_max_size=int(_env("VOCAB_MAX_SIZE", str(cls.vocab_max_size))),
            pretrained_embeddings=_env("PRETRAINED_EMBEDDINGS", ""),
            row_tolerance=float(_env("ROW_TOLERANCE", str(cls.row_tolerance))),
            epochs=int(_env("EPOCHS", str(cls.epochs))),
            min_validation_accuracy=float(_env("MIN_VALIDATION_ACCURACY", str(cls.min_validation_accuracy))),
            champion_tolerance=float(_env("CHAMPION_TOLERANCE", str(cls.champion_tolerance))),
            index_retention=int(_env("INDEX_RETENTION", str(cls.index_retention))),
            sagemaker_role_arn=_env("SAGEMAKER_ROLE_ARN", ""),
            region=os.environ.get("AWS_DEFAULT_REGION", cls.region),
        )

    def training_data_spec(self):
        from catalog_search.pairs import PairSpec
        from catalog_search.training_data import TrainingDataSpec

        pairs = PairSpec(
            pairs=self.pairs, positive_share=self.positive_share, hard_negative_share=self.hard_negative_share,
            allocation=self.allocation, min_per_category=self.min_per_category, level=self.category_level,
            seed=self.pair_seed,
        )
        return TrainingDataSpec(pairs, self.max_seq_len, self.vocab_min_count, self.vocab_max_size)


def utc_stamp(when: datetime) -> str:
    """A sortable, path-safe UTC timestamp: later runs sort after earlier ones."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def snapshot_id_for(source: str, when: datetime) -> str:
    """Snapshot ids sort by time, so a backfill's older snapshot can be told from a newer one."""
    return f"{utc_stamp(when)}-{slug(source)}"


def slug(text: str, max_len: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:max_len] or "x"


def short_hash(*parts: object, length: int = 8) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:length]


def job_name(kind: str, *key: object) -> str:
    """Deterministic-unique SageMaker job name (≤ 63 chars, [a-zA-Z0-9-]).

    The same (kind, key) always gives the same name, so a retried task finds its own job
    instead of starting a second one; a different snapshot or run gives a different name.
    """
    readable = "-".join(slug(str(k), 16) for k in key)
    name = f"cs-{kind}-{readable}"[:52].rstrip("-")
    return f"{name}-{short_hash(kind, *key)}"


class Layout:
    """Object-store keys (S3 on AWS, moto locally); every prefix is keyed and immutable."""

    @staticmethod
    def snapshot(snapshot_id: str) -> str:
        return f"catalog/snapshots/{snapshot_id}/"

    @staticmethod
    def snapshot_products(snapshot_id: str) -> str:
        return f"catalog/snapshots/{snapshot_id}/products.parquet"

    @staticmethod
    def snapshot_validated(snapshot_id: str) -> str:
        """Written only when the snapshot passed its suite: failed snapshots are never compared with."""
        return f"catalog/snapshots/{snapshot_id}/validated.json"

    @staticmethod
    def training(snapshot_id: str, run_key: str) -> str:
        return f"training/{snapshot_id}/{run_key}/"

    @staticmethod
    def model(model_version: str) -> str:
        return f"models/{model_version}/"

    CHAMPION = "models/champion.json"
    LATEST_SNAPSHOT = "catalog/latest.json"
    LATEST_ENRICHMENT = "enrichment/latest.json"

    @staticmethod
    def enrichment(snapshot_id: str, model_version: str) -> str:
        return f"enrichment/{snapshot_id}/{model_version}/"

    @staticmethod
    def report(dag_id: str, run_key: str) -> str:
        return f"reports/{dag_id}/{slug(run_key, 80)}/"

