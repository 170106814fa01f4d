import dataclasses
import json

import numpy as np
import pytest

from catalog_search.errors import NotFound
from catalog_search.sagemaker import job_requests, model_registry
from catalog_search.stages import jobs, training
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.store.object_store import ObjectStore
from catalog_search.training import catalog, training_data
from catalog_search.training.gating import GateFailed
from catalog_search.training.training_data import TrainingDataSpec, prepare

from .conftest import prepare_training_data, promote, run_of, small_catalog


def test_resolve_snapshot_takes_the_given_one_else_the_newest(chain):
    clients, snapshot_id, run = chain.clients, chain.snapshot_id, run_of("embedding_training")
    assert training.resolve_snapshot(clients, run) == snapshot_id
    assert training.resolve_snapshot(clients, run, "20200101T000000Z-x") == "20200101T000000Z-x"


def test_prepare_training_data_writes_checked_channels_keyed_by_snapshot_and_run(chain):
    clients, snapshot_id, run = chain.clients, chain.snapshot_id, run_of("embedding_training", "2026-11-30T01:00:00")
    prepared = prepare_training_data(clients, run, snapshot_id)
    prefix = ObjectKeys.training(snapshot_id, run.key)
    assert prepared["training_uri"] == clients.store.uri(prefix) and prepared["pairs"] == 3000
    for channel in ("train/pairs.jsonl", "validation/pairs.jsonl", "test/pairs.jsonl", "auxiliary/vocab.json"):
        assert clients.store.exists(prefix + channel)
    assert clients.store.get_json(ObjectKeys.suite_report(run.report_prefix, "pairs"))["success"]
    vocab = clients.store.get_json(prefix + "auxiliary/vocab.json")
    assert {"sneakers", "purse", "hoodie"} <= set(vocab) and prepared["pretrained_dim"] == 8  # words beyond the catalog


def test_the_processing_job_writes_byte_for_byte_what_the_library_writes_in_process(chain, tmp_path):
    clients, snapshot_id, run = chain.clients, chain.snapshot_id, run_of("embedding_training", "2026-12-04T01:00:00")
    store = clients.store
    config = training.processing_config(clients, run, snapshot_id)
    assert config == training.processing_config(clients, run, snapshot_id)  # deterministic, the code uploaded once
    inputs = {i["InputName"]: i["S3Input"] for i in config["ProcessingInputs"]}
    assert set(inputs) == {"code", "catalog", "pretrained", "evaluation"}
    code_store, code_prefix = ObjectStore.at(store.s3, inputs["code"]["S3Uri"])
    shipped = {key[len(code_prefix):] for key in code_store.list_keys(code_prefix)}
    assert {"prepare_training_data.py", "catalog_search/training/training_data.py", "catalog_search/training/pairs.py"} <= shipped
    assert config["AppSpecification"]["ContainerEntrypoint"] == ["python3", "/opt/ml/processing/input/code/prepare_training_data.py"]

    job = jobs.run_locally(clients, run, "processing", config)["Processing"]
    assert job["ProcessingJobName"] == config["ProcessingJobName"] and job["ProcessingJobStatus"] == "Completed"
    vectors_store, vectors_key = ObjectStore.at(store.s3, inputs["pretrained"]["S3Uri"])
    taxonomy = catalog.taxonomy_id(store.get_parquet(ObjectKeys.snapshot_products(snapshot_id))["category"])
    prepare(store.get_parquet(ObjectKeys.snapshot_products(snapshot_id)), TrainingDataSpec.from_settings(clients.settings), tmp_path / "task",
            vectors_store.download_file(vectors_key, tmp_path / "vectors.txt"), store.get_parquet(ObjectKeys.evaluation_set(taxonomy)))
    prefix = ObjectKeys.training(snapshot_id, run.key)
    checked = {training_data.CHECK_FILE, training_data.DATA_DOCS_DIR}  # the job's own check of what it wrote
    written = {key[len(prefix):]: store.get_bytes(key) for key in store.list_keys(prefix)}
    expected = {p.relative_to(tmp_path / "task").as_posix(): p.read_bytes() for p in (tmp_path / "task").rglob("*") if p.is_file()}
    assert {name: data for name, data in written.items() if not name.startswith(tuple(checked))} == expected
    checks = json.loads(written[training_data.CHECK_FILE])
    assert checks["validation"]["success"] and checks["taxonomy_id"] == taxonomy
    assert training_data.DATA_DOCS_DIR + "index.html" in written


