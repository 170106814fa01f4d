"""The golden-query gate both ways, with the default settings (the dev queries, judged by rule on
each index's own catalog; the default search mode; the chain's champion model), on a
5,000-product sample of the fashion catalog: a normal refresh night passes; an index built
from the wrong vectors, and one whose titles were shuffled, are refused and the alias stays."""

from __future__ import annotations

import numpy as np
import pytest

from catalog_search.stages import Run, enrichment, jobs, publish, refresh
from catalog_search.store import index
from catalog_search.store.object_keys import ObjectKeys
from support import pipeline  # tests/ is on sys.path

PRODUCTS = 5000
FIRST, NIGHT = "20270101T010000Z-gate", "20270102T010000Z-gate"


def enrich(clients, snapshot_id: str) -> dict:
    run = Run("catalog_enrichment", f"scheduled__{snapshot_id}")
    inputs = enrichment.resolve_inputs(clients, run, snapshot_id=snapshot_id)
    jobs.run_locally(clients, run, "transform", pipeline.transform_request(clients, run, **inputs))
    job = jobs.run_locally(clients, run, "processing", enrichment.assembly_config(clients, run, **inputs))
    return enrichment.publish_enriched(clients, run, **inputs, job=job)


def build(clients, snapshot_id: str, rebuild: bool = False) -> str:
    run = Run("search_index_publish", f"scheduled__{snapshot_id}")
    return publish.build_index(clients, run, snapshot_id, clients.store.get_json(ObjectKeys.CHAMPION)["model_version"], rebuild)["index"]


@pytest.fixture(scope="module")
def gated(world):
    """A live index of the sample's first snapshot, then a normal night's snapshot, enriched."""
    gate = world("gate", PRODUCTS)
    clients = gate.clients
    clients.store.put_parquet(ObjectKeys.snapshot_products(FIRST), gate.sample)
    enrich(clients, FIRST)
    first = build(clients, FIRST)
    assert publish.check_search_quality(clients, Run("search_index_publish", "first"), first)["live_index"] is None
    publish.swap_alias(clients, Run("search_index_publish", "first"), first)
    refresh.land_snapshot(clients, Run("catalog_refresh", "night"), NIGHT, derive_from=FIRST)
    enrich(clients, NIGHT)
    return clients, first


def test_a_normal_refresh_night_passes_with_the_default_settings(gated):
    clients, first = gated
    assert clients.settings.golden_queries.endswith("queries_dev.tsv")  # the defaults: the dev set, by rule
    night = build(clients, NIGHT)
    checked = publish.check_search_quality(clients, Run("search_index_publish", "night"), night)
    assert checked["judging"] == "rule" and checked["live_index"] == first
    assert checked["compared_queries"] >= 35 and abs(checked["difference"]) < 0.02, checked


def _publish_broken(clients, snapshot_id: str, broken) -> str:
    """An index of ``snapshot_id`` whose enriched catalog is the night's, broken by ``broken``."""
    model_version = clients.store.get_json(ObjectKeys.CHAMPION)["model_version"]
    products = clients.store.get_parquet(ObjectKeys.snapshot_products(NIGHT))
    enriched = clients.store.get_parquet(ObjectKeys.enriched_products(NIGHT, model_version))
    clients.store.put_parquet(ObjectKeys.snapshot_products(snapshot_id), products)
    clients.store.put_parquet(ObjectKeys.enriched_products(snapshot_id, model_version), broken(enriched))
    return build(clients, snapshot_id, rebuild=True)


@pytest.mark.parametrize("snapshot_id, broken", [
    ("20270103T010000Z-gate", lambda e: e.assign(embedding=list(np.roll(np.stack(e["embedding"]), 1, axis=0)))),
    ("20270104T010000Z-gate", lambda e: e.assign(title=e["title"].sample(frac=1, random_state=1).to_numpy())),
], ids=["wrong-vectors", "shuffled-titles"])
def test_a_broken_index_is_refused_naming_its_worst_queries(gated, snapshot_id, broken):
    clients, first = gated
    bad = _publish_broken(clients, snapshot_id, broken)
    with pytest.raises(publish.SearchQualityFailed, match=r"a drop of 0\.\d+.*worst queries, live → new: d\d\d '") as refused:
        publish.check_search_quality(clients, Run("search_index_publish", snapshot_id), bad)
    assert "The alias was not moved" in str(refused.value)
    assert index.live_index(clients.opensearch, clients.settings.index_alias) == first
