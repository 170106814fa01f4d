"""The enriched catalog of a snapshot, assembled from local files: the work of the
``assemble_enriched`` Processing job (``include/jobs/assemble_enriched.py``), so that no Airflow
worker holds a catalog. The transform's ``.out`` lines are joined back to their products with the
carried-over vectors, checked (the embeddings suite), and written with the changes from the
enriched catalog the vectors were carried from and the projector's sample; the task that follows
(``stages.enrichment.publish_enriched``) reads the small summary and publishes what passed.

Files under the output folder (``OUTPUT_FILES``): the summary (``SUMMARY_FILE``: counts and the
suite's report), and only when every check passed the enriched catalog, the changes and the
sample. A failed check is a summary that says so, not a failed job: the task raises it as the
validation failure it is, with the report, and publishes nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from catalog_search import validation
from catalog_search.store import changes, object_store
from catalog_search.store.batches import row_norms
from catalog_search.store.changes import is_in
from catalog_search.training import projector

log = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"
PRODUCTS_FILE = "products.parquet"
CHANGES_DIR = "changes/"  # changes.kept_frames' files, to be kept under changes.kept_changes
PROJECTOR_SAMPLE_FILE = "projector_sample.parquet"
DATA_DOCS_DIR = "data_docs/"
SUITE = "embeddings"
CANARY_MIN_COSINE = 0.999


@dataclass(frozen=True)
class Inputs:
    """What the job reads, as local paths (the Processing job's channels)."""
    products: Path  # the snapshot's products
    order: Path  # the transform's input order (product ids)
    transform_output: Path  # the folder of the transform's .out parts
    carried: Path  # product_id, from_snapshot of the carried-over products
    before: Path | None  # the enriched catalog they come from (None: nothing carried)
    where: str  # the transform output's URI, for the report
    model_dim: int | None  # the length of the model's vectors as its gate recorded it (None: unknown)
    projector_sample: int  # products in the projector's sample (0: none)


@dataclass(frozen=True)
class CarriedOver:
    """The enriched catalog the carried-over vectors come from, read once."""
    snapshot_id: str  # "" when nothing is carried over
    fields: pd.DataFrame  # every column but the vectors
    vectors: np.ndarray  # its vector matrix
    rows: np.ndarray  # the carried-over products' rows in it

    NOTHING: ClassVar[CarriedOver]

    @property
    def ids(self) -> pd.Series:
        """The carried-over products, in the order of ``rows``."""
        return self.fields["product_id"].iloc[self.rows].reset_index(drop=True)


CarriedOver.NOTHING = CarriedOver("", pd.DataFrame({"product_id": pd.Series(dtype=str)}), np.empty((0, 0), dtype=np.float32),
                                  np.empty(0, dtype=np.int64))


def assemble(inputs: Inputs, output: Path) -> dict:
    """Assemble, check and write under ``output``; returns the summary it wrote there."""
    output.mkdir(parents=True, exist_ok=True)
    try:
        summary = _assemble(inputs, output)
    except validation.ValidationFailed as failed:
        summary = {"validation": failed.report.as_dict()}
    (output / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, sort_keys=True))
    return summary


