"""catalog_enrichment: embed every product of a snapshot with a model (Batch Transform), check
the vectors, write the enriched catalog."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from catalog_search import validation
from catalog_search.clients import Clients
from catalog_search.naming import job_name
from catalog_search.sagemaker import job_requests
from catalog_search.stages import Run
from catalog_search.store import changes, object_store, pointers
from catalog_search.store.batches import row_norms
from catalog_search.store.changes import is_in
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.training import projector, tokenizer
from catalog_search.training.encoder import model_vocabulary

log = logging.getLogger(__name__)


def resolve_inputs(clients: Clients, run: Run, snapshot_id: str | None = None, model_version: str | None = None) -> dict:
    """The snapshot and model to embed with: those given, else the newest snapshot and the champion."""
    store = clients.store
    return {"snapshot_id": snapshot_id or pointers.latest_snapshot(store),
            "model_version": model_version or pointers.champion(store)["model_version"]}


def needs_embedding(clients: Clients, run: Run, snapshot_id: str, model_version: str, embed_older: bool = False) -> bool:
    """False, saying why, when there is nothing worth embedding: this (snapshot, model) was
    already enriched and published (the nightly cron and the new-snapshot event name the same
    one), or the snapshot is older than the newest enriched one (a backfill: it is landed and
    validated, but its vectors would never be published, since a publish never moves the alias
    back), unless the run's conf asks for it (``embed_older``). The run then ends without
    embedding or publishing anything."""
    store = clients.store
    latest = store.get_json(ObjectKeys.LATEST_ENRICHMENT, default={})
    newest = latest.get("snapshot_id", "")
    enriched = ObjectKeys.enriched_products(snapshot_id, model_version)
    if ((newest, latest.get("model_version")) == (snapshot_id, model_version) or newest > snapshot_id) and store.exists(enriched):
        log.info("nothing to do: snapshot %s is already enriched with model %s (%s)", snapshot_id, model_version, store.uri(enriched))
        return False
    if newest > snapshot_id and not embed_older:
        log.info("nothing to embed: snapshot %s is older than the newest enriched snapshot %s (a backfill). It is landed and "
                 "validated, but its vectors would never be published (a publish never moves the alias back); to embed it "
                 "anyway, trigger catalog_enrichment with conf {\"snapshot_id\": \"%s\", \"embed_older\": true}",
                 snapshot_id, newest, snapshot_id)
        return False
    return True


CANARIES = 20  # carried-over products embedded again: their fresh vectors must equal the carried ones
TRANSFORM_PART_RECORDS = 100_000  # records a transform input file: the parts spread over instances (local: processes)


def prepare_transform_input(clients: Clients, run: Run, snapshot_id: str, model_version: str) -> dict:
    """Object2Vec inference JSON Lines of the products to embed (in the order of
    ``transform_order``); returns the CreateTransformJob request.

    With the model unchanged since the previous enriched snapshot, only products whose encoder
    input changed (new, or retitled: their token ids differ) are embedded; the others' vectors are
    carried over (``carried_over``), plus a few of them embedded again as canaries that
    ``assemble_enriched`` compares. A new model embeds everything."""
    settings, store = clients.settings, clients.store
    products = store.get_parquet(ObjectKeys.snapshot_products(snapshot_id), columns=["product_id", "title"])
    product_ids = products["product_id"].astype(str)
    vocab, max_seq_len = model_vocabulary(store, model_version)  # any model format: SageMaker's or the local trainer's

    def encode(titles: pd.Series) -> list[tuple[int, ...]]:
        return [tuple(tokenizer.encode(t, vocab, max_seq_len)) for t in titles]

    carried = _carried_over(store, snapshot_id, model_version, products.assign(product_id=product_ids), encode)
    embed = ~is_in(product_ids, carried["product_id"])
    canaries = carried["product_id"].sample(min(CANARIES, len(carried)), random_state=0)
    embed |= is_in(product_ids, canaries)
    local = settings.work_dir / "enrichment" / snapshot_id / model_version / "input"
    shutil.rmtree(local, ignore_errors=True)  # a retry may write fewer parts
    titles = products.loc[embed, "title"]
    for part, start in enumerate(range(0, max(len(titles), 1), TRANSFORM_PART_RECORDS)):
        path = local / ObjectKeys.transform_input_file(snapshot_id, model_version, part).rsplit("/", 1)[-1]
        tokenizer.write_inference_jsonl((list(ids) for ids in encode(titles.iloc[start: start + TRANSFORM_PART_RECORDS])), path)
        store.upload_file(path, ObjectKeys.transform_input_file(snapshot_id, model_version, part))
    store.put_parquet(ObjectKeys.transform_order(snapshot_id, model_version), products.loc[embed, ["product_id"]])
    store.put_parquet(ObjectKeys.carried_over(snapshot_id, model_version), carried)
    log.info("embedding %d of %d products (%d carried over, %d of them again as canaries)",
             int(embed.sum()), len(products), len(carried), len(canaries))
    return catalog_transform_request(settings, store, snapshot_id, model_version)


def catalog_transform_request(settings, store, snapshot_id: str, model_version: str) -> dict:
    """The CreateTransformJob request of the snapshot's transform input, spread over the instances."""
    return job_requests.transform_job_config(
        job_name("embed", snapshot_id, model_version, scope=settings.bucket), model_version,
        store.uri(ObjectKeys.transform_input(snapshot_id, model_version)), store.uri(ObjectKeys.transform_output(snapshot_id, model_version)),
        settings.transform_instance_type, settings.transform_instance_count,
    )


