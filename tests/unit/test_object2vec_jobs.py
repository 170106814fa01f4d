"""The local Object2Vec runner end to end on tiny data, with S3 and the SageMaker API mocked
in-process (moto): real job entry points, real artifacts in SageMaker's layout."""

import io
import json
import tarfile

import boto3
import numpy as np
import pytest
from moto import mock_aws

from catalog_search.sagemaker import job_requests
from catalog_search.sagemaker.jobs import JobFailed, register_model
from catalog_search.sagemaker.local_runner import LocalRunner
from catalog_search.settings import Settings
from catalog_search.store.object_store import ObjectStore
from catalog_search.training.encoder import Encoder
from catalog_search.training.gating import metrics_by_name
from catalog_search.training.tokenizer import build_vocab, encode, write_inference_jsonl, write_pairs_jsonl, write_vocab

TITLES = {
    "shirt": ["navy blue shirt", "white formal shirt", "check casual shirt", "blue slim shirt", "red party shirt"],
    "watch": ["silver analog watch", "black digital watch", "gold dial watch", "steel chrono watch", "leather strap watch"],
}


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3, sagemaker = boto3.client("s3"), boto3.client("sagemaker")
        store = ObjectStore(s3, "bucket")
        store.ensure_bucket()
        yield s3, sagemaker, store


def _training_data(tmp_path, store, settings):
    texts = [t for group in TITLES.values() for t in group]
    vocab = build_vocab(texts)
    rng = np.random.default_rng(0)
    groups = list(TITLES.values())
    for split, n in (("train", 400), ("validation", 100), ("test", 100)):
        left, right, labels = [], [], []
        for _ in range(n):
            same = rng.random() < 0.5
            g0 = rng.integers(2)
            g1 = g0 if same else 1 - g0
            left.append(encode(groups[g0][rng.integers(5)], vocab, settings.max_seq_len))
            right.append(encode(groups[g1][rng.integers(5)], vocab, settings.max_seq_len))
            labels.append(int(same))
        write_pairs_jsonl(left, right, labels, tmp_path / "training" / split / "pairs.jsonl")
    write_vocab(vocab, tmp_path / "training" / "auxiliary" / "vocab.json")
    store.upload_dir(tmp_path / "training", "training/s/r/")
    return vocab


def test_train_register_and_transform_write_sagemaker_artifacts(tmp_path, aws, include_dir):
    s3, sagemaker, store = aws
    # no pretrained vectors: word vectors learnt from scratch want a larger rate than the fine-tuning default
    settings = Settings(bucket="bucket", embedding_dim=8, epochs=30, max_seq_len=6, learning_rate=0.01)
    vocab = _training_data(tmp_path, store, settings)
    runner = LocalRunner(s3, sagemaker, tmp_path / "work", include_dir / "jobs")
    hyper = job_requests.object2vec_hyperparameters(settings, len(vocab))
    config = job_requests.training_job_config(settings, "us-east-1", "o2v-test", store.uri("training/s/r/"), store.uri("models/"), hyper)

    description = runner.train(config)

    assert description["ModelArtifacts"]["S3ModelArtifacts"] == "s3://bucket/models/o2v-test/output/model.tar.gz"
    metrics = metrics_by_name(description)
    assert set(metrics) == {"validation:accuracy", "validation:cross_entropy", "test:accuracy", "test:cross_entropy"}
    assert metrics["validation:accuracy"] > 0.9  # two well-separated categories
    tarball = store.get_bytes("models/o2v-test/output/model.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        assert sorted(tar.getnames()) == ["model-meta.json", "model.npz", "vocab.json"]

    register_model(sagemaker, job_requests.model_config(settings, "us-east-1", "o2v-test", description["ModelArtifacts"]["S3ModelArtifacts"]))
    register_model(sagemaker, job_requests.model_config(settings, "us-east-1", "o2v-test", description["ModelArtifacts"]["S3ModelArtifacts"]))
    texts = [t for group in TITLES.values() for t in group]
    write_inference_jsonl([encode(t, vocab, 6) for t in texts], tmp_path / "in" / "products.jsonl")
    store.upload_dir(tmp_path / "in", "enrich/input/")
    runner.transform(job_requests.transform_job_config("embed-test", "o2v-test", store.uri("enrich/input/"), store.uri("enrich/output/"), "ml.m5.xlarge"))

    lines = store.get_bytes("enrich/output/products.jsonl.out").decode().splitlines()
    vectors = np.array([json.loads(line)["embeddings"] for line in lines])
    assert vectors.shape == (10, 8)
    # Same-category products are closer to each other than to the other category.
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sim = unit @ unit.T
    within = (sim[:5, :5].sum() - 5) / 20
    across = sim[:5, 5:].mean()
    assert within > across
    # The query encoder reproduces the batch transform's vectors exactly.
    encoder = Encoder.from_tarball(tarball, tmp_path / "encoder")
    np.testing.assert_allclose(encoder.embed_texts(texts), vectors, atol=1e-5)


def test_a_failing_job_writes_its_failure_file_and_raises_with_the_reason(tmp_path, aws, include_dir):
    s3, sagemaker, store = aws
    settings = Settings(bucket="bucket")
    store.put_bytes("training/bad/train/pairs.jsonl", b'{"label": 1, "in0": [1]}\n')
    for channel in ("validation", "test"):
        store.put_bytes(f"training/bad/{channel}/pairs.jsonl", b"")
    store.put_bytes("training/bad/auxiliary/vocab.json", b'{"<pad>": 0, "<unk>": 1}')
    config = job_requests.training_job_config(settings, "us-east-1", "o2v-bad", store.uri("training/bad/"), store.uri("models/"), {})
    with pytest.raises(JobFailed, match=r"(?s)object2vec_train\.py exited with 1.*holds no JSON Lines records"):
        LocalRunner(s3, sagemaker, tmp_path, include_dir / "jobs").train(config)
    failure = (tmp_path / "sagemaker/o2v-bad/output/failure").read_text()
    assert failure.startswith("ValueError: channel") and failure.endswith("holds no JSON Lines records")
