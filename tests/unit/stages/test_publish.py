import dataclasses

import boto3
import pytest

from catalog_search.stages import publish
from catalog_search.store.dynamo import unpack_embedding
from catalog_search.store.object_store import MissingObject

from .conftest import run_of


def test_resolve_inputs_defaults_to_the_newest_enrichment(chain):
    clients, enriched = chain.clients, chain.enriched
    run = run_of("search_index_publish")
    latest = {"snapshot_id": enriched["snapshot_id"], "model_version": enriched["model_version"]}
    assert publish.resolve_inputs(clients, run) == latest
    assert publish.resolve_inputs(clients, run, snapshot_id="s", model_version="m") == {"snapshot_id": "s", "model_version": "m"}


def test_upsert_items_writes_every_product_once_and_nothing_on_a_re_run(chain):
    clients, enriched = chain.clients, chain.enriched
    inputs = {"snapshot_id": enriched["snapshot_id"], "model_version": enriched["model_version"]}
    run = run_of("search_index_publish")
    first = publish.upsert_items(clients, run, **inputs)
    assert (first["created"], first["written"], first["live_items"]) == (400, 400, 400)
    again = publish.upsert_items(clients, run, **inputs)
    assert (again["written"], again["live_items"]) == (0, 400)  # the table already holds this snapshot
    older = publish.upsert_items(clients, run, "20200101T000000Z-fashion", enriched["model_version"])
    assert older == {"table": clients.settings.table_name, "written": 0, "table_snapshot": enriched["snapshot_id"]}
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(clients.settings.table_name)
    assert table.scan(Select="COUNT")["Count"] == 400
    item = table.get_item(Key={"product_id": "1000"})["Item"]
    assert item["model_version"] == enriched["model_version"] and unpack_embedding(item).shape == (8,)


def test_a_first_load_reads_the_catalog_a_batch_at_a_time_and_leaves_no_copy(chain, monkeypatch):
    """A first load writes every product from the catalog's local copy, read 7 rows at a time (so
    that a task holds a batch, never the catalog), reads a sample back, and deletes the copy."""
    from catalog_search.store import batches

    monkeypatch.setattr(batches, "BATCH_ROWS", 7)
    enriched = chain.enriched
    clients = dataclasses.replace(chain.clients, settings=dataclasses.replace(chain.clients.settings, table_name="batched-load"))
    first = publish.upsert_items(clients, run_of("search_index_publish"), enriched["snapshot_id"], enriched["model_version"])
    assert (first["created"], first["written"], first["live_items"], first["read_back"]) == (400, 400, 400, 400)
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(clients.settings.table_name)
    assert table.scan(Select="COUNT")["Count"] == 400
    assert not list((clients.settings.work_dir / "publish").rglob("*.parquet"))


def test_a_new_model_rewrites_every_product_the_held_ones_on_condition_and_removes_the_gone_ones(chain):
    """A catalog of another model written over the table: no list of every product's id is made
    (the held ones are hashes, the removed ones found by DuckDB from the files), yet the
    products the table held are written on condition (an item of a newer snapshot is kept), the
    new ones in batches, the ones the held snapshot had and this one lacks are removed."""
    import numpy as np
    import pandas as pd

    from catalog_search.store.object_keys import ObjectKeys

    enriched = chain.enriched
    clients = dataclasses.replace(chain.clients, settings=dataclasses.replace(chain.clients.settings, table_name="new-model"))
    run = run_of("search_index_publish")
    publish.upsert_items(clients, run, enriched["snapshot_id"], enriched["model_version"])
    table = boto3.resource("dynamodb", region_name="us-east-1").Table("new-model")
    table.update_item(Key={"product_id": "1001"}, UpdateExpression="SET snapshot_id = :s", ExpressionAttributeValues={":s": "99991231T000000Z-x"})
    catalog = clients.store.get_parquet(ObjectKeys.enriched_products(enriched["snapshot_id"], enriched["model_version"]))
    gone = catalog["product_id"].iloc[-5:].tolist()
    fresh = catalog.head(3).assign(product_id=["n1", "n2", "n3"])
    other = pd.concat([catalog.iloc[:-5], fresh], ignore_index=True)
    other["embedding"] = list(np.random.default_rng(1).standard_normal((len(other), 8)).astype(np.float32))
    later = "29990101T000000Z-fashion"
    clients.store.put_parquet(ObjectKeys.enriched_products(later, "m2"), other)
    written = publish.upsert_items(clients, run, later, "m2")
    assert (written["created"], written["updated"], written["kept_newer"], written["removed"]) == (3, 394, 1, 5)
    assert written["live_items"] == written["read_back"] == 398  # below RECONCILE_SAMPLE of each kind: every one read back
    ids = {item["product_id"] for item in table.scan(ProjectionExpression="product_id")["Items"]}
    assert {"n1", "n2", "n3"} <= ids and not ids & set(gone) and len(ids) == 398
    assert table.get_item(Key={"product_id": "n1"})["Item"]["model_version"] == "m2"
    assert table.get_item(Key={"product_id": "1001"})["Item"]["snapshot_id"] == "99991231T000000Z-x"
    assert not list((clients.settings.work_dir / "publish").rglob("*.parquet"))


def test_the_golden_gate_applies_only_the_floor_when_the_live_index_cannot_be_scored(chain, tmp_path, monkeypatch):
    """A live index whose model artifact is gone (moto restarted empty under a kept OpenSearch)
    cannot answer by vector: the new index is judged on the floor alone, not refused."""
    queries, qrels = tmp_path / "q.tsv", tmp_path / "r.tsv"
    queries.write_text("qid\tquery\ng1\tnavy shirt\n")
    qrels.write_text("qid\tproduct_id\tgrade\ng1\t7\t2\n")
    settings = dataclasses.replace(chain.clients.settings, golden_queries=str(queries), golden_qrels=str(qrels), min_golden_ndcg=0.5)
    clients = dataclasses.replace(chain.clients, settings=settings, make_opensearch=lambda: None)

    def ranked_ids(client, target, vectors, request):
        if target == "live-index":
            raise MissingObject("s3://bucket/models/gone/output/model.tar.gz does not exist")
        return ["7"] if target == "good-index" else ["8"]

    monkeypatch.setattr(publish.query, "ranked_ids", ranked_ids)
    monkeypatch.setattr(publish.index, "live_index", lambda client, alias: "live-index")
    checked = publish.check_search_quality(clients, run_of("search_index_publish"), "good-index")
    assert checked["ndcg@10"] == 1.0 and checked["live_ndcg@10"] is None
    with pytest.raises(publish.SearchQualityFailed, match="below the floor"):
        publish.check_search_quality(clients, run_of("search_index_publish"), "bad-index")
