"""The three pointers of the object store, which only ever move forward: the newest catalog
snapshot, the champion model and the newest enriched catalog. A backfill writes older data
beside them and leaves them alone. The one move back is by hand: a rollback to an index of an
earlier champion makes that model the champion again, and that index's enriched catalog the
newest (``reinstate_champion``)."""

from __future__ import annotations

from datetime import UTC, datetime

from catalog_search.errors import NotFound
from catalog_search.naming import utc_stamp
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.store.object_store import ObjectStore


def latest_snapshot(store: ObjectStore) -> str:
    pointer = store.get_json(ObjectKeys.LATEST_SNAPSHOT, default=None)
    if not pointer:
        raise NotFound(f"no catalog snapshot yet ({store.uri(ObjectKeys.LATEST_SNAPSHOT)}): run catalog_refresh first")
    return pointer["snapshot_id"]


def advance_snapshot(store: ObjectStore, snapshot_id: str) -> dict:
    """Move catalog/latest.json to this snapshot unless it already names a newer one."""
    current = store.get_json(ObjectKeys.LATEST_SNAPSHOT, default={}).get("snapshot_id", "")
    if snapshot_id >= current:
        store.put_json(ObjectKeys.LATEST_SNAPSHOT, {"snapshot_id": snapshot_id})
    return {"snapshot_id": snapshot_id, "latest": max(snapshot_id, current)}


def previous_snapshot(store: ObjectStore, snapshot_id: str) -> str | None:
    """The newest validated snapshot older than this one (so a backfill compares with its own past)."""
    ids = [ObjectKeys.snapshot_id_of(prefix) for prefix in store.list_prefixes(ObjectKeys.SNAPSHOTS)]
    older = sorted(i for i in ids if i < snapshot_id and store.exists(ObjectKeys.snapshot_validated(i)))
    return older[-1] if older else None


def champion(store: ObjectStore) -> dict:
    record = store.get_json(ObjectKeys.CHAMPION, default=None)
    if not record:
        raise NotFound(f"no champion model ({store.uri(ObjectKeys.CHAMPION)}): run embedding_training first")
    return record


def champion_record(store: ObjectStore, model_version: str) -> dict:
    """The record ``model_version`` was promoted with, to make it the champion again."""
    record = store.get_json(ObjectKeys.model_champion_record(model_version), default=None)
    if not record:
        raise NotFound(f"model {model_version} has no champion record ({store.uri(ObjectKeys.model_champion_record(model_version))}): "
                       "it was never promoted, or before promotions kept one; train again, or write its record there "
                       f"(its metrics are in {store.uri(ObjectKeys.model_metrics(model_version))}) and roll back again")
    return record


def reinstate_champion(store: ObjectStore, record: dict, snapshot_id: str) -> dict:
    """Make the model of ``record`` (``champion_record``) the champion again, and its enriched
    catalog of ``snapshot_id`` (the one rolled back to) the newest: the next enrichment embeds
    the newest snapshot with it, its challengers are gated against its metrics, and a publish
    without a snapshot publishes nothing of the model rolled back from."""
    replaced = store.get_json(ObjectKeys.CHAMPION, default={}).get("model_version")
    reinstated = {**record, "reinstated_at": utc_stamp(datetime.now(UTC)), "replaced": replaced}
    store.put_json(ObjectKeys.CHAMPION, reinstated)
    store.put_json(ObjectKeys.LATEST_ENRICHMENT, {"snapshot_id": snapshot_id, "model_version": record["model_version"]})
    return reinstated


def latest_enrichment(store: ObjectStore) -> dict:
    """The newest enriched catalog: ``{"snapshot_id", "model_version"}``."""
    pointer = store.get_json(ObjectKeys.LATEST_ENRICHMENT, default=None)
    if not pointer:
        raise NotFound(f"no enriched catalog yet ({store.uri(ObjectKeys.LATEST_ENRICHMENT)}): run catalog_enrichment first")
    return pointer


def advance_enrichment(store: ObjectStore, snapshot_id: str, model_version: str) -> None:
    """A newer snapshot moves the pointer; for the same snapshot, only the champion's enrichment
    does (model versions end in a hash, so their names say nothing about which is newer)."""
    current = store.get_json(ObjectKeys.LATEST_ENRICHMENT, default={}).get("snapshot_id", "")
    champion_version = store.get_json(ObjectKeys.CHAMPION, default={}).get("model_version")
    if snapshot_id > current or (snapshot_id == current and model_version == champion_version):
        store.put_json(ObjectKeys.LATEST_ENRICHMENT, {"snapshot_id": snapshot_id, "model_version": model_version})


def latest_enrichment_before(store: ObjectStore, snapshot_id: str, model_version: str) -> str | None:
    """The newest snapshot older than ``snapshot_id`` that this model enriched (None: none)."""
    earlier = sorted((p[len(ObjectKeys.ENRICHMENTS):].rstrip("/") for p in store.list_prefixes(ObjectKeys.ENRICHMENTS)), reverse=True)
    for candidate in (s for s in earlier if s < snapshot_id):
        if store.exists(ObjectKeys.enriched_products(candidate, model_version)):
            return candidate
    return None
