import boto3

from catalog_search.dynamo import unpack_embedding
from catalog_search.stages import publish

from .conftest import run_of


def test_resolve_inputs_defaults_to_the_newest_enrichment(chain):
    clients, enriched = chain.clients, chain.enriched
    run = run_of("search_index_publish")
    latest = {"snapshot_id": enriched["snapshot_id"], "model_version": enriched["model_version"]}
    assert publish.resolve_inputs(clients, run) == latest
    assert publish.resolve_inputs(clients, run, snapshot_id="s", model_version="m") == {"snapshot_id": "s", "model_version": "m"}


def test_upsert_items_writes_every_product_once_and_converges_on_re_runs(chain):
    clients, enriched = chain.clients, chain.enriched
    inputs = {"snapshot_id": enriched["snapshot_id"], "model_version": enriched["model_version"]}
    run = run_of("search_index_publish")
    assert publish.upsert_items(clients, run, **inputs)["items"] == 400
    assert publish.upsert_items(clients, run, **inputs)["items"] == 400
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(clients.settings.table_name)
    assert table.scan(Select="COUNT")["Count"] == 400
    item = table.get_item(Key={"product_id": "1000"})["Item"]
    assert item["model_version"] == enriched["model_version"] and unpack_embedding(item).shape == (8,)
