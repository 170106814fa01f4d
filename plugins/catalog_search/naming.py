"""Names: sortable stamps, snapshot ids, slugs, short hashes and SageMaker job names. The ground
floor of the library: it imports nothing of it, so that anything may import it."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime


def utc_stamp(when: datetime) -> str:
    """A sortable, path-safe UTC timestamp: later runs sort after earlier ones."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def snapshot_id_for(source: str, when: datetime) -> str:
    """Snapshot ids sort by time, so a backfill's older snapshot can be told from a newer one."""
    return f"{utc_stamp(when)}-{slug(source)}"


def slug(text: str, max_len: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:max_len] or "x"


def short_hash(*parts: object, length: int = 8) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:length]


def job_name(kind: str, *key: object, scope: str = "") -> str:
    """Deterministic-unique SageMaker job name (≤ 63 chars, [a-zA-Z0-9-]).

    The same (kind, key) always gives the same name, so a retried task finds its own job
    instead of starting a second one; a different snapshot or run gives a different name.
    ``scope`` (the deployment's bucket) joins the hash only: SageMaker's names are the account's
    and region's, and two deployments there must never find each other's jobs or models.
    """
    readable = "-".join(slug(str(k), 16) for k in key)
    name = f"cs-{kind}-{readable}"[:52].rstrip("-")
    return f"{name}-{short_hash(kind, *key, *([scope] if scope else []))}"
