"""The index stages of search_index_publish and search_index_rollback, called directly on the
real local node (and moto server for the enriched catalog), and the CLI's "not found" answers."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from catalog_search.clients import Clients
from catalog_search.errors import PermanentError
from catalog_search.stages import Run, publish
from catalog_search.store import changes, index
from catalog_search.store.object_keys import ObjectKeys


def _enriched(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "product_id": [str(i) for i in range(n)], "title": [f"Men navy shirt {i}" for i in range(n)],
        "category": ["Apparel > Topwear > Shirts"] * n, "attributes": ['{"gender": "Men"}'] * n,
        "embedding": list(rng.normal(size=(n, 8)).astype(np.float32)),
    })


@pytest.fixture
def stage_clients(clients, unique) -> Clients:
    settings = dataclasses.replace(clients.settings, bucket=f"stages-{unique}", index_alias=f"st-{unique}", table_name=f"st-{unique}",
                                   index_replicas=0)
    scoped = dataclasses.replace(clients, settings=settings)
    scoped.store.ensure_bucket()
    for snapshot_id in ("20260101T000000Z-x", "20260201T000000Z-x"):
        scoped.store.put_parquet(ObjectKeys.enriched_products(snapshot_id, "m1"), _enriched())
    yield scoped
    clients.opensearch.indices.delete(index=f"{settings.index_alias}-*", ignore_unavailable=True)


def test_build_swap_and_rollback_stages(stage_clients):
    run = Run("search_index_publish", "manual__1")
    first = publish.build_index(stage_clients, run, "20260101T000000Z-x", "m1")
    assert first["documents"] == 50 and first["knn_recall"] >= 0.9
    assert publish.swap_alias(stage_clients, run, first["index"])["moved"]
    second = publish.build_index(stage_clients, Run("search_index_publish", "manual__2"), "20260201T000000Z-x", "m1")
    swapped = publish.swap_alias(stage_clients, run, second["index"])
    assert swapped["moved"] and swapped["previous"] == first["index"]
    meta = index.index_meta(stage_clients.opensearch, second["index"])
    assert meta["snapshot_id"] == "20260201T000000Z-x" and meta["model_version"] == "m1"
    rolled = publish.rollback(stage_clients, Run("search_index_rollback", "manual__3"))
    assert rolled["live"] == first["index"]


def test_a_rollback_to_an_index_of_the_previous_model_makes_that_model_the_champion_again(stage_clients):
    store, run = stage_clients.store, Run("search_index_publish", "manual__1")
    store.put_parquet(ObjectKeys.enriched_products("20260201T000000Z-x", "m2"), _enriched(seed=1))
    records = {model: {"model_version": model, "snapshot_id": "20260101T000000Z-x", "metrics": {"accuracy": 0.9}}
               for model in ("m1", "m2")}
    store.put_json(ObjectKeys.model_champion_record("m1"), records["m1"])
    store.put_json(ObjectKeys.CHAMPION, records["m1"])
    first = publish.build_index(stage_clients, run, "20260101T000000Z-x", "m1")
    publish.swap_alias(stage_clients, run, first["index"])
    store.put_json(ObjectKeys.CHAMPION, records["m2"])  # m2 promoted, then published
    second = publish.build_index(stage_clients, run, "20260201T000000Z-x", "m2")
    publish.swap_alias(stage_clients, run, second["index"])

    store.s3.delete_object(Bucket=store.bucket, Key=ObjectKeys.model_champion_record("m1"))  # promoted before records were kept
    with pytest.raises(PermanentError, match="model m1 has no champion record"):
        publish.rollback(stage_clients, Run("search_index_rollback", "manual__2"))
    assert index.live_index(stage_clients.opensearch, stage_clients.settings.index_alias) == second["index"]  # nothing moved

    store.put_json(ObjectKeys.model_champion_record("m1"), records["m1"])
    rolled = publish.rollback(stage_clients, Run("search_index_rollback", "manual__3"))
    assert rolled["live"] == first["index"] and rolled["champion"] == "m1"
    champion = store.get_json(ObjectKeys.CHAMPION)
    assert champion["model_version"] == "m1" and champion["replaced"] == "m2" and champion["metrics"] == {"accuracy": 0.9}
    assert publish.resolve_inputs(stage_clients, run) == {"snapshot_id": "20260101T000000Z-x", "model_version": "m1"}
    assert not publish.needs_publishing(stage_clients, run, **publish.resolve_inputs(stage_clients, run))  # m2 stays rolled back


def test_a_run_publishes_only_what_is_new_and_never_older_data(stage_clients):
    run = Run("search_index_publish", "manual__1")
    assert publish.needs_publishing(stage_clients, run, "20260101T000000Z-x", "m1")  # nothing live yet
    built = publish.build_index(stage_clients, run, "20260201T000000Z-x", "m1")
    publish.swap_alias(stage_clients, run, built["index"])
    assert not publish.needs_publishing(stage_clients, run, "20260201T000000Z-x", "m1")  # already live: tonight's second run
    assert publish.needs_publishing(stage_clients, run, "20260201T000000Z-x", "m1", rebuild=True)  # the runbook's rebuild
    assert not publish.needs_publishing(stage_clients, run, "20260101T000000Z-x", "m1", rebuild=True)  # never older data
    assert not publish.needs_publishing(stage_clients, run, "20260101T000000Z-x", "m1")  # a backfill
    assert publish.needs_publishing(stage_clients, run, "20260201T000000Z-x", "m2")  # a new champion, same snapshot
    assert publish.needs_publishing(stage_clients, run, "20260301T000000Z-x", "m1")  # the next night


def test_a_retried_build_rebuilds_the_same_index_from_scratch(stage_clients):
    run = Run("search_index_publish", "manual__1")
    once = publish.build_index(stage_clients, run, "20260101T000000Z-x", "m1")
    again = publish.build_index(stage_clients, run, "20260101T000000Z-x", "m1")
    assert once["index"] == again["index"] and stage_clients.opensearch.count(index=again["index"])["count"] == 50


def test_a_later_snapshot_of_the_same_model_is_the_live_index_with_its_changes_applied(stage_clients):
    client, run = stage_clients.opensearch, Run("search_index_publish", "manual__1")
    first = publish.build_index(stage_clients, run, "20260101T000000Z-x", "m1")
    assert first["build"] == "full"
    publish.swap_alias(stage_clients, run, first["index"])
    later = _enriched()
    later.loc[7, "title"] = "Women red watch"
    later.loc[8, "embedding"] = -later.loc[8, "embedding"]
    later = pd.concat([later.drop(index=3), _enriched(51).tail(1)], ignore_index=True)
    stage_clients.store.put_parquet(ObjectKeys.enriched_products("20260301T000000Z-x", "m1"), later)

    second = publish.build_index(stage_clients, Run("search_index_publish", "manual__2"), "20260301T000000Z-x", "m1")
    assert (second["build"], second["base_index"]) == ("incremental", first["index"])
    assert (second["new"], second["changed"], second["removed"], second["unchanged"]) == (1, 2, 1, 47)
    assert second["documents"] == 50 and second["knn_recall"] >= 0.9
    doc = client.get(index=second["index"], id="7")["_source"]
    assert doc["title"] == "Women red watch" and not client.exists(index=second["index"], id="3")
    assert client.get(index=second["index"], id="8")["_source"]["embedding"] == pytest.approx(
        later.set_index("product_id").loc["8", "embedding"].tolist())
    assert index.index_meta(client, second["index"])["snapshot_id"] == "20260301T000000Z-x"
    assert client.count(index=first["index"])["count"] == 50 and client.get(index=first["index"], id="7")["_source"]["title"] != doc["title"]
    assert index.live_index(client, stage_clients.settings.index_alias) == first["index"]  # the alias moves only at the swap

    retried = publish.build_index(stage_clients, Run("search_index_publish", "manual__2"), "20260301T000000Z-x", "m1")
    assert retried["index"] == second["index"] and retried["documents"] == 50
    rebuilt = publish.build_index(stage_clients, Run("search_index_publish", "manual__3"), "20260301T000000Z-x", "m1", rebuild=True)
    assert rebuilt["build"] == "full" and rebuilt["documents"] == 50
    stage_clients.store.put_parquet(ObjectKeys.enriched_products("20260301T000000Z-x", "m2"), later)
    assert publish.build_index(stage_clients, run, "20260301T000000Z-x", "m2")["build"] == "full"  # another model


def test_a_new_shard_count_makes_the_next_publish_a_full_load(stage_clients):
    """The shard count is part of the schema: the nights keep cloning the live index while it
    stays, and the first night after it changes loads a new index with the new count."""
    client, settings = stage_clients.opensearch, stage_clients.settings
    two = dataclasses.replace(stage_clients, settings=dataclasses.replace(settings, index_shards=2))
    first = publish.build_index(two, Run("search_index_publish", "manual__1"), "20260101T000000Z-x", "m1")
    assert (first["build"], first["shards"], index.primary_shards(client, first["index"])) == ("full", 2, 2)
    publish.swap_alias(two, Run("search_index_publish", "manual__1"), first["index"])

    second = publish.build_index(two, Run("search_index_publish", "manual__2"), "20260201T000000Z-x", "m1")
    assert (second["build"], index.primary_shards(client, second["index"])) == ("incremental", 2)
    three = dataclasses.replace(stage_clients, settings=dataclasses.replace(settings, index_shards=3))
    resharded = publish.build_index(three, Run("search_index_publish", "manual__3"), "20260201T000000Z-x", "m1")
    assert (resharded["build"], index.primary_shards(client, resharded["index"])) == ("full", 3)
    assert resharded["documents"] == 50 and resharded["knn_recall"] >= 0.9


def test_a_negative_shard_count_is_refused_naming_the_setting(stage_clients):
    bad = dataclasses.replace(stage_clients, settings=dataclasses.replace(stage_clients.settings, index_shards=-1))
    with pytest.raises(PermanentError, match="CATALOG_SEARCH_INDEX_SHARDS=-1: expected 0"):
        publish.build_index(bad, Run("search_index_publish", "manual__1"), "20260101T000000Z-x", "m1")
    assert not stage_clients.opensearch.indices.get(index=f"{stage_clients.settings.index_alias}-*")


def test_by_default_the_shard_count_follows_the_catalog_s_size(stage_clients):
    """With the computed default, 50 products get one shard; a live index of 2 (set by hand before)
    holds shards far below a shard's size, so the next night goes back to one, with a full load."""
    client = stage_clients.opensearch
    assert stage_clients.settings.index_shards == 0
    first = publish.build_index(stage_clients, Run("search_index_publish", "manual__1"), "20260101T000000Z-x", "m1")
    assert index.primary_shards(client, first["index"]) == 1
    two = dataclasses.replace(stage_clients, settings=dataclasses.replace(stage_clients.settings, index_shards=2))
    by_hand = publish.build_index(two, Run("search_index_publish", "manual__2"), "20260101T000000Z-x", "m1")
    publish.swap_alias(two, Run("search_index_publish", "manual__2"), by_hand["index"])
    later = publish.build_index(stage_clients, Run("search_index_publish", "manual__3"), "20260201T000000Z-x", "m1")
    assert (later["build"], later["shards"], index.primary_shards(client, later["index"])) == ("full", 1, 1)


