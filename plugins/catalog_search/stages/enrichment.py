"""catalog_enrichment: embed every product of a snapshot with a model (Batch Transform), assemble
and check the enriched catalog (a Processing job), publish it."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable

import numpy as np
import pandas as pd

from catalog_search import assembly, validation
from catalog_search.clients import Clients
from catalog_search.naming import job_name
from catalog_search.sagemaker import job_requests, processing_code
from catalog_search.sagemaker.processing_code import uploaded_code
from catalog_search.stages import Run
from catalog_search.store import changes, pointers
from catalog_search.store.changes import is_in
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.store.object_store import ObjectStore
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


def assembly_config(clients: Clients, run: Run, snapshot_id: str, model_version: str) -> dict:
    """The CreateProcessingJob request that assembles and checks the enriched catalog
    (``include/jobs/assemble_enriched.py``, ``catalog_search.assembly``): the snapshot's
    products, the transform's output and order, the carried-over products and, when there are
    any, the enriched catalog they come from; its output under ``ObjectKeys.assembled`` (this run's)."""
    settings, store = clients.settings, clients.store
    carried_key = ObjectKeys.carried_over(snapshot_id, model_version)
    before = store.get_parquet(carried_key, columns=["from_snapshot"])["from_snapshot"].drop_duplicates().tolist()
    return assembly_request(settings, store, snapshot_id, model_version, run.key, uploaded_code(settings, store),
                            before[0] if before else None, _model_dim(store, model_version))


def assembly_request(settings, store, snapshot_id: str, model_version: str, run_key: str, code_uri: str,
                     before_snapshot: str | None, model_dim: int | None) -> dict:
    """``assembly_config``'s request, from what it looked up."""
    keys = {"products": ObjectKeys.snapshot_products(snapshot_id), "order": ObjectKeys.transform_order(snapshot_id, model_version),
            "carried": ObjectKeys.carried_over(snapshot_id, model_version)}
    if before_snapshot:
        keys["before"] = ObjectKeys.enriched_products(before_snapshot, model_version)
    inputs = {name: store.uri(key) for name, key in keys.items()}
    inputs["transform_output"] = store.uri(ObjectKeys.transform_output(snapshot_id, model_version))
    arguments = [argument for name, key in keys.items()
                 for argument in (f"--{name}", f"{job_requests.processing_input(name)}/{key.rsplit('/', 1)[-1]}")]
    arguments += ["--transform-output", job_requests.processing_input("transform_output"), "--output", job_requests.PROCESSING_OUTPUT,
                  "--where", inputs["transform_output"], "--model-dim", str(model_dim or 0),
                  "--projector-sample", str(settings.projector_sample)]
    return job_requests.processing_job_config(
        settings, job_name("asm", snapshot_id, model_version, run_key, scope=settings.bucket), processing_code.ASSEMBLE_ENTRY_POINT,
        code_uri, inputs, store.uri(ObjectKeys.assembled(snapshot_id, model_version, run_key)), arguments)


def publish_enriched(clients: Clients, run: Run, snapshot_id: str, model_version: str, job: dict) -> dict:
    """The assembly job's report published with the run's; when every check passed, its enriched
    catalog, changes and projector sample copied to their keys (in S3: nothing passes through
    the worker) and enrichment/latest.json moved forward. A failed check publishes nothing."""
    settings, store = clients.settings, clients.store
    output, prefix = ObjectStore.at(store.s3, job["Processing"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"])
    prefix = prefix.rstrip("/") + "/"
    summary = output.get_json(prefix + assembly.SUMMARY_FILE)
    report = validation.ValidationReport.from_dict(summary["validation"])
    docs_dir = None
    if output.list_keys(prefix + assembly.DATA_DOCS_DIR, limit=1):
        docs_dir = settings.work_dir / ObjectKeys.data_docs(run.report_prefix, report.suite)
        shutil.rmtree(docs_dir, ignore_errors=True)
        output.download_prefix(prefix + assembly.DATA_DOCS_DIR, docs_dir)
        report.docs = str(docs_dir / "index.html")
    validation.publish(store, report, run.report_prefix, docs_dir)
    enriched_uri = store.copy(output, prefix + assembly.PRODUCTS_FILE, ObjectKeys.enriched_products(snapshot_id, model_version))
    if summary["before_snapshot"]:
        kept = changes.kept_changes(store, summary["before_snapshot"], snapshot_id, model_version)
        for name in changes.KEPT_FILES:
            store.copy(output, prefix + assembly.CHANGES_DIR + name, kept + name)
        log.info("what changed: %s (%s)", summary["changes"], store.uri(kept))
    if summary["projector_sample"]:
        store.copy(output, prefix + assembly.PROJECTOR_SAMPLE_FILE, ObjectKeys.projector_sample(snapshot_id, model_version))
    pointers.advance_enrichment(store, snapshot_id, model_version)
    return {"snapshot_id": snapshot_id, "model_version": model_version, "enriched_uri": enriched_uri,
            "products": summary["products"], "embedded": summary["embedded"], "carried_over": summary["carried_over"]}


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