def test_training_config_is_a_deterministic_request_for_this_run(chain):
    clients, snapshot_id, run = chain.clients, chain.snapshot_id, run_of("embedding_training")
    prepared = {"training_uri": clients.store.uri(ObjectKeys.training(snapshot_id, run.key)), "vocab_size": 30, "pretrained_dim": 8}
    config = training.training_config(clients, run, snapshot_id, prepared)
    assert config["HyperParameters"]["enc0_pretrained_embedding_file"] == "embeddings.txt"
    assert config == training.training_config(clients, run, snapshot_id, prepared)
    assert config["TrainingJobName"] == training.model_version_for(clients.settings, snapshot_id, run)
    assert config["HyperParameters"]["enc0_vocab_size"] == "30" and config["HyperParameters"]["enc_dim"] == "8"
    assert config["OutputDataConfig"]["S3OutputPath"] == clients.store.uri(ObjectKeys.MODELS)


def train_another(chain, when: str, shuffled_labels: bool = False) -> dict:
    """One more training run on the chain's snapshot (its train and validation labels shuffled if asked)."""
    clients, snapshot_id, run = chain.clients, chain.snapshot_id, run_of("embedding_training", when)
    prepared = prepare_training_data(clients, run, snapshot_id)
    if shuffled_labels:
        prefix = ObjectKeys.training(snapshot_id, run.key)
        for split in ("train", "validation"):
            rows = [json.loads(line) for line in clients.store.get_bytes(f"{prefix}{split}/pairs.jsonl").decode().splitlines()]
            labels = np.random.default_rng(1).permutation([row["label"] for row in rows])
            clients.store.put_bytes(f"{prefix}{split}/pairs.jsonl", "".join(
                json.dumps({**row, "label": int(label)}) + "\n" for row, label in zip(rows, labels)).encode())
    config = training.training_config(clients, run, snapshot_id, prepared)
    trained = training.record_training(clients, run, snapshot_id, prepared, config, jobs.run_locally(clients, run, "training", config))
    jobs.run_locally(clients, run, "model", training.model_config(clients, run, trained))
    return trained


def test_train_and_gate_make_a_registered_champion_with_lineage(chain):
    clients, snapshot_id, champion = chain.clients, chain.snapshot_id, chain.champion
    store, settings = clients.store, clients.settings
    assert champion["metrics"]["test:accuracy"] >= settings.min_test_accuracy
    assert champion["metrics"]["test:cross_entropy"] <= settings.max_test_cross_entropy
    assert champion["purity@10"] >= settings.min_embedding_purity
    assert store.get_json(ObjectKeys.CHAMPION)["model_version"] == champion["model_version"]
    assert store.get_json(ObjectKeys.model_champion_record(champion["model_version"])) == store.get_json(ObjectKeys.CHAMPION)  # kept for a rollback
    assert store.exists(ObjectKeys.model_artifact(champion["model_version"]))
    lineage = store.get_json(ObjectKeys.model_lineage(champion["model_version"]))
    assert lineage["snapshot_id"] == snapshot_id and lineage["evaluation_set"] == champion["evaluation_set"]
    assert clients.sagemaker.describe_model(ModelName=champion["model_version"])["ModelName"] == champion["model_version"]


def test_a_promoted_model_is_a_registry_version_with_its_metrics_and_lineage_once(chain):
    clients, champion = chain.clients, chain.champion
    package = clients.sagemaker.describe_model_package(ModelPackageName=champion["model_package_arn"])
    assert package["ModelPackageGroupName"] == clients.settings.model_package_group
    assert package["ModelApprovalStatus"] == "Approved" and package["ModelPackageDescription"] == champion["model_version"]
    metadata = package["CustomerMetadataProperties"]
    assert metadata["snapshot_id"] == chain.snapshot_id and metadata["evaluation_set"] == champion["evaluation_set"]
    assert float(metadata["test:accuracy"]) == pytest.approx(champion["metrics"]["test:accuracy"], rel=1e-5)
    assert package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith(ObjectKeys.model_metrics(champion["model_version"]))
    lineage = clients.store.get_json(ObjectKeys.model_lineage(champion["model_version"]))
    again = model_registry.register_version(clients.sagemaker, clients.settings, clients.region, lineage, champion["metrics"], "s3://b/m.json")
    assert again == champion["model_package_arn"]  # a retried gate registers nothing twice
    versions = clients.sagemaker.list_model_packages(ModelPackageGroupName=clients.settings.model_package_group)
    assert [v["ModelPackageArn"] for v in versions["ModelPackageSummaryList"]].count(again) == 1


def test_every_run_of_a_taxonomy_is_tested_on_the_frozen_evaluation_set(chain):
    clients, snapshot_id, champion = chain.clients, chain.snapshot_id, chain.champion
    first = ObjectKeys.training(snapshot_id, run_of("embedding_training").key)
    later = run_of("embedding_training", "2026-12-01T01:00:00")
    prepared = prepare_training_data(clients, later, snapshot_id)
    assert prepared["evaluation_set"] == champion["evaluation_set"]
    assert champion["evaluation_set"].startswith(ObjectKeys.evaluation_set(catalog.taxonomy_id(small_catalog()["category"])))
    later_test = clients.store.get_bytes(ObjectKeys.training(snapshot_id, later.key) + "test/pairs.jsonl")
    assert later_test == clients.store.get_bytes(first + "test/pairs.jsonl")  # same pairs, same vocabulary here


