"""``CATALOG_SEARCH_RUNNER=sagemaker`` against moto server: the DAGs' requests, sent by the
provider's operators through the real SageMakerHook on ``aws_default``, are accepted.

moto completes every job the moment it is created and writes no artifact: these tests check
what SageMaker would be asked and that a re-run does not ask twice, not what a job produces.
Deferral, re-attachment to a running job and renaming after a failure need job states moto
never shows; tests/unit/test_sagemaker_operators.py covers them with an autospecced hook."""

from __future__ import annotations

import dataclasses
import uuid

import pandas as pd
import pytest

from catalog_search.clients import Clients
from catalog_search.naming import job_name
from catalog_search.sagemaker import job_requests
from catalog_search.sagemaker.jobs import SageMakerRunner
from catalog_search.sagemaker.operators import ModelOperator, ProcessingJobOperator, TrainingJobOperator, TransformJobOperator
from catalog_search.stages import Run, training
from catalog_search.store.object_keys import ObjectKeys

PROCESSING_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/catalog-search-processing:0123456789ab"


@pytest.fixture(scope="module")
def aws(clients) -> Clients:
    settings = dataclasses.replace(clients.settings, runner="sagemaker", bucket=f"sm-{uuid.uuid4().hex[:8]}",
                                   sagemaker_role_arn="arn:aws:iam::123456789012:role/catalog-search-sagemaker",
                                   processing_image=PROCESSING_IMAGE)
    aws = Clients.from_environment(settings)
    aws.store.ensure_bucket()
    return aws


def test_the_training_data_processing_request_is_accepted_and_a_rerun_finds_the_job(aws):
    snapshot_id = "20261129T010000Z-fashion"
    aws.store.put_parquet(ObjectKeys.snapshot_products(snapshot_id), pd.DataFrame(
        {"product_id": ["1", "2"], "title": ["navy shirt", "black watch"], "category": ["A > Shirts", "B > Watches"]}))
    run = Run("embedding_training", f"manual__{uuid.uuid4().hex}")
    without_vectors = dataclasses.replace(aws, settings=dataclasses.replace(aws.settings, pretrained_embeddings=""))
    config = training.processing_config(without_vectors, run, snapshot_id)
    result = ProcessingJobOperator(task_id="prepare_training_data", config=config, aws_conn_id="aws_default").execute({})
    job = result["Processing"]
    assert job["ProcessingJobName"] == config["ProcessingJobName"] and job["ProcessingJobStatus"] == "Completed"
    assert job["AppSpecification"]["ImageUri"] == PROCESSING_IMAGE
    assert {i["InputName"] for i in job["ProcessingInputs"]} == {"code", "catalog"}
    assert not aws.store.list_keys(ObjectKeys.training(snapshot_id, run.key))  # moto runs nothing and writes no output
    again = ProcessingJobOperator(task_id="prepare_training_data", config=dict(config), aws_conn_id="aws_default").execute({})
    assert again["Processing"]["ProcessingJobName"] == config["ProcessingJobName"]
    found = aws.sagemaker.list_processing_jobs(NameContains=config["ProcessingJobName"][-8:])["ProcessingJobSummaries"]
    assert [j["ProcessingJobName"] for j in found] == [config["ProcessingJobName"]]


def test_the_training_request_is_accepted_and_a_rerun_finds_the_job(aws):
    name = job_name("o2v", "20261129T010000Z-fashion", uuid.uuid4().hex)
    for channel in job_requests.TRAINING_CHANNELS:  # the provider's hook checks that every channel exists
        aws.store.put_bytes(f"training/s/r/{channel}/part.jsonl", b"{}\n")
    hyper = job_requests.object2vec_hyperparameters(aws.settings, vocab_size=1000, pretrained_dim=384)
    config = job_requests.training_job_config(aws.settings, aws.region, name, aws.store.uri("training/s/r/"), aws.store.uri(ObjectKeys.MODELS), hyper)
    result = TrainingJobOperator(task_id="train", config=config, aws_conn_id="aws_default").execute({})
    job = result["Training"]
    assert job["TrainingJobName"] == name and job["TrainingJobStatus"] == "Completed"
    assert job["HyperParameters"]["enc0_network"] == aws.settings.encoder_network
    assert {c["ChannelName"] for c in job["InputDataConfig"]} == set(job_requests.TRAINING_CHANNELS)
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == aws.store.uri(ObjectKeys.model_artifact(name))
    assert not aws.store.exists(ObjectKeys.model_artifact(name))  # moto writes no model.tar.gz
    again = TrainingJobOperator(task_id="train", config=dict(config), aws_conn_id="aws_default").execute({})
    assert again["Training"]["TrainingJobName"] == name
    found = aws.sagemaker.list_training_jobs(NameContains=name[-8:])["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in found] == [name]


def test_the_model_and_transform_requests_are_accepted(aws):
    model = job_name("o2v", "20261129T010000Z-fashion", uuid.uuid4().hex)
    model_config = job_requests.model_config(aws.settings, aws.region, model, aws.store.uri(ObjectKeys.model_artifact(model)))
    for _ in range(2):  # a retried task finds the model
        created = ModelOperator(task_id="create_model", config=dict(model_config), aws_conn_id="aws_default").execute({})
        assert created["Model"]["ModelName"] == model
    name = job_name("embed", "20261129T010000Z-fashion", model)
    aws.store.put_bytes("enrichment/in/products.jsonl", b'{"in0": [1, 2]}\n')
    config = job_requests.transform_job_config(name, model, aws.store.uri("enrichment/in/"), aws.store.uri("enrichment/out/"),
                                                 aws.settings.transform_instance_type)
    result = TransformJobOperator(task_id="batch_transform", config=config, aws_conn_id="aws_default", max_runtime=3600).execute({})
    assert result["Transform"]["TransformJobName"] == name and result["Transform"]["TransformJobStatus"] == "Completed"
    assert result["Model"]["PrimaryContainer"]["Environment"] == {"INFERENCE_PREFERRED_MODE": "embedding"}
    short = {**config, "TransformJobName": job_name("qvec", model, "k")}
    assert SageMakerRunner(aws.sagemaker_hook, check_interval=1).transform(short)["TransformJobStatus"] == "Completed"
