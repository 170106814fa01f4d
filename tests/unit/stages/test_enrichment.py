import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from catalog_search import transform_input
from catalog_search.stages import enrichment, jobs
from catalog_search.store import changes
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.validation import ValidationFailed
from support import pipeline  # tests/ is on sys.path

from .conftest import run_of


def test_resolve_inputs_defaults_to_the_newest_snapshot_and_the_champion(chain):
    clients, snapshot_id, champion = chain.clients, chain.snapshot_id, chain.champion
    run = run_of("catalog_enrichment")
    assert enrichment.resolve_inputs(clients, run) == {"snapshot_id": snapshot_id, "model_version": champion["model_version"]}
    assert enrichment.resolve_inputs(clients, run, model_version="m0")["model_version"] == "m0"


def test_the_tokenizing_job_writes_one_line_per_product_and_the_transform_request_reads_it(chain):
    clients, snapshot_id, champion = chain.clients, chain.snapshot_id, chain.champion
    store, version, run = clients.store, champion["model_version"], run_of("catalog_enrichment")
    request = enrichment.transform_input_config(clients, run, snapshot_id, version)
    outputs = {o["OutputName"]: o["S3Output"] for o in request["ProcessingOutputConfig"]["Outputs"]}
    assert {name: o["S3Uri"] for name, o in outputs.items()} == {
        "input": store.uri(ObjectKeys.transform_input(snapshot_id, version)),
        "order": store.uri(ObjectKeys.transform_order(snapshot_id, version).rsplit("/", 1)[0] + "/"),
        "carried": store.uri(ObjectKeys.carried_over(snapshot_id, version).rsplit("/", 1)[0] + "/")}
    assert {o["LocalPath"] for o in outputs.values()} == {f"/opt/ml/processing/output/{name}" for name in outputs}
    assert "before" not in {i["InputName"] for i in request["ProcessingInputs"]}  # the first snapshot of this model
    jobs.run_locally(clients, run, "processing", request)
    config = enrichment.transform_config(clients, run, snapshot_id, version)
    lines = store.get_bytes(ObjectKeys.transform_input_file(snapshot_id, version, 0)).decode().splitlines()
    assert len(lines) == 400 and all(json.loads(line)["in0"] for line in lines) and config["ModelName"] == version
    assert config["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == store.uri(ObjectKeys.transform_input(snapshot_id, version))
    assert config["TransformOutput"]["S3OutputPath"] == store.uri(ObjectKeys.transform_output(snapshot_id, version))
    assert store.get_json(ObjectKeys.transform_summary(snapshot_id, version)) == {
        "products": 400, "embedded": 400, "carried_over": 0, "canaries": 0, "parts": 1, "before_snapshot": None}


def test_the_tokenizing_job_refuses_bad_input_in_one_line(tmp_path, include_dir):
    import subprocess
    import sys

    from catalog_search.store import object_store

    products = object_store.write_parquet(tmp_path / "products.parquet", pd.DataFrame({"product_id": ["a"], "title": ["navy shirt"]}))
    (tmp_path / "vocab.json").write_text(json.dumps({"navy": 2}))
    script = include_dir / "jobs" / "prepare_transform_input.py"
    done = subprocess.run([sys.executable, str(script), "--products", str(products), "--vocabulary", str(tmp_path / "vocab.json"),
                           "--max-seq-len", "20", "--part-records", "10", "--output", str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"prepare_transform_input: {tmp_path / 'vocab.json'}: not a model vocabulary (no '<unk>' token)"]


def test_enrichment_embeds_every_product_and_moves_the_pointer(chain):
    clients, snapshot_id, champion, enriched = chain.clients, chain.snapshot_id, chain.champion, chain.enriched
    store, version = clients.store, champion["model_version"]
    frame = store.get_parquet(ObjectKeys.enriched_products(snapshot_id, version))
    assert enriched["products"] == len(frame) == 400
    vectors = np.stack(frame["embedding"].to_numpy())
    assert vectors.shape == (400, 8) and (np.linalg.norm(vectors, axis=1) > 0).all()
    assert store.get_json(ObjectKeys.LATEST_ENRICHMENT) == {"snapshot_id": snapshot_id, "model_version": version}
    report = store.get_json(ObjectKeys.suite_report(run_of("catalog_enrichment").report_prefix, "embeddings"))
    assert report["success"]


def test_a_second_run_for_an_already_enriched_snapshot_and_model_does_nothing(chain):
    clients, run = chain.clients, run_of("catalog_enrichment", "2026-11-29T02:00:00")
    snapshot_id, model_version = chain.snapshot_id, chain.champion["model_version"]
    assert not enrichment.needs_embedding(clients, run, snapshot_id, model_version)  # the nightly cron after the event
    assert enrichment.needs_embedding(clients, run, snapshot_id, "cs-o2v-another-model")
    assert enrichment.needs_embedding(clients, run, "29990101T000000Z-fashion", model_version)


def test_a_backfill_of_an_older_snapshot_embeds_nothing_unless_asked(chain, caplog):
    clients, run = chain.clients, run_of("catalog_enrichment", "2026-11-29T02:00:00")
    older, model_version = "20200101T010000Z-source", chain.champion["model_version"]
    caplog.set_level("INFO", logger="catalog_search.stages.enrichment")
    assert not enrichment.needs_embedding(clients, run, older, model_version)
    assert f"older than the newest enriched snapshot {chain.snapshot_id}" in caplog.text and '"embed_older": true' in caplog.text
    assert enrichment.needs_embedding(clients, run, older, model_version, embed_older=True)


def refreshed_snapshot(chain, snapshot_id: str) -> pd.DataFrame:
    """A refresh of the chain's snapshot: 5 products retitled, 3 gone, 4 new."""
    products = chain.clients.store.get_parquet(ObjectKeys.snapshot_products(chain.snapshot_id))
    products.loc[products.index[:5], "title"] = products["title"].iloc[:5] + " slim fit"
    added = products.tail(4).assign(product_id=[f"new{i}" for i in range(4)])
    products = pd.concat([products.iloc[:-3], added], ignore_index=True)
    chain.clients.store.put_parquet(ObjectKeys.snapshot_products(snapshot_id), products)
    return products


def assemble(clients, run, snapshot_id: str, model_version: str) -> dict:
    """The assemble_enriched job (the local runner), then the task that publishes what it wrote."""
    job = jobs.run_locally(clients, run, "processing", enrichment.assembly_config(clients, run, snapshot_id, model_version))
    return enrichment.publish_enriched(clients, run, snapshot_id, model_version, job=job)


def enrich(chain, snapshot_id: str, model_version: str) -> dict:
    clients, run = chain.clients, run_of("catalog_enrichment", "2026-11-30T02:00:00")
    jobs.run_locally(clients, run, "transform", pipeline.transform_request(clients, run, snapshot_id, model_version))
    return assemble(clients, run, snapshot_id, model_version)


def test_a_new_model_embeds_every_product(chain):
    assert chain.enriched["embedded"] == 400 and chain.enriched["carried_over"] == 0


def test_a_refresh_embeds_only_the_changed_products_and_carries_the_others_over(chain):
    store, model_version = chain.clients.store, chain.champion["model_version"]
    products = refreshed_snapshot(chain, "29990101T000000Z-refresh")
    result = enrich(chain, "29990101T000000Z-refresh", model_version)
    assert (result["products"], result["embedded"], result["carried_over"]) == (401, 9, 392)  # 5 retitled + 4 new
    assert len(store.get_parquet(ObjectKeys.transform_order("29990101T000000Z-refresh", model_version))) == 9 + transform_input.CANARIES
    before = store.get_parquet(ObjectKeys.enriched_products(chain.snapshot_id, model_version)).set_index("product_id")["embedding"]
    after = store.get_parquet(ObjectKeys.enriched_products("29990101T000000Z-refresh", model_version)).set_index("product_id")["embedding"]
    unchanged = products["product_id"].iloc[5:-4]
    np.testing.assert_array_equal(np.stack(after[unchanged].to_numpy()), np.stack(before[unchanged].to_numpy()))
    retitled = products["product_id"].iloc[:5]
    assert not np.allclose(np.stack(after[retitled].to_numpy()), np.stack(before[retitled].to_numpy()))
    # What changed is kept where the index build and the DynamoDB sync look for it, so that
    # neither reads the older catalog again, and the sync not this one either: the rows it
    # writes and reads back come with the changes, vectors and all.
    kept = changes.kept(store, changes.kept_changes(store, chain.snapshot_id, "29990101T000000Z-refresh", model_version))
    assert set(kept.upserts["product_id"]) == set(retitled) | {f"new{i}" for i in range(4)}
    assert kept.new_ids == {f"new{i}" for i in range(4)} and set(kept.removed_ids) == set(before.index[-3:])
    assert sorted(kept.unchanged_ids) == sorted(unchanged) and set(kept.unchanged_sample["product_id"]) == set(unchanged)
    for rows in (kept.upserts, kept.unchanged_sample):
        np.testing.assert_array_equal(np.stack(rows["embedding"].to_numpy()), np.stack(after[rows["product_id"]].to_numpy()))


def test_vectors_a_model_would_not_give_today_are_never_carried_over(chain):
    store, model_version = chain.clients.store, chain.champion["model_version"]
    tampered_id = "29990101T120000Z-tampered"  # the newest enriched snapshot before the refresh
    tampered = store.get_parquet(ObjectKeys.enriched_products(chain.snapshot_id, model_version))
    tampered["embedding"] = [-vector for vector in tampered["embedding"]]
    store.put_parquet(ObjectKeys.enriched_products(tampered_id, model_version), tampered)
    store.put_parquet(ObjectKeys.snapshot_products(tampered_id), tampered.drop(columns="embedding"))  # what it was enriched from
    refreshed_snapshot(chain, "29990102T000000Z-refresh")
    with pytest.raises(ValidationFailed, match="carried-over vectors equal the model's fresh ones"):
        enrich(chain, "29990102T000000Z-refresh", model_version)
    store.s3.delete_object(Bucket=store.bucket, Key=ObjectKeys.enriched_products(tampered_id, model_version))
    store.s3.delete_object(Bucket=store.bucket, Key=ObjectKeys.snapshot_products(tampered_id))


def test_the_projector_export_is_a_sample_of_the_enriched_catalog(chain, tmp_path):
    clients, snapshot_id, model_version = chain.clients, chain.snapshot_id, chain.champion["model_version"]
    exported = enrichment.export_projector(clients, run_of("catalog_enrichment"), snapshot_id, model_version)
    prefix = ObjectKeys.projector(snapshot_id, model_version)
    assert exported == {"exported": 400, "uri": clients.store.uri(prefix)}  # the small catalog is below the sample size
    tensors = clients.store.get_bytes(prefix + "tensors.tsv").decode().splitlines()
    metadata = clients.store.get_bytes(prefix + "metadata.tsv").decode().splitlines()
    assert len(tensors) == 400 and len(tensors[0].split("\t")) == 8 and metadata[0] == "title\tcategory" and len(metadata) == 401
    assert f'tensor_name: "{model_version}"' in clients.store.get_bytes(prefix + "projector_config.pbtxt").decode()


def test_a_catalog_in_several_input_parts_is_embedded_in_its_order(chain, monkeypatch):
    """Parts spread over the transform's instances (locally: run side by side); the vectors come
    back to the right products."""
    monkeypatch.setattr(enrichment, "TRANSFORM_PART_RECORDS", 150)
    store, model_version = chain.clients.store, chain.champion["model_version"]
    snapshot_id = "19990101T000000Z-parts"  # older than every enrichment: nothing to carry over
    store.put_parquet(ObjectKeys.snapshot_products(snapshot_id), store.get_parquet(ObjectKeys.snapshot_products(chain.snapshot_id)))
    assert enrich(chain, snapshot_id, model_version)["embedded"] == 400
    parts = store.list_keys(ObjectKeys.transform_input(snapshot_id, model_version))
    assert [len(store.get_bytes(key).splitlines()) for key in parts] == [150, 150, 100]
    before = store.get_parquet(ObjectKeys.enriched_products(chain.snapshot_id, model_version)).set_index("product_id")["embedding"]
    after = store.get_parquet(ObjectKeys.enriched_products(snapshot_id, model_version)).set_index("product_id")["embedding"]
    np.testing.assert_allclose(np.stack(after[before.index].to_numpy()), np.stack(before.to_numpy()), atol=1e-6)


def test_the_vectors_are_held_to_the_model_s_own_length_not_a_setting(chain):
    """Object2Vec's documentation gives its encoder's output as enc_dim or as the token embedding's
    size: the length comes from the model (its gate recorded it), and every vector must have it."""
    assert chain.champion["embedding_dim"] == 8
    store, model_version = chain.clients.store, chain.champion["model_version"]
    other_setting = dataclasses.replace(chain, clients=dataclasses.replace(
        chain.clients, settings=dataclasses.replace(chain.clients.settings, embedding_dim=6)))
    snapshot_id = "19970101T000000Z-setting"  # older than every enrichment: all embedded
    store.put_parquet(ObjectKeys.snapshot_products(snapshot_id), store.get_parquet(ObjectKeys.snapshot_products(chain.snapshot_id)))
    assert enrich(other_setting, snapshot_id, model_version)["embedded"] == 400  # 8-d vectors, whatever enc_dim says

    snapshot_id = "19960101T000000Z-short"
    store.put_parquet(ObjectKeys.snapshot_products(snapshot_id), store.get_parquet(ObjectKeys.snapshot_products(chain.snapshot_id)))
    clients, run = chain.clients, run_of("catalog_enrichment", "2026-11-30T02:00:00")
    jobs.run_locally(clients, run, "transform", pipeline.transform_request(clients, run, snapshot_id, model_version))
    out = ObjectKeys.transform_output_file(snapshot_id, model_version, 0)
    lines = store.get_bytes(out).decode().splitlines()
    lines[7] = json.dumps({"embeddings": json.loads(lines[7])["embeddings"][:6]})  # one vector of another length
    store.put_bytes(out, ("\n".join(lines) + "\n").encode())
    with pytest.raises(ValidationFailed, match=r"embedding_dim"):
        assemble(clients, run, snapshot_id, model_version)
    # The job wrote its catalog nowhere a reader looks; the task published the report and nothing else.
    assert not store.exists(ObjectKeys.enriched_products(snapshot_id, model_version))
    assert not store.exists(ObjectKeys.projector_sample(snapshot_id, model_version))
    report = store.get_json(ObjectKeys.suite_report(run.report_prefix, "embeddings"))
    assert not report["success"] and report["data_docs_uri"].endswith("/data_docs/embeddings/index.html")
    assert store.exists(ObjectKeys.data_docs(run.report_prefix, "embeddings") + "index.html")


def test_a_transform_output_short_of_lines_is_refused_with_a_report_and_nothing_published(chain):
    store, model_version = chain.clients.store, chain.champion["model_version"]
    snapshot_id = "19950101T000000Z-lines"
    store.put_parquet(ObjectKeys.snapshot_products(snapshot_id), store.get_parquet(ObjectKeys.snapshot_products(chain.snapshot_id)))
    clients, run = chain.clients, run_of("catalog_enrichment", "2026-11-30T03:00:00")
    latest = store.get_json(ObjectKeys.LATEST_ENRICHMENT)
    jobs.run_locally(clients, run, "transform", pipeline.transform_request(clients, run, snapshot_id, model_version))
    out = ObjectKeys.transform_output_file(snapshot_id, model_version, 0)
    store.put_bytes(out, b"".join(store.get_bytes(out).splitlines(keepends=True)[:-2]))  # two records without a line
    with pytest.raises(ValidationFailed, match=r"one output line per input record \(400\).*observed 398"):
        assemble(clients, run, snapshot_id, model_version)
    assert not store.exists(ObjectKeys.enriched_products(snapshot_id, model_version))
    assert store.get_json(ObjectKeys.LATEST_ENRICHMENT) == latest
    report = store.get_json(ObjectKeys.suite_report(run.report_prefix, "embeddings"))
    assert (report["success"], report["rows"], report["data_docs_uri"]) == (False, 398, None)


def test_a_refresh_that_retitles_nothing_carries_every_kept_product_over(chain):
    """A night of additions only, after the chain's snapshot: no title to compare (this once failed on an
    empty assignment)."""
    store, model_version = chain.clients.store, chain.champion["model_version"]
    products = store.get_parquet(ObjectKeys.snapshot_products(chain.snapshot_id))
    added = products.tail(2).assign(product_id=["added0", "added1"])
    store.put_parquet(ObjectKeys.snapshot_products("20270101T000000Z-added"), pd.concat([products, added], ignore_index=True))
    result = enrich(chain, "20270101T000000Z-added", model_version)
    assert (result["products"], result["embedded"]) == (402, 2)
