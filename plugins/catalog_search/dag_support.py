"""What the DAG files share: assets, default arguments, and how a task finds its inputs.

Imported at DAG parse time, so it must stay light: no I/O, no connections, no heavy imports.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

from airflow.sdk import Asset, RetryDecision, RetryPolicy

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



class StageRetryPolicy(RetryPolicy):
    """Airflow 3's retry policy, by kind of error (``catalog_search.errors``): a permanent error
    (contract, validation, gate, missing input, bad params, a failed index check) fails the task
    at once with its message; a transient one (refused, throttled, 5xx, timeout) is retried
    with the task's exponential backoff; anything else gets the ordinary retries."""

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int, context: Any = None) -> RetryDecision:
        from catalog_search.errors import ErrorKind, classify

        kind = classify(exception)
        if kind is ErrorKind.PERMANENT:
            return RetryDecision.fail(f"{type(exception).__name__} is permanent: a retry cannot fix it ({exception})")
        if kind is ErrorKind.TRANSIENT:
            return RetryDecision.retry(reason=f"{type(exception).__name__} is transient: retrying with backoff")
        return RetryDecision.default()


DEFAULT_ARGS = {
    "owner": "catalog-search",
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,  # 30 s, 60 s, 120 s
    "max_retry_delay": timedelta(minutes=10),
    "retry_policy": StageRetryPolicy(),
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
