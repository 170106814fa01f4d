"""catalog_refresh: land the source catalog as an immutable snapshot, check it (a Processing job), publish it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from catalog_search import snapshot_check, validation
from catalog_search.clients import Clients
from catalog_search.naming import job_name, short_hash, snapshot_id_for, utc_stamp
from catalog_search.sagemaker import job_requests, processing_code
from catalog_search.sagemaker.processing_code import uploaded_code
from catalog_search.stages import Run
from catalog_search.store import pointers
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.training import catalog, refresh_simulator

log = logging.getLogger(__name__)


PREVIOUS = "previous"  # derive_from: the newest validated snapshot before this one


def land_snapshot(clients: Clients, run: Run, snapshot_id: str | None = None, derive_from: str | None = None) -> dict:
    """Write the source catalog as snapshot ``snapshot_id`` (default: from the run's logical
    date); rows that cannot be served go to rejects with a reason.

    With ``derive_from`` (a snapshot id, or ``"previous"``: the newest validated snapshot older
    than this one), the refresh simulator derives this snapshot from that one instead (products
    added, removed, retitled, recategorised), for exercising nightly runs; with ``"previous"``
    and no earlier snapshot, the source is read."""
    settings, store = clients.settings, clients.store
    snapshot_id = snapshot_id or snapshot_id_for(settings.source_dir.name, run.logical_date)
    store.ensure_bucket()  # the first writer of a deployment creates the bucket
    if derive_from == PREVIOUS:
        derive_from = pointers.previous_snapshot(store, snapshot_id)
        if derive_from is None:
            log.info("no validated snapshot before %s to derive it from: the source is read", snapshot_id)
    if derive_from:
        previous = store.get_parquet(ObjectKeys.snapshot_products(derive_from))
        source, changes = refresh_simulator.simulate_refresh(previous, refresh_simulator.RefreshSpec(seed=int(short_hash(snapshot_id), 16)))
        origin = f"refresh of {derive_from}: " + ", ".join(f"{len(v)} {k}" for k, v in changes.items())
    else:
        source, origin = catalog.load_source(settings.source_dir), str(settings.source_dir)
    products, rejects = catalog.split_rejects(source)
    store.put_parquet(ObjectKeys.snapshot_products(snapshot_id), products)
    store.put_parquet(ObjectKeys.snapshot_rejects(snapshot_id), rejects)
    manifest = {
        "snapshot_id": snapshot_id, "source": origin, "products": len(products),
        "rejected": len(rejects), "categories": int(products["category"].nunique()),
        "landed_at": utc_stamp(datetime.now(UTC)),
    }
    store.put_json(ObjectKeys.snapshot_manifest(snapshot_id), manifest)
    log.info("snapshot %s: %d products, %d rejected (%s) from %s", snapshot_id, len(products), len(rejects),
             store.uri(ObjectKeys.snapshot(snapshot_id)), origin)
    return manifest


def snapshot_check_config(clients: Clients, run: Run, snapshot_id: str) -> dict:
    """The CreateProcessingJob request that checks the landed snapshot (``include/jobs/check_snapshot.py``,
    ``catalog_search.snapshot_check``): the snapshot suite, and against the newest earlier validated
    snapshot its size and churn; its output under ``ObjectKeys.snapshot_checked`` (this run's)."""
    settings, store = clients.settings, clients.store
    return snapshot_check_request(settings, store, snapshot_id, pointers.previous_snapshot(store, snapshot_id), run.key,
                                  uploaded_code(settings, store))


def snapshot_check_request(settings, store, snapshot_id: str, previous_id: str | None, run_key: str, code_uri: str) -> dict:
    """``snapshot_check_config``'s request, from what it looked up."""
    inputs = {"products": store.uri(ObjectKeys.snapshot_products(snapshot_id))}
    if previous_id:
        inputs["previous"] = store.uri(ObjectKeys.snapshot_products(previous_id))
    arguments = job_requests.input_arguments(inputs)
    if previous_id:
        arguments += ["--previous-snapshot", previous_id]
    arguments += ["--output", job_requests.PROCESSING_OUTPUT, "--where", store.uri(ObjectKeys.snapshot(snapshot_id)),
                  "--row-tolerance", str(settings.row_tolerance)]
    return job_requests.processing_job_config(
        settings, job_name("chk", snapshot_id, run_key, scope=settings.bucket), processing_code.CHECK_SNAPSHOT_ENTRY_POINT,
        code_uri, inputs, store.uri(ObjectKeys.snapshot_checked(snapshot_id, run_key)), arguments)


def validate_snapshot(clients: Clients, run: Run, snapshot_id: str, job: dict) -> dict:
    """The check job's report published with the run's (the diff beside it); only when every rule
    passed is the snapshot marked validated. A failed check raises, and marks nothing."""
    settings, store = clients.settings, clients.store
    output, prefix = job_requests.processing_output(store, job)
    summary = output.get_json(prefix + snapshot_check.SUMMARY_FILE)
    diff = summary["diff"]
    if diff:
        log.info("against %s: %s", diff["previous_snapshot"], diff)
    validation.publish_job_report(store, output, prefix + snapshot_check.DATA_DOCS_DIR, summary["validation"], run.report_prefix,
                                  settings.work_dir, {"diff": diff})
    store.put_json(ObjectKeys.snapshot_validated(snapshot_id),
                   {"report": store.uri(ObjectKeys.suite_report(run.report_prefix, snapshot_check.SUITE))})
    return {"snapshot_id": snapshot_id, "diff": diff}


def publish_snapshot(clients: Clients, run: Run, snapshot_id: str) -> dict:
    """Move catalog/latest.json forward (never back: a backfilled older snapshot leaves it)."""
    return pointers.advance_snapshot(clients.store, snapshot_id)