def _assemble(inputs: Inputs, output: Path) -> dict:
    products = object_store.read_parquet(inputs.products)
    order = object_store.read_parquet(inputs.order)["product_id"].astype(str)
    lines, vectors, dims = transform_vectors(sorted(inputs.transform_output.rglob("*.out")), len(order))
    if lines != len(order):
        raise validation.ValidationFailed(validation.ValidationReport(
            SUITE, inputs.where, lines,
            [validation.RuleResult(f"one output line per input record ({len(order)})", False, observed=lines)],
        ))
    carried = object_store.read_parquet(inputs.carried)
    source = carried_vectors(inputs.before, carried) if len(carried) else CarriedOver.NOTHING
    carried_ids, rows, source_vectors = source.ids, source.rows, source.vectors
    at_carried = pd.Index(carried_ids).get_indexer(order)
    canaries = at_carried >= 0
    check_canaries(vectors[canaries], source_vectors[rows[at_carried[canaries]]], inputs.where)
    again = np.zeros(len(carried_ids), dtype=bool)  # the canaries: their fresh vectors are the ones kept
    again[at_carried[canaries]] = True
    ids = pd.concat([order, carried_ids[~again]], ignore_index=True)
    kept_rows = rows[~again]
    # Each vector's own length, checked against the model's: the length its output has (recorded
    # when its gate embedded a sample), never a setting (Object2Vec's may be enc_dim or the token
    # embedding's); a model without the record is held to its first output line.
    model_dim = inputs.model_dim or (int(dims[0]) if len(dims) else source_vectors.shape[1])
    checked = pd.DataFrame({"product_id": ids, "embedding_dim": np.concatenate([dims, np.full(len(kept_rows), source_vectors.shape[1])]),
                            "embedding_norm": np.concatenate([row_norms(vectors), row_norms(source_vectors)[kept_rows]])})
    report = validation.validate(checked, SUITE, inputs.where, validation.embeddings_expectations(len(products), model_dim),
                                 docs_dir=output / DATA_DOCS_DIR)
    embedded = len(order) - int(canaries.sum())
    summary = {"validation": report.as_dict(), "products": len(products), "embedded": embedded,
               "carried_over": len(products) - embedded, "before_snapshot": source.snapshot_id, "projector_sample": 0}
    if not report.success:
        return summary
    # The suite checked one vector per product and no product twice, so every product has its row.
    position = pd.Index(ids).get_indexer(products["product_id"].astype(str))
    assert (position >= 0).all(), "a product without a vector passed the embeddings suite"
    # Each product's vector gathered once: one take from the carried-over catalog (fresh products
    # take its first row as a placeholder), then the few fresh ones written over theirs. A masked
    # assignment of the carried rows would first gather them into a temporary gigabyte.
    fresh = position < len(order)
    if fresh.all():
        enriched_vectors = vectors[position]
    else:
        enriched_vectors = np.take(source_vectors, np.where(fresh, 0, kept_rows[np.maximum(position - len(order), 0)]), axis=0)
        enriched_vectors[fresh] = vectors[position[fresh]]
    if inputs.projector_sample:
        sample = projector.sample(products, enriched_vectors, inputs.projector_sample)
        object_store.write_parquet(output / PROJECTOR_SAMPLE_FILE, sample)
        summary["projector_sample"] = len(sample)
    if source.snapshot_id:
        # This process holds the catalog the vectors came from: the comparison here spares the
        # index build reading that older catalog, and the DynamoDB sync reading either.
        found = changes.diff(object_store.with_vectors(source.fields, "embedding", source_vectors),
                             object_store.with_vectors(products, "embedding", enriched_vectors),
                             vectors=(source_vectors, enriched_vectors))
        for name, frame in changes.kept_frames(found):
            object_store.write_parquet(output / CHANGES_DIR / name, frame)
        summary["changes"] = found.summary
    object_store.write_parquet(output / PRODUCTS_FILE, products, vectors={"embedding": enriched_vectors})  # last: the summary's files exist
    return summary


def transform_vectors(parts: Iterable[Path], expected: int) -> tuple[int, np.ndarray, np.ndarray]:
    """The output lines of every input part, in part order, their vectors, read a line at a
    time into one float32 matrix as wide as the first (a million 256-d vectors as JSON text and
    Python lists would take tens of GB), and each line's own length (a line of another length
    keeps a zero row: the suite refuses it by its length)."""
    vectors = np.empty((0, 0), dtype=np.float32)
    dims = np.zeros(expected, dtype=np.int64)
    lines = 0
    for path in parts:
        with open(path) as out:
            for line in out:
                values = json.loads(line)["embeddings"]
                if not vectors.size:
                    vectors = np.zeros((expected, len(values)), dtype=np.float32)
                if lines < expected:
                    dims[lines] = len(values)
                    if len(values) == vectors.shape[1]:
                        vectors[lines] = values
                lines += 1
    return lines, vectors[:lines], dims[:lines]


def carried_vectors(before: Path | None, carried: pd.DataFrame) -> CarriedOver:
    """The enriched catalog ``carried`` comes from (the file ``before``) and the carried products'
    rows in it (their vectors are taken once, when the catalog is assembled: each gathering of a
    million 256-d vectors is a gigabyte's copy)."""
    import pyarrow.parquet as pq

    if before is None:
        raise ValueError(f"{len(carried)} vectors are carried over from snapshot {carried['from_snapshot'].iloc[0]}, "
                         "but its enriched catalog is not given (--before)")
    table = pq.ParquetFile(before).read()
    fields = table.drop_columns(["embedding"]).to_pandas()
    fields["product_id"] = fields["product_id"].astype(str)
    return CarriedOver(str(carried["from_snapshot"].iloc[0]), fields, object_store.vector_matrix(table.column("embedding")),
                       np.flatnonzero(is_in(fields["product_id"], carried["product_id"])))


def check_canaries(fresh: np.ndarray, carried: np.ndarray, where: str) -> None:
    """Carried-over vectors must be what the model gives today: the canaries, embedded again
    (``fresh``, row by row the same products as ``carried``), say so."""
    if not len(fresh):
        return
    cosine = (fresh * carried).sum(axis=1) / np.maximum(row_norms(fresh) * row_norms(carried), 1e-12)
    if (cosine < CANARY_MIN_COSINE).any():
        raise validation.ValidationFailed(validation.ValidationReport(
            SUITE, where, len(fresh),
            [validation.RuleResult(f"carried-over vectors equal the model's fresh ones (cosine ≥ {CANARY_MIN_COSINE}) "
                                   "for every canary; if not, the earlier enriched snapshot was not embedded by this model: "
                                   "delete its enrichment/ prefix so that everything is embedded again",
                                   False, observed=f"{int((cosine < CANARY_MIN_COSINE).sum())} of {len(fresh)} differ, "
                                                   f"lowest cosine {cosine.min():.4f}")],
        ))
