"""The request-contract checker (tests/support/aws_contract.py) catches what botocore and moto
let through, and passes the requests the pipeline really sends."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict
from datetime import UTC, datetime

import botocore.session
import pytest

from catalog_search import alerts
from catalog_search.naming import job_name
from catalog_search.plan import requests
from catalog_search.sagemaker import job_requests
from catalog_search.settings import Settings
from catalog_search.store import dynamo
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.training.training_data import TrainingDataSpec
from support import aws_contract  # tests/ is on sys.path: pytest puts tests/conftest.py's folder there
from support.aws_contract import assert_valid, violations

SETTINGS = Settings(processing_image="123456789012.dkr.ecr.us-east-1.amazonaws.com/prep:1",
                    sagemaker_role_arn="arn:aws:iam::123456789012:role/catalog-search")
BUCKET = "s3://catalog-search-test"
LONGEST_SOURCE = "a-catalog-source-named-longer-than-any-slug-the-naming-keeps"  # slug() keeps 40 characters


def processing_request(arguments: list[str] | None = None) -> dict:
    return job_requests.processing_job_config(
        SETTINGS, job_name("prep", "20240101T000000Z-fashion", "run1"), "prepare_training_data.py",
        f"{BUCKET}/code/abc/", {"catalog": f"{BUCKET}/snapshots/x/products.parquet"}, f"{BUCKET}/training/x/",
        arguments if arguments is not None else ["--input", job_requests.processing_input("catalog")])


def training_request() -> dict:
    hyper = job_requests.object2vec_hyperparameters(SETTINGS, vocab_size=5000, pretrained_dim=384)
    return job_requests.training_job_config(SETTINGS, "us-east-1", job_name("o2v", "20240101T000000Z-fashion", "run1"),
                                              f"{BUCKET}/training/x/", f"{BUCKET}/models/", hyper)


CONFIGURATIONS = [
    Settings(),  # the defaults: local runner, MiniLM word vectors, in-process query encoder, deletes
    Settings(runner="sagemaker"),  # the sagemaker runner, with the plan's placeholders
    dataclasses.replace(SETTINGS, runner="sagemaker", query_encoder="endpoint", removed_products="tombstone",
                        alert_topic_arn="arn:aws:sns:eu-central-1:123456789012:catalog-search-alerts",
                        pretrained_embeddings="s3://vectors-bucket/glove.840B.300d.txt", model_approval="manual"),
    Settings(runner="sagemaker", pretrained_embeddings="", encoder_network="bilstm", embedding_dim=512),
]


@pytest.mark.parametrize("settings", CONFIGURATIONS, ids=["defaults", "sagemaker", "endpoint-tombstones", "no-vectors"])
def test_every_request_a_plan_prints_meets_its_service_model(settings):
    """One training run and one night, with the longest snapshot, run and model ids the naming
    allows and the largest items, vocabulary and messages the pipeline sends."""
    plan = requests(settings, "eu-central-1", source=LONGEST_SOURCE)
    operations = {(r["service"], r["operation"]) for r in plan.requests}
    assert {("sagemaker", "CreateProcessingJob"), ("sagemaker", "CreateTrainingJob"), ("sagemaker", "CreateModel"),
            ("sagemaker", "CreateTransformJob"), ("sagemaker", "CreateModelPackage"), ("dynamodb", "PutItem"),
            ("dynamodb", "BatchWriteItem"), ("dynamodb", "BatchGetItem"), ("sns", "Publish"), ("s3", "PutObject")} <= operations
    found = [f"{r['step']}: {line}" for r in plan.requests for line in violations(r["service"], r["operation"], r["params"])]
    assert not found, "\n".join(found)


def test_the_requests_carry_the_longest_snapshot_ids_the_naming_allows():
    """A snapshot id is a 16-character stamp and a slug of at most 40 characters: all of them here."""
    plan = requests(Settings(), "eu-central-1", source=LONGEST_SOURCE)
    snapshot_uri = next(r["params"]["Key"] for r in plan.requests if r["step"] == "land_snapshot")
    snapshot_id = ObjectKeys.snapshot_id_of(snapshot_uri.rsplit("/", 1)[0])
    assert len(snapshot_id) == 16 + 1 + 40 and snapshot_id.endswith(LONGEST_SOURCE[:40])


def test_the_spec_as_one_argument_was_too_long_and_its_items_are_not():
    """The finding: ``--spec`` carried the training-data spec as one JSON argument of 260 characters."""
    spec = TrainingDataSpec.from_settings(Settings())
    assert violations("sagemaker", "CreateProcessingJob", processing_request(["--spec", json.dumps(asdict(spec), sort_keys=True)]))
    assert not violations("sagemaker", "CreateProcessingJob", processing_request(spec.to_arguments()))


def test_a_dynamodb_put_item_as_sync_writes_it():
    item = dynamo.to_item({"product_id": "15970", "title": "Navy Blue Shirt", "price": 12.5, "year": 2012,
                           "attributes": '{"colour": "Navy Blue", "tags": ["casual"]}', "embedding": [0.1, -0.2, 0.3]})
    assert_valid("dynamodb", "PutItem", dynamo.put_request(SETTINGS.table_name, item, "20240101T000000Z-fashion"))


def test_an_sns_alert_as_send_publishes_it_even_for_a_huge_error():
    sent = []

    class Sns:
        def publish(self, **request):
            sent.append(request)

    alert = alerts.failure_alert("catalog_enrichment", "embed", "scheduled__2024", 3, RuntimeError("boom " * 100_000))
    alerts.send(alert, "arn:aws:sns:us-east-1:123456789012:catalog-search-alerts", Sns)
    assert_valid("sns", "Publish", sent[0])
    assert len(sent[0]["Message"].encode()) <= alerts.SNS_MESSAGE_MAX and sent[0]["Message"].endswith("in the task log]")


def test_a_container_argument_over_256_characters():
    request = processing_request(["--spec", "x" * 260])
    assert violations("sagemaker", "CreateProcessingJob", request) == [
        "AppSpecification.ContainerArguments[1]: length 260 > max 256"]


def test_a_value_outside_its_enum():
    request = processing_request()
    request["ProcessingInputs"][1]["S3Input"]["S3DataType"] = "Foo"
    assert violations("sagemaker", "CreateProcessingJob", request) == [
        "ProcessingInputs[1].S3Input.S3DataType: 'Foo' not one of ManifestFile, S3Prefix"]


def test_a_training_job_name_off_its_pattern_or_too_long():
    request = training_request()
    request["TrainingJobName"] = "cs_o2v"
    assert violations("sagemaker", "CreateTrainingJob", request) == [
        "TrainingJobName: 'cs_o2v' does not match pattern '[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}'"]
    request["TrainingJobName"] = "a" * 64
    assert "TrainingJobName: length 64 > max 63" in violations("sagemaker", "CreateTrainingJob", request)


def test_missing_and_unknown_members():
    request = processing_request()
    del request["RoleArn"]
    request["AppSpecification"]["Entrypoint"] = ["python3"]
    assert violations("sagemaker", "CreateProcessingJob", request) == [
        "CreateProcessingJob: missing required member RoleArn",
        "AppSpecification: unknown member 'Entrypoint' of AppSpecification"]


def test_numbers_out_of_range_and_of_the_wrong_type():
    request = training_request()
    request["StoppingCondition"]["MaxRuntimeInSeconds"] = 0
    request["ResourceConfig"]["InstanceCount"] = "1"
    request["ResourceConfig"]["VolumeSizeInGB"] = True
    assert violations("sagemaker", "CreateTrainingJob", request) == [
        "ResourceConfig.InstanceCount: expected integer, got str",
        "ResourceConfig.VolumeSizeInGB: expected integer, got bool",
        "StoppingCondition.MaxRuntimeInSeconds: value 0 < min 1"]


def test_a_list_longer_than_its_max():
    request = training_request()
    channel = request["InputDataConfig"][0]
    request["InputDataConfig"] = [dict(channel, ChannelName=f"c{i}") for i in range(21)]
    assert violations("sagemaker", "CreateTrainingJob", request) == ["InputDataConfig: size 21 > max 20"]


def test_map_keys_and_values_against_their_shapes():
    request = processing_request()
    request["Environment"] = {"1BAD": "x", "OK": 7}
    assert violations("sagemaker", "CreateProcessingJob", request) == [
        "Environment key '1BAD': '1BAD' does not match pattern '[a-zA-Z_][a-zA-Z0-9_]*'",
        "Environment['OK']: expected string, got int"]


def test_a_union_takes_exactly_one_member():
    found = violations("sagemaker", "CreateAIRecommendationJob", {
        "AdapterSource": {"ModelPackageArns": [], "S3Uris": []}})
    assert "AdapterSource: a union takes exactly one of ['ModelPackageArns', 'S3Uris'], got ['ModelPackageArns', 'S3Uris']" in found


def test_assert_valid_lists_every_violation():
    request = training_request()
    request["TrainingJobName"] = "a" * 64
    del request["RoleArn"]
    with pytest.raises(AssertionError, match=r"(?s)missing required member RoleArn.*TrainingJobName: length 64 > max 63"):
        assert_valid("sagemaker", "CreateTrainingJob", request)


@pytest.mark.parametrize(("pattern", "valid", "invalid"), [
    (r"[\p{L}\p{M}\p{Z}\p{N}\p{P}]{0,1024}", "Größe 42, rot.", "price $5"),  # $ is a symbol (Sc)
    (r"\p{Print}+", "plain ASCII ~", "café"),  # Java's POSIX classes are ASCII
    (r"arn:[\p{Alnum}\-]+:lambda:[\p{Alnum}\-]+:[0-9]{12}:function:.*",
     "arn:aws:lambda:us-east-1:123456789012:function:f", "arn:aws:lambda:us_east:123456789012:function:f"),
    (r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,256}", "team = search", "team#search"),
    (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "emoji 😀 ok", "bell \x07"),
])
def test_java_patterns_translate(pattern, valid, invalid):
    compiled = aws_contract.compile_pattern(pattern)
    assert compiled.fullmatch(valid) and not compiled.fullmatch(invalid)


def test_every_pattern_of_the_project_services_compiles():
    session = botocore.session.get_session()
    patterns = {shape.metadata["pattern"] for service in ("sagemaker", "dynamodb", "sns", "s3")
                for model in [session.get_service_model(service)]
                for shape in map(model.shape_for, model.shape_names) if "pattern" in shape.metadata}
    assert len(patterns) > 200
    skipped = {p for p in patterns if aws_contract.compile_pattern(p) is None}
    assert skipped == set(), skipped


def test_two_deployments_in_one_account_never_share_a_job_or_model_name():
    """SageMaker's names are the account's and region's: a second deployment (another bucket) with
    the same snapshot and run ids must not re-attach to the first one's jobs or reuse its model."""
    def names(bucket: str) -> set[str]:
        plan = requests(Settings(bucket=bucket), "eu-central-1", source="fashion", when=datetime(2026, 12, 6, 3, tzinfo=UTC))
        return {r["params"][key] for r in plan.requests
                for key in ("TrainingJobName", "ProcessingJobName", "TransformJobName", "ModelName") if key in r["params"]}

    assert names("catalog-search-prod") == names("catalog-search-prod")
    assert not names("catalog-search-prod") & names("catalog-search-staging")


def test_training_jobs_run_without_debugger_s_profiler():
    """Its default output lands under the output path, beside the model, where the execution role may not write."""
    assert training_request()["ProfilerConfig"] == {"DisableProfiler": True}