def _carried_over(store, snapshot_id: str, model_version: str, products: pd.DataFrame,
                  encode: Callable[[pd.Series], list[tuple[int, ...]]]) -> pd.DataFrame:
    """``product_id, from_snapshot`` of the products whose token ids are the same as in the
    newest earlier snapshot enriched with this model (none when there is none): their vectors are
    taken from that snapshot's enriched catalog when the catalog is assembled, so the vectors are
    read once, not copied here. Only titles that differ are tokenized: an equal title has equal
    token ids. The earlier titles come from that snapshot's products, which its enriched catalog
    holds with their vectors (a million products: 27 MB to read instead of 1 GB)."""
    previous = pointers.latest_enrichment_before(store, snapshot_id, model_version)
    if previous is None:
        return pd.DataFrame({"product_id": pd.Series(dtype=str), "from_snapshot": pd.Series(dtype=str)})
    before = store.get_parquet(ObjectKeys.snapshot_products(previous), columns=["product_id", "title"])
    before = before.assign(product_id=before["product_id"].astype(str))
    both = products[["product_id", "title"]].merge(before, on="product_id", suffixes=("", "_before"))
    retitled = both["title"] != both["title_before"]
    same_ids = np.ones(len(both), dtype=bool)
    same_ids[retitled.to_numpy()] = [a == b for a, b in zip(encode(both.loc[retitled, "title"]), encode(both.loc[retitled, "title_before"]))]
    carried = both.loc[same_ids, ["product_id"]].assign(from_snapshot=previous).reset_index(drop=True)
    log.info("carrying over %d embeddings from snapshot %s (%d retitled, %d of them with the same token ids)",
             len(carried), previous, int(retitled.sum()), int((same_ids & retitled).sum()))
    return carried


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


def _carried_vectors(store, carried: pd.DataFrame, model_version: str) -> CarriedOver:
    """The enriched catalog ``carried`` comes from and the carried products' rows in it (their
    vectors are taken once, when the enriched catalog is assembled: each gathering of a million
    256-d vectors is a gigabyte's copy)."""
    if carried.empty:
        return CarriedOver.NOTHING
    snapshot = carried["from_snapshot"].iloc[0]
    before = store.get_table(ObjectKeys.enriched_products(snapshot, model_version))
    fields = before.drop_columns(["embedding"]).to_pandas()
    fields["product_id"] = fields["product_id"].astype(str)
    return CarriedOver(snapshot, fields, object_store.vector_matrix(before.column("embedding")),
                       np.flatnonzero(is_in(fields["product_id"], carried["product_id"])))


def assemble_enriched(clients: Clients, run: Run, snapshot_id: str, model_version: str) -> dict:
    """Join the transform's .out lines back to their products, with the carried-over vectors,
    validate, write the enriched catalog and move enrichment/latest.json forward."""
    settings, store = clients.settings, clients.store
    products = store.get_parquet(ObjectKeys.snapshot_products(snapshot_id))
    order = store.get_parquet(ObjectKeys.transform_order(snapshot_id, model_version))["product_id"].astype(str)
    output = store.uri(ObjectKeys.transform_output(snapshot_id, model_version))
    lines, vectors, dims = _transform_vectors(store, snapshot_id, model_version, len(order),
                                              settings.work_dir / "enrichment" / snapshot_id / model_version / "output")
    if lines != len(order):
        raise validation.ValidationFailed(validation.ValidationReport(
            "embeddings", output, lines,
            [validation.RuleResult(f"one output line per input record ({len(order)})", False, observed=lines)],
        ))
    source = _carried_vectors(store, store.get_parquet(ObjectKeys.carried_over(snapshot_id, model_version)), model_version)
    carried_ids, rows, source_vectors = source.ids, source.rows, source.vectors
    at_carried = pd.Index(carried_ids).get_indexer(order)
    canaries = at_carried >= 0
    _check_canaries(vectors[canaries], source_vectors[rows[at_carried[canaries]]], store.uri(ObjectKeys.carried_over(snapshot_id, model_version)))
    again = np.zeros(len(carried_ids), dtype=bool)  # the canaries: their fresh vectors are the ones kept
    again[at_carried[canaries]] = True
    ids = pd.concat([order, carried_ids[~again]], ignore_index=True)
    kept_rows = rows[~again]
    # Each vector's own length, checked against the model's: the length its output has (recorded
    # when its gate embedded a sample), never a setting (Object2Vec's may be enc_dim or the token
    # embedding's); a model without the record is held to its first output line.
    model_dim = _model_dim(store, model_version) or (int(dims[0]) if len(dims) else source_vectors.shape[1])
    checked = pd.DataFrame({"product_id": ids, "embedding_dim": np.concatenate([dims, np.full(len(kept_rows), source_vectors.shape[1])]),
                            "embedding_norm": np.concatenate([row_norms(vectors), row_norms(source_vectors)[kept_rows]])})
    validation.check_and_publish(store, checked, "embeddings", output,
                                 validation.embeddings_expectations(len(products), model_dim),
                                 run.report_prefix, settings.work_dir)
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
    enriched_uri = store.put_parquet(ObjectKeys.enriched_products(snapshot_id, model_version), products,
                                     vectors={"embedding": enriched_vectors})
    if source.snapshot_id:
        # This process holds the catalog the vectors came from: kept, the comparison spares the
        # index build reading that older catalog, and the DynamoDB sync reading either.
        found = changes.diff(object_store.with_vectors(source.fields, "embedding", source_vectors),
                             object_store.with_vectors(products, "embedding", enriched_vectors),
                             vectors=(source_vectors, enriched_vectors))
        changes.keep(store, changes.kept_changes(store, source.snapshot_id, snapshot_id, model_version), found)
    if settings.projector_sample:
        store.put_parquet(ObjectKeys.projector_sample(snapshot_id, model_version),
                          projector.sample(products, enriched_vectors, settings.projector_sample))
    pointers.advance_enrichment(store, snapshot_id, model_version)
    embedded = len(order) - int(canaries.sum())
    return {"snapshot_id": snapshot_id, "model_version": model_version, "enriched_uri": enriched_uri,
            "products": len(products), "embedded": embedded, "carried_over": len(products) - embedded}