def test_a_model_trained_on_shuffled_labels_fails_the_gate_against_the_champion(chain):
    clients, champion = chain.clients, chain.champion
    shuffled = train_another(chain, "2026-12-02T01:00:00", shuffled_labels=True)
    with pytest.raises(GateFailed, match=r"test:accuracy .* below the minimum") as refused:
        training.gate_and_register(clients, run_of("embedding_training"), shuffled)
    assert "compared with the champion on evaluation set" in str(refused.value)
    assert clients.store.get_json(ObjectKeys.CHAMPION)["model_version"] == champion["model_version"]


def test_a_good_model_passes_the_comparison_with_the_champion(chain):
    clients = chain.clients
    good = train_another(chain, "2026-12-03T01:00:00")
    promoted = promote(clients, run_of("embedding_training"), good)
    assert clients.store.get_json(ObjectKeys.CHAMPION)["model_version"] == promoted["model_version"] == good["model_version"]


def test_with_manual_approval_a_passed_model_waits_for_a_person_before_it_is_promoted(chain):
    clients = chain.clients
    manual = dataclasses.replace(clients, settings=dataclasses.replace(clients.settings, model_approval="manual"))
    run = run_of("embedding_training", "2026-12-05T01:00:00")
    candidate = training.gate_and_register(manual, run, train_another(chain, "2026-12-05T01:00:00"))
    arn = candidate["model_package_arn"]
    assert clients.sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "PendingManualApproval"
    assert not training.approved(manual, run, candidate)  # the sensor keeps waiting
    clients.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected",
                                           ApprovalDescription="colour queries got worse")
    with pytest.raises(model_registry.VersionRejected, match=r"rejected in the Model Registry .*colour queries got worse"):
        training.approved(manual, run, candidate)
    clients.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    assert training.approved(manual, run, candidate)
    assert training.promote(manual, run, candidate)["model_version"] == clients.store.get_json(ObjectKeys.CHAMPION)["model_version"]


def test_a_late_approval_never_moves_the_champion_back_to_an_older_snapshot(chain):
    clients = chain.clients
    current = clients.store.get_json(ObjectKeys.CHAMPION)
    older = {**current, "model_version": "cs-o2v-older", "snapshot_id": "20200101T000000Z-fashion"}
    with pytest.raises(GateFailed, match="trained on a newer snapshot"):
        training.promote(clients, run_of("embedding_training"), older)
    assert clients.store.get_json(ObjectKeys.CHAMPION) == current


def test_word_vectors_are_built_by_a_processing_job_once_per_snapshot(chain):
    """The worker needs no torch: with ``minilm`` a Processing job builds the snapshot's vectors;
    with a file configured, or the snapshot's vectors already there, its task skips saying why."""
    clients, snapshot_id, run = chain.clients, chain.snapshot_id, run_of("embedding_training")
    assert job_requests.NO_JOB in training.word_vectors_config(clients, run, snapshot_id)  # the stage tests' GloVe file
    minilm = dataclasses.replace(clients, settings=dataclasses.replace(clients.settings, pretrained_embeddings="minilm"))
    config = training.word_vectors_config(minilm, run, snapshot_id)
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in config["ProcessingInputs"]}
    assert inputs["catalog"] == clients.store.uri(ObjectKeys.snapshot_products(snapshot_id))
    assert config["AppSpecification"]["ContainerEntrypoint"][-1].endswith("/build_word_vectors.py")
    output = config["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert output == clients.store.uri(ObjectKeys.minilm_vectors(snapshot_id)) and config == training.word_vectors_config(minilm, run, snapshot_id)
    with pytest.raises(NotFound, match="build_word_vectors did not write them"):
        training.processing_config(minilm, run, snapshot_id)
    clients.store.put_bytes(ObjectKeys.minilm_vectors(snapshot_id) + training.WORD_VECTORS_FILE, b"navy 0.1 0.2\n")
    assert "exist" in training.word_vectors_config(minilm, run, snapshot_id)[job_requests.NO_JOB]
    prepare = training.processing_config(minilm, run, snapshot_id)
    assert {i["InputName"]: i["S3Input"]["S3Uri"] for i in prepare["ProcessingInputs"]}["pretrained"] == \
        clients.store.uri(ObjectKeys.minilm_vectors(snapshot_id) + training.WORD_VECTORS_FILE)
