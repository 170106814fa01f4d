"""A run's inputs: its conf first, then the newest triggering asset event by time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from catalog_search.dag_support import CATALOG_SNAPSHOT, EMBEDDING_MODEL, inputs_given

NOW = datetime(2026, 12, 3, 1, tzinfo=UTC)


@dataclass
class Event:
    extra: dict
    timestamp: datetime


def test_the_newest_event_wins_whatever_order_airflow_hands_them_over():
    older = Event({"snapshot_id": "20261127T040000Z-source"}, NOW)
    newer = Event({"snapshot_id": "20261128T040000Z-source"}, NOW + timedelta(minutes=1))
    for events in ([older, newer], [newer, older]):
        found = inputs_given(("snapshot_id",), {}, {CATALOG_SNAPSHOT: events}, (CATALOG_SNAPSHOT,))
        assert found == {"snapshot_id": "20261128T040000Z-source"}


def test_the_conf_wins_over_events_and_a_key_nobody_gives_is_left_out():
    events = {CATALOG_SNAPSHOT: [Event({"snapshot_id": "20261128T040000Z-source"}, NOW)],
              EMBEDDING_MODEL: [Event({"model_version": "m2"}, NOW), Event({}, NOW + timedelta(hours=1))]}
    found = inputs_given(("snapshot_id", "model_version", "rebuild"), {"snapshot_id": "s1"}, events,
                         (CATALOG_SNAPSHOT, EMBEDDING_MODEL))
    assert found == {"snapshot_id": "s1", "model_version": "m2"}