def test_the_changes_of_a_night_are_found_once_and_again_when_a_catalog_is_rewritten(stage_clients, monkeypatch):
    store, run = stage_clients.store, Run("search_index_publish", "manual__1")
    before, after = "20260101T000000Z-x", "20260301T000000Z-x"
    publish.upsert_items(stage_clients, run, before, "m1")
    publish.swap_alias(stage_clients, run, publish.build_index(stage_clients, run, before, "m1")["index"])
    later = _enriched().drop(index=3)
    later.loc[7, "title"] = "Women red watch"
    store.put_parquet(ObjectKeys.enriched_products(after, "m1"), later)
    assert publish.build_index(stage_clients, run, after, "m1")["changed"] == 1
    stored = store.list_keys(ObjectKeys.enrichment(after, "m1") + "changes/")
    assert [key.rsplit("/", 1)[-1] for key in stored] == ["kinds.parquet", "rows.parquet"]

    def compared_again(*args):
        raise AssertionError("the stored changes were not used")

    def read_a_catalog(*args):
        raise AssertionError("the DynamoDB sync read an enriched catalog, not only the stored changes")

    with monkeypatch.context() as patched:
        patched.setattr(changes, "diff", compared_again)
        patched.setattr(publish, "_enriched", read_a_catalog)
        synced = publish.upsert_items(stage_clients, run, after, "m1")  # the table holds the live index's snapshot
    assert (synced["updated"], synced["removed"], synced["unchanged"], synced["live_items"]) == (1, 1, 48, 49)
    assert synced["read_back"] == 49  # the changed product and the 48 unchanged ones, from the stored rows

    store.put_parquet(ObjectKeys.enriched_products(after, "m1"), later.drop(index=9))  # enrichment ran again
    assert publish.build_index(stage_clients, run, after, "m1")["removed"] == 2
    assert len(store.list_keys(ObjectKeys.enrichment(after, "m1") + "changes/")) == 4 and all(store.exists(key) for key in stored)


