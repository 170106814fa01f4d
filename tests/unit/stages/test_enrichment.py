import numpy as np

from catalog_search.layout import Layout
from catalog_search.stages import enrichment

from .conftest import run_of


def test_resolve_inputs_defaults_to_the_newest_snapshot_and_the_champion(chain):
    clients, snapshot_id, champion = chain.clients, chain.snapshot_id, chain.champion
    run = run_of("catalog_enrichment")
    assert enrichment.resolve_inputs(clients, run) == {"snapshot_id": snapshot_id, "model_version": champion["model_version"]}
    assert enrichment.resolve_inputs(clients, run, model_version="m0")["model_version"] == "m0"


def test_prepare_transform_input_writes_one_line_per_product_and_the_request(chain):
    clients, snapshot_id, champion = chain.clients, chain.snapshot_id, chain.champion
    version = champion["model_version"]
    config = enrichment.prepare_transform_input(clients, run_of("catalog_enrichment"), snapshot_id, version)
    lines = clients.store.get_bytes(Layout.transform_input_file(snapshot_id, version)).decode().splitlines()
    assert len(lines) == 400 and config["ModelName"] == version
    assert config["TransformOutput"]["S3OutputPath"] == clients.store.uri(Layout.transform_output(snapshot_id, version))


def test_enrichment_embeds_every_product_and_moves_the_pointer(chain):
    clients, snapshot_id, champion, enriched = chain.clients, chain.snapshot_id, chain.champion, chain.enriched
    store, version = clients.store, champion["model_version"]
    frame = store.get_parquet(Layout.enriched_products(snapshot_id, version))
    assert enriched["products"] == len(frame) == 400
    vectors = np.stack(frame["embedding"].to_numpy())
    assert vectors.shape == (400, 8) and (np.linalg.norm(vectors, axis=1) > 0).all()
    assert store.get_json(Layout.LATEST_ENRICHMENT) == {"snapshot_id": snapshot_id, "model_version": version}
    report = store.get_json(Layout.suite_report(run_of("catalog_enrichment").report_prefix, "embeddings"))
    assert report["success"]


def test_a_second_run_for_an_already_enriched_snapshot_and_model_does_nothing(chain):
    clients, run = chain.clients, run_of("catalog_enrichment", "2026-11-29T02:00:00")
    snapshot_id, model_version = chain.snapshot_id, chain.champion["model_version"]
    assert not enrichment.needs_embedding(clients, run, snapshot_id, model_version)  # the nightly cron after the event
    assert enrichment.needs_embedding(clients, run, snapshot_id, "cs-o2v-another-model")
    assert enrichment.needs_embedding(clients, run, "29990101T000000Z-fashion", model_version)
