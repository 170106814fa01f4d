"""catalog_enrichment: embed every product of a snapshot with a model (Batch Transform), assemble
and check the enriched catalog (a Processing job), publish it."""

from __future__ import annotations

import logging

from catalog_search import assembly, transform_input, validation
from catalog_search.clients import Clients
from catalog_search.naming import job_name
from catalog_search.sagemaker import job_requests, processing_code
from catalog_search.sagemaker.processing_code import uploaded_code
from catalog_search.stages import Run
from catalog_search.store import changes, pointers
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.training import projector
from catalog_search.training.encoder import VOCAB

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


TRANSFORM_PART_RECORDS = 100_000  # records a transform input file: the parts spread over instances (local: processes)


def transform_input_config(clients: Clients, run: Run, snapshot_id: str, model_version: str) -> dict:
    """The CreateProcessingJob request that tokenizes the snapshot's products into the Batch
    Transform's input (``include/jobs/prepare_transform_input.py``, ``catalog_search.transform_input``):
    with the model unchanged since the newest earlier snapshot it enriched, only products whose
    encoder input changed are embedded, the others' vectors carried over. Its outputs are the
    transform's input, its order and the carried-over products, at their keys (the same for every
    run of the snapshot and model, as the transform's job name is)."""
    settings, store = clients.settings, clients.store
    lineage = store.get_json(ObjectKeys.model_lineage(model_version))
    return transform_input_request(settings, store, snapshot_id, model_version, run.key, uploaded_code(settings, store),
                                   f"{lineage['training_uri']}auxiliary/{VOCAB}", int(lineage["hyperparameters"]["enc0_max_seq_len"]),
                                   pointers.latest_enrichment_before(store, snapshot_id, model_version))


def transform_input_request(settings, store, snapshot_id: str, model_version: str, run_key: str, code_uri: str,
                            vocabulary_uri: str, max_seq_len: int, before_snapshot: str | None) -> dict:
    """``transform_input_config``'s request, from what it looked up (any model format: the
    vocabulary is its training data's, SageMaker's Object2Vec and the local trainer alike)."""
    inputs = {"products": store.uri(ObjectKeys.snapshot_products(snapshot_id)), "vocabulary": vocabulary_uri}
    if before_snapshot:
        inputs["before"] = store.uri(ObjectKeys.snapshot_products(before_snapshot))
    arguments = job_requests.input_arguments(inputs)
    arguments += ["--max-seq-len", str(max_seq_len), "--part-records", str(TRANSFORM_PART_RECORDS),
                  "--output", job_requests.PROCESSING_OUTPUT]
    if before_snapshot:
        arguments += ["--before-snapshot", before_snapshot]
    folder = ObjectKeys.enrichment(snapshot_id, model_version)  # transform_input, transform_order, carried_over
    outputs = {name: f"{folder}{name}/" for name in transform_input.OUTPUTS}
    return job_requests.processing_job_config(
        settings, job_name("tok", snapshot_id, model_version, run_key, scope=settings.bucket),
        processing_code.TRANSFORM_INPUT_ENTRY_POINT, code_uri, inputs, {name: store.uri(key) for name, key in outputs.items()},
        arguments)


def transform_config(clients: Clients, run: Run, snapshot_id: str, model_version: str) -> dict:
    """The CreateTransformJob request of the snapshot's transform input (``transform_input_config``'s
    job wrote it), spread over the instances; logs what that job found."""
    settings, store = clients.settings, clients.store
    found = store.get_json(ObjectKeys.transform_summary(snapshot_id, model_version))
    log.info("embedding %d of %d products in %d parts (%d carried over, %d of them again as canaries)",
             found["embedded"], found["products"], found["parts"], found["carried_over"], found["canaries"])
    return catalog_transform_request(settings, store, snapshot_id, model_version)


def catalog_transform_request(settings, store, snapshot_id: str, model_version: str) -> dict:
    """The CreateTransformJob request of the snapshot's transform input, spread over the instances."""
    return job_requests.transform_job_config(
        job_name("embed", snapshot_id, model_version, scope=settings.bucket), model_version,
        store.uri(ObjectKeys.transform_input(snapshot_id, model_version)), store.uri(ObjectKeys.transform_output(snapshot_id, model_version)),
        settings.transform_instance_type, settings.transform_instance_count,
    )


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
    arguments = job_requests.input_arguments(keys)
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
    output, prefix = job_requests.processing_output(store, job)
    summary = output.get_json(prefix + assembly.SUMMARY_FILE)
    validation.publish_job_report(store, output, prefix + assembly.DATA_DOCS_DIR, summary["validation"], run.report_prefix,
                                  settings.work_dir)
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