def test_an_index_rebuilt_from_dynamodb_when_the_enriched_catalog_is_gone(stage_clients):
    run, snapshot_id = Run("search_index_publish", "manual__1"), "20260101T000000Z-x"
    with pytest.raises(PermanentError, match="holds snapshot None"):  # nothing synced yet
        publish.build_index(stage_clients, run, snapshot_id, "m1", source="dynamodb")
    assert publish.upsert_items(stage_clients, run, snapshot_id, "m1")["written"] == 50
    stage_clients.s3.delete_object(Bucket=stage_clients.settings.bucket, Key=ObjectKeys.enriched_products(snapshot_id, "m1"))

    rebuilt = publish.build_index(stage_clients, Run("search_index_publish", "manual__2"), snapshot_id, "m1", source="dynamodb")
    assert rebuilt["build"] == "full" and rebuilt["documents"] == 50 and rebuilt["knn_recall"] >= 0.9
    doc = stage_clients.opensearch.get(index=rebuilt["index"], id="7")["_source"]
    assert doc["title"] == "Men navy shirt 7" and doc["attributes"] == {"gender": "Men"}
    assert doc["embedding"] == pytest.approx(_enriched()["embedding"].iloc[7].tolist())
    assert publish.upsert_items(stage_clients, run, snapshot_id, "m1")["written"] == 0  # the table already holds it
    with pytest.raises(PermanentError, match="not 20260201T000000Z-x with m1"):
        publish.build_index(stage_clients, run, "20260201T000000Z-x", "m1", source="dynamodb")