def _transform_vectors(store, snapshot_id: str, model_version: str, expected: int, local) -> tuple[int, np.ndarray, np.ndarray]:
    """The output lines of every input part, in part order, their vectors, read a line at a
    time into one float32 matrix as wide as the first (a million 256-d vectors as JSON text and
    Python lists would take tens of GB), and each line's own length (a line of another length
    keeps a zero row: the suite refuses it by its length)."""
    parts = sorted(k for k in store.list_keys(ObjectKeys.transform_output(snapshot_id, model_version)) if k.endswith(".out"))
    vectors = np.empty((0, 0), dtype=np.float32)
    dims = np.zeros(expected, dtype=np.int64)
    lines = 0
    for key in parts:
        path = store.download_file(key, local / key.rsplit("/", 1)[-1])
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
        path.unlink()
    return lines, vectors[:lines], dims[:lines]


def _model_dim(store, model_version: str) -> int | None:
    """The length of the model's vectors, as its gate found it (None for a model promoted before it was recorded)."""
    return store.get_json(ObjectKeys.model_champion_record(model_version), default={}).get("embedding_dim")


def export_projector(clients: Clients, run: Run, snapshot_id: str, model_version: str) -> dict:
    """A sample of the enriched catalog as Embedding Projector files under ``ObjectKeys.projector``
    (``projector_sample`` products, drawn by ``assemble_enriched``; 0: none), to look at the
    embedding space as the seed does."""
    settings, store = clients.settings, clients.store
    if not settings.projector_sample:
        return {"exported": 0}
    local = settings.work_dir / "projector" / snapshot_id / model_version
    written = projector.write(store.get_parquet(ObjectKeys.projector_sample(snapshot_id, model_version)), local, tensor_name=model_version)
    uri = store.upload_dir(local, ObjectKeys.projector(snapshot_id, model_version))
    log.info("Embedding Projector files of %d products: %s (open at https://projector.tensorflow.org: Load "
             "tensors.tsv and metadata.tsv)", written["products"], uri)
    return {"exported": written["products"], "uri": uri}


CANARY_MIN_COSINE = 0.999


def _check_canaries(fresh: np.ndarray, carried: np.ndarray, carried_uri: str) -> None:
    """Carried-over vectors must be what the model gives today: the canaries, embedded again
    (``fresh``, row by row the same products as ``carried``), say so."""
    if not len(fresh):
        return
    cosine = (fresh * carried).sum(axis=1) / np.maximum(row_norms(fresh) * row_norms(carried), 1e-12)
    if (cosine < CANARY_MIN_COSINE).any():
        raise validation.ValidationFailed(validation.ValidationReport(
            "embeddings", carried_uri, len(fresh),
            [validation.RuleResult(f"carried-over vectors equal the model's fresh ones (cosine ≥ {CANARY_MIN_COSINE}) "
                                   "for every canary; if not, the earlier enriched snapshot was not embedded by this model: "
                                   "delete its enrichment/ prefix so that everything is embedded again",
                                   False, observed=f"{int((cosine < CANARY_MIN_COSINE).sum())} of {len(fresh)} differ, "
                                                   f"lowest cosine {cosine.min():.4f}")],
        ))
