"""catalog_refresh: land the source catalog as an immutable snapshot, validate it, publish it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from catalog_search import sql, validation
from catalog_search.clients import Clients
from catalog_search.naming import short_hash, snapshot_id_for, utc_stamp
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


def validate_snapshot(clients: Clients, run: Run, snapshot_id: str) -> dict:
    """The snapshot suite; against the newest earlier validated snapshot, also its size and churn."""
    settings, store = clients.settings, clients.store
    products = store.get_parquet(ObjectKeys.snapshot_products(snapshot_id))
    previous_id = pointers.previous_snapshot(store, snapshot_id)
    diff = None
    if previous_id:
        previous = store.get_parquet(ObjectKeys.snapshot_products(previous_id))
        diff = {"previous_snapshot": previous_id, **sql.catalog_diff(products, previous, settings.include_dir)}
        log.info("against %s: %s", previous_id, diff)
    expectations = validation.snapshot_expectations(diff["previous_rows"] if diff else None, settings.row_tolerance)
    validation.check_and_publish(store, products, "catalog_snapshot", store.uri(ObjectKeys.snapshot(snapshot_id)), expectations,
                                 run.report_prefix, settings.work_dir, {"diff": diff})
    store.put_json(ObjectKeys.snapshot_validated(snapshot_id),
                   {"report": store.uri(ObjectKeys.suite_report(run.report_prefix, "catalog_snapshot"))})
    return {"snapshot_id": snapshot_id, "diff": diff}


def publish_snapshot(clients: Clients, run: Run, snapshot_id: str) -> dict:
    """Move catalog/latest.json forward (never back: a backfilled older snapshot leaves it)."""
    return pointers.advance_snapshot(clients.store, snapshot_id)
