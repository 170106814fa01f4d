import pytest

from catalog_search.gating import GateFailed
from catalog_search.layout import Layout
from catalog_search.stages import training

from .conftest import run_of


def test_resolve_snapshot_takes_the_given_one_else_the_newest(chain):
    clients, snapshot_id, run = chain.clients, chain.snapshot_id, run_of("embedding_training")
    assert training.resolve_snapshot(clients, run) == snapshot_id
    assert training.resolve_snapshot(clients, run, "20200101T000000Z-x") == "20200101T000000Z-x"


def test_prepare_training_data_writes_checked_channels_keyed_by_snapshot_and_run(chain):
    clients, snapshot_id, run = chain.clients, chain.snapshot_id, run_of("embedding_training", "2026-11-30T01:00:00")
    prepared = training.prepare_training_data(clients, run, snapshot_id)
    prefix = Layout.training(snapshot_id, run.key)
    assert prepared["training_uri"] == clients.store.uri(prefix) and prepared["pairs"] == 3000
    for channel in ("train/pairs.jsonl", "validation/pairs.jsonl", "test/pairs.jsonl", "auxiliary/vocab.json"):
        assert clients.store.exists(prefix + channel)
    assert clients.store.get_json(Layout.suite_report(run.report_prefix, "pairs"))["success"]
    vocab = clients.store.get_json(prefix + "auxiliary/vocab.json")
    assert {"sneakers", "purse", "hoodie"} <= set(vocab) and prepared["pretrained_dim"] == 8  # words beyond the catalog


def test_training_config_is_a_deterministic_request_for_this_run(chain):
    clients, snapshot_id, run = chain.clients, chain.snapshot_id, run_of("embedding_training")
    prepared = {"training_uri": clients.store.uri(Layout.training(snapshot_id, run.key)), "vocab_size": 30, "pretrained_dim": 8}
    config = training.training_config(clients, run, snapshot_id, prepared)
    assert config["HyperParameters"]["enc0_pretrained_embedding_file"] == "embeddings.txt"
    assert config == training.training_config(clients, run, snapshot_id, prepared)
    assert config["TrainingJobName"] == training.model_version_for(snapshot_id, run)
    assert config["HyperParameters"]["enc0_vocab_size"] == "30" and config["HyperParameters"]["enc_dim"] == "8"
    assert config["OutputDataConfig"]["S3OutputPath"] == clients.store.uri(Layout.MODELS)


def test_train_and_gate_make_a_registered_champion_with_lineage(chain):
    clients, snapshot_id, champion = chain.clients, chain.snapshot_id, chain.champion
    store = clients.store
    assert champion["metrics"]["validation:accuracy"] >= clients.settings.min_validation_accuracy
    assert store.get_json(Layout.CHAMPION)["model_version"] == champion["model_version"]
    assert store.exists(Layout.model_artifact(champion["model_version"]))
    assert store.get_json(Layout.model_lineage(champion["model_version"]))["snapshot_id"] == snapshot_id
    assert clients.sagemaker.describe_model(ModelName=champion["model_version"])["ModelName"] == champion["model_version"]


def test_a_failed_gate_publishes_nothing(chain):
    clients, champion = chain.clients, chain.champion
    trained = {**champion, "model_version": "cs-o2v-worse", "metrics": {"validation:accuracy": 0.5}}
    with pytest.raises(GateFailed, match="below the minimum"):
        training.gate_and_promote(clients, run_of("embedding_training"), trained)
    assert clients.store.get_json(Layout.CHAMPION)["model_version"] == champion["model_version"]