@pytest.mark.parametrize("args, message", [
    (["recommend", "999999999"], "product '999999999' not found"),
    (["search", "shirt"], "no index behind alias"),
])
def test_the_cli_says_not_found(stage_clients, args, message):
    env = {"CATALOG_SEARCH_INDEX_ALIAS": stage_clients.settings.index_alias, "CATALOG_SEARCH_BUCKET": stage_clients.settings.bucket}
    if args[0] == "recommend":  # a live index without that product
        built = publish.build_index(stage_clients, Run("search_index_publish", "manual__1"), "20260101T000000Z-x", "m1")
        publish.swap_alias(stage_clients, Run("search_index_publish", "manual__1"), built["index"])
    proc = subprocess.run([sys.executable, "-m", "catalog_search", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})
    assert proc.returncode == 4 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and message in proc.stderr


def _golden(tmp_path) -> tuple[str, str]:
    """Golden queries for the synthetic catalog, judged by qrels (no rule columns): "navy shirt 3"
    wants product 3, and products 0-19 were judged (the others not relevant, grade 0)."""
    queries, qrels = tmp_path / "queries.tsv", tmp_path / "qrels.tsv"
    queries.write_text("qid\tquery\ng1\tnavy shirt 3\ng2\tnavy shirt 7\n")
    judged = [f"{qid}\t{p}\t{2 if p == wanted else 0}" for qid, wanted in (("g1", 3), ("g2", 7)) for p in range(20)]
    qrels.write_text("qid\tproduct_id\tgrade\n" + "\n".join(judged) + "\n")
    return str(queries), str(qrels)


def test_the_golden_query_gate_passes_a_good_index_and_refuses_a_bad_one(stage_clients, tmp_path):
    """Keyword mode keeps the test free of a model; the default mode runs in the end-to-end chain."""
    queries, qrels = _golden(tmp_path)
    gated = dataclasses.replace(stage_clients.settings, golden_queries=queries, golden_qrels=qrels, search_mode="keyword",
                                min_golden_ndcg=0.5, work_dir=tmp_path / "work")
    clients = dataclasses.replace(stage_clients, settings=gated)
    run = Run("search_index_publish", "manual__1")
    good = publish.build_index(clients, run, "20260101T000000Z-x", "m1")
    assert publish.check_search_quality(clients, run, good["index"])["ndcg@10"] == 1.0
    publish.swap_alias(clients, run, good["index"])

    scrambled = _enriched()
    scrambled["title"] = ["Women red watch"] * 50  # a broken load: every title lost
    clients.store.put_parquet(ObjectKeys.enriched_products("20260301T000000Z-x", "m1"), scrambled)
    bad = publish.build_index(clients, Run("search_index_publish", "manual__2"), "20260301T000000Z-x", "m1")
    with pytest.raises(publish.SearchQualityFailed, match=r"nDCG@10 0\.[0-4]\d+ is below the floor 0\.500.*against the live index's 1\.000"):
        publish.check_search_quality(clients, run, bad["index"])
    assert index.live_index(clients.opensearch, gated.index_alias) == good["index"]
