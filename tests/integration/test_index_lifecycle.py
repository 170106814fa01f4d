"""Versioned indices and the alias on a real OpenSearch node: atomic swap, the backfill
guard, validation failures that leave the alias alone, rollback and retention."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from catalog_search.store import index

LOCAL = index.IndexShape(engine="lucene", replicas=0)  # one node: nowhere for a replica


@pytest.fixture
def client(clients):
    return clients.opensearch


@pytest.fixture
def alias(client, unique):
    name = f"it-{unique}"
    yield name
    client.indices.delete(index=f"{name}-*", ignore_unavailable=True)


def _enriched(n=40, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "product_id": [f"p{i}" for i in range(n)],
        "title": [f"product {i} {'shirt' if i % 2 else 'watch'}" for i in range(n)],
        "category": ["Apparel > Topwear > Shirts" if i % 2 else "Accessories > Watches" for i in range(n)],
        "attributes": ['{"gender": "Men"}'] * n,
        "price": [float(i) for i in range(n)],
        "embedding": list(rng.normal(size=(n, dim)).astype(np.float32)),
    })


def _build(client, alias, snapshot_id, built_at, frame=None):
    frame = _enriched() if frame is None else frame
    name = index.index_name(alias, snapshot_id, "m1", built_at)
    index.build(client, name, frame, 8, LOCAL, {"snapshot_id": snapshot_id, "model_version": "m1", "built_at": built_at})
    index.validate(client, name, frame)
    return name


def test_swap_moves_the_alias_forward_never_back(client, alias):
    first = _build(client, alias, "20260101T000000Z-x", "1")
    assert index.swap_alias(client, alias, first).moved
    newer = _build(client, alias, "20260201T000000Z-x", "2")
    result = index.swap_alias(client, alias, newer)
    assert result.moved and result.previous == first and index.live_index(client, alias) == newer
    backfill = _build(client, alias, "20251201T000000Z-x", "3")
    result = index.swap_alias(client, alias, backfill)
    assert not result.moved and "backfill" in result.reason
    assert index.live_index(client, alias) == newer
    assert client.indices.get_alias(name=alias) == {newer: {"aliases": {alias: {}}}}


def test_incomplete_index_fails_validation_and_is_never_swapped(client, alias):
    live = _build(client, alias, "20260101T000000Z-x", "1")
    index.swap_alias(client, alias, live)
    frame = _enriched()
    broken = index.index_name(alias, "20260301T000000Z-x", "m1", "2")
    index.build(client, broken, frame.iloc[:30], 8, LOCAL, {"snapshot_id": "20260301T000000Z-x", "built_at": "2"})
    with pytest.raises(index.IndexValidationFailed, match="30 documents, expected 40"):
        index.validate(client, broken, frame)
    assert index.live_index(client, alias) == live


def test_the_knn_check_counts_ties_between_identical_vectors_as_hits(client, alias):
    frame = _enriched(n=60)
    frame["embedding"] = [frame["embedding"].iloc[0]] * 25 + list(frame["embedding"].iloc[25:])  # 25 identical titles
    name = index.index_name(alias, "20260401T000000Z-x", "m1", "1")
    index.build(client, name, frame, 8, LOCAL, {"snapshot_id": "20260401T000000Z-x", "built_at": "1"})
    assert index.validate(client, name, frame, sample=60).knn_recall == 1.0


def test_an_index_whose_vectors_are_not_the_products_fails_the_knn_check(client, alias):
    frame = _enriched(n=60)
    wrong = frame.assign(embedding=list(np.random.default_rng(9).normal(size=(60, 8)).astype(np.float32)))
    name = index.index_name(alias, "20260501T000000Z-x", "m1", "1")
    index.build(client, name, wrong, 8, LOCAL, {"snapshot_id": "20260501T000000Z-x", "built_at": "1"})
    with pytest.raises(index.IndexValidationFailed, match=r"k-NN recall@10 \(k=100\) against exact search is \d+%"):
        index.validate(client, name, frame)


def test_rollback_and_retention(client, alias):
    names = [_build(client, alias, f"2026010{i}T000000Z-x", str(i)) for i in range(1, 5)]
    for name in names:
        index.swap_alias(client, alias, name)
    assert index.rollback(client, alias).live == names[2]
    assert index.live_index(client, alias) == names[2]
    removed = index.apply_retention(client, alias, keep=2)
    assert removed == names[:2]
    assert set(client.indices.get(index=f"{alias}-*")) == set(names[2:])


def test_rebuilding_the_same_index_is_idempotent(client, alias):
    name = _build(client, alias, "20260101T000000Z-x", "1")
    _build(client, alias, "20260101T000000Z-x", "1")
    assert client.count(index=name)["count"] == 40


def test_filters_and_knn_search_on_real_index(client, alias):
    from catalog_search.search.query import SearchRequest, build_query

    frame = _enriched()
    name = _build(client, alias, "20260101T000000Z-x", "1", frame)
    index.swap_alias(client, alias, name)
    vector = frame["embedding"].iloc[3].tolist()
    body = build_query(SearchRequest("shirt", mode="hybrid", size=5, filters={"category": "Apparel > Topwear"}), vector)
    hits = client.search(index=alias, body=body)["hits"]["hits"]
    assert hits and all(h["_source"]["category"].startswith("Apparel > Topwear") for h in hits)
    assert hits[0]["_id"] == "p3"  # its own vector and the keyword both match
    def page(number: int) -> set[str]:
        body = build_query(SearchRequest("shirt", mode="keyword", size=5, page=number), None)
        return {h["_id"] for h in client.search(index=alias, body=body)["hits"]["hits"]}

    assert not page(2) & page(1)


def test_a_loaded_index_is_production_shaped(client, alias):
    """Replicas, refresh and translog durability restored after the load (0 replicas: one local
    node), force-merged."""
    frame = _enriched()
    name = index.index_name(alias, "20260101T000000Z-x", "m1", "1")
    shape = index.IndexShape(engine="lucene", replicas=0, force_merge_segments=1)
    assert index.build(client, name, frame, 8, shape, {"snapshot_id": "20260101T000000Z-x", "built_at": "1"}) == len(frame)
    settings = client.indices.get_settings(index=name)[name]["settings"]["index"]
    assert settings["refresh_interval"] == "1s" and settings["number_of_replicas"] == "0"
    assert settings["translog"]["durability"] == "request"
    segments = client.indices.segments(index=name)["indices"][name]["shards"]["0"][0]["num_search_segments"]
    assert segments == 1
    assert client.cluster.health(index=name)["status"] == "green"


def test_bulk_loads_retry_when_the_node_is_busy(client, alias, monkeypatch):
    """A bulk request answered 429 is retried with backoff instead of failing the load."""
    from opensearchpy.exceptions import TransportError

    real = client.bulk
    calls = []

    def busy_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise TransportError(429, "es_rejected_execution_exception", {})
        return real(*args, **kwargs)

    monkeypatch.setattr(client, "bulk", busy_once)
    monkeypatch.setitem(index.BULK_RETRIES, "initial_backoff", 0)
    name = index.index_name(alias, "20260101T000000Z-x", "m1", "busy")
    assert index.build(client, name, _enriched(), 8, LOCAL, {"snapshot_id": "20260101T000000Z-x", "built_at": "1"}) == 40
    assert len(calls) == 2
