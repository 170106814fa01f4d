"""What the DAG files share: assets, default arguments, and how a task finds its inputs.

Imported at DAG parse time, so it must stay light: no I/O, no connections, no heavy imports.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

from airflow.sdk import Asset

from catalog_search.settings import (
    ASSET_CATALOG_SNAPSHOT,
    ASSET_EMBEDDING_MODEL,
    ASSET_ENRICHED_CATALOG,
    ASSET_LIVE_INDEX,
)

CATALOG_SNAPSHOT = Asset(ASSET_CATALOG_SNAPSHOT, group="catalog")
EMBEDDING_MODEL = Asset(ASSET_EMBEDDING_MODEL, group="model")
ENRICHED_CATALOG = Asset(ASSET_ENRICHED_CATALOG, group="catalog")
LIVE_INDEX = Asset(ASSET_LIVE_INDEX, group="search")

DEFAULT_ARGS = {
    "owner": "catalog-search",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
}
TAGS = ["catalog-search"]


def from_context(context: Any, key: str, asset: Asset | None, fallback: Callable[[], str]) -> str:
    """A run's input: the run's conf first (backfills, manual runs), then the asset event that
    triggered it, then the newest published value."""
    conf = (context.get("dag_run") and context["dag_run"].conf) or {}
    if conf.get(key):
        return str(conf[key])
    if asset is not None:
        events = (context.get("triggering_asset_events") or {}).get(asset) or []
        for event in reversed(list(events)):
            if (event.extra or {}).get(key):
                return str(event.extra[key])
    return fallback()


def emit(context: Any, asset: Asset, **extra: Any) -> None:
    """Attach what downstream DAGs need (snapshot id, model version) to the asset event."""
    context["outlet_events"][asset].extra = extra
