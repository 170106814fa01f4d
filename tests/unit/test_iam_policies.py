"""The IAM policies of infra/iam/ against the object-store layout and IAM's own data, and the
evaluator and call mapping the other IAM tests rely on.

Why: the policies name key patterns by hand, and a pattern that drifts from ``ObjectKeys`` (the
README once granted ``models/*/query-vectors/*/input/`` while the code writes
``models/{model}/batch-embeddings/{key}/input/``) is refused only on AWS. Every key the layout
produces is built here with realistic ids and checked against each principal's policy for
exactly the access that principal needs: what it must read and write is allowed, and nothing
else is (a policy that grants more fails too). Every S3 pattern the policies grant must match a
key the layout produces."""

from __future__ import annotations

import json
import re
from importlib.resources import files

import pytest
from cfnlint.data import AdditionalSpecs

from catalog_search.naming import job_name
from catalog_search.stages import Run
from catalog_search.store.object_keys import ObjectKeys
from support import iam
from support.iam import ALLOW, Call, Request, decision, requests_of

SNAPSHOT, EARLIER = "20261129T010000Z-fashion", "20261128T010000Z-fashion"
TRAINING_RUN = Run("embedding_training", "scheduled__2026-11-29T03:00:00+00:00")
MODEL = job_name("o2v", SNAPSHOT, TRAINING_RUN.key)
TRAINING = ObjectKeys.training(SNAPSHOT, TRAINING_RUN.key)
QUERIES = ObjectKeys.batch_embeddings(MODEL, "5f0c2a9e")
ASSEMBLY_RUN = Run("catalog_enrichment", "scheduled__2026-11-29T02:00:00+00:00")
REFRESH_RUN = Run("catalog_refresh", "scheduled__2026-11-29T01:00:00+00:00")
REPORT = REFRESH_RUN.report_prefix
VALUES = iam.deployment()
BUCKET = VALUES["BucketName"]

# Every key the layout produces, and what each principal does with it: r reads, w writes.
# dag: the DAG tasks (workers and triggerer); sagemaker: the jobs' execution role (Processing,
# Training, Batch Transform, the endpoint's container); search: the search service and CLI.
ACCESS = {
    ObjectKeys.snapshot_products(SNAPSHOT): {"dag": "rw", "sagemaker": "r"},
    ObjectKeys.snapshot_rejects(SNAPSHOT): {"dag": "rw"},
    ObjectKeys.snapshot_manifest(SNAPSHOT): {"dag": "rw"},
    ObjectKeys.snapshot_validated(SNAPSHOT): {"dag": "rw"},
    # the check_snapshot job's; the DAG writes the snapshot beside it (catalog/*), so it could write these too
    ObjectKeys.snapshot_checked(SNAPSHOT, REFRESH_RUN.key) + "summary.json": {"dag": "rw", "sagemaker": "w"},
    ObjectKeys.snapshot_checked(SNAPSHOT, REFRESH_RUN.key) + "data_docs/index.html": {"dag": "rw", "sagemaker": "w"},
    ObjectKeys.LATEST_SNAPSHOT: {"dag": "rw"},
    ObjectKeys.processing_code("3c9d1f20") + "prepare_training_data.py": {"dag": "w", "sagemaker": "r"},
    ObjectKeys.processing_code("3c9d1f20") + "catalog_search/training/pairs.py": {"dag": "w", "sagemaker": "r"},
    ObjectKeys.minilm_vectors(SNAPSHOT) + "glove.txt": {"dag": "r", "sagemaker": "rw"},  # built by a Processing job
    ObjectKeys.uploaded_vectors("glove-0a1b2c3d", "glove.txt"): {"dag": "rw", "sagemaker": "r"},
    ObjectKeys.evaluation_set("9e8d7c6b5a"): {"dag": "w", "sagemaker": "r"},
    TRAINING + "train/pairs.jsonl": {"dag": "r", "sagemaker": "rw"},
    TRAINING + "auxiliary/vocab.json": {"dag": "r", "sagemaker": "rw", "search": "r"},
    TRAINING + "report.json": {"dag": "r", "sagemaker": "rw"},
    TRAINING + "checks.json": {"dag": "r", "sagemaker": "rw"},  # the pairs suite's, run in the job
    TRAINING + "data_docs/index.html": {"dag": "r", "sagemaker": "rw"},
    TRAINING + "evaluation_pairs.parquet": {"dag": "r", "sagemaker": "rw"},
    ObjectKeys.model_artifact(MODEL): {"dag": "r", "sagemaker": "rw", "search": "r"},
    ObjectKeys.model_metrics(MODEL): {"dag": "rw"},
    ObjectKeys.model_lineage(MODEL): {"dag": "rw", "search": "r"},
    ObjectKeys.model_champion_record(MODEL): {"dag": "rw"},
    ObjectKeys.CHAMPION: {"dag": "rw"},
    QUERIES + "input/sequences.jsonl": {"dag": "rw", "sagemaker": "r"},
    QUERIES + "output/sequences.jsonl.out": {"dag": "r", "sagemaker": "w"},
    ObjectKeys.transform_input_file(SNAPSHOT, MODEL, 0): {"dag": "r", "sagemaker": "rw"},  # written by a Processing job
    ObjectKeys.transform_output_file(SNAPSHOT, MODEL, 0): {"dag": "r", "sagemaker": "rw"},  # read by the assembly job
    ObjectKeys.transform_order(SNAPSHOT, MODEL): {"dag": "r", "sagemaker": "rw"},
    ObjectKeys.transform_summary(SNAPSHOT, MODEL): {"dag": "r", "sagemaker": "rw"},
    ObjectKeys.carried_over(SNAPSHOT, MODEL): {"dag": "r", "sagemaker": "rw"},
    ObjectKeys.assembled(SNAPSHOT, MODEL, ASSEMBLY_RUN.key) + "products.parquet": {"dag": "r", "sagemaker": "w"},
    ObjectKeys.assembled(SNAPSHOT, MODEL, ASSEMBLY_RUN.key) + "summary.json": {"dag": "r", "sagemaker": "w"},
    ObjectKeys.catalog_changes(SNAPSHOT, MODEL, EARLIER, "0123456789abcdef") + "kinds.parquet": {"dag": "rw"},
    ObjectKeys.enriched_products(SNAPSHOT, MODEL): {"dag": "rw", "sagemaker": "r"},  # the vectors a night carries over
    ObjectKeys.projector_sample(SNAPSHOT, MODEL): {"dag": "rw"},
    ObjectKeys.projector(SNAPSHOT, MODEL) + "tensors.tsv": {"dag": "rw"},
    ObjectKeys.LATEST_ENRICHMENT: {"dag": "rw"},
    ObjectKeys.table_state("catalog-search-products"): {"dag": "rw"},
    ObjectKeys.suite_report(REPORT, "catalog_snapshot"): {"dag": "rw"},
    ObjectKeys.data_docs(REPORT, "catalog_snapshot") + "index.html": {"dag": "rw"},
    REPORT + "index.html": {"dag": "rw"},
}
# What the jobs list (SageMaker lists an S3Prefix input under the prefix it is given)
JOB_INPUT_PREFIXES = [ObjectKeys.snapshot_products(SNAPSHOT), ObjectKeys.processing_code("3c9d1f20"), ObjectKeys.minilm_vectors(SNAPSHOT) + "glove.txt",
                      ObjectKeys.evaluation_set("9e8d7c6b5a"), TRAINING + "train/", ObjectKeys.transform_input(SNAPSHOT, MODEL),
                      QUERIES + "input/", ObjectKeys.transform_output(SNAPSHOT, MODEL), ObjectKeys.transform_order(SNAPSHOT, MODEL),
                      ObjectKeys.carried_over(SNAPSHOT, MODEL), ObjectKeys.enriched_products(EARLIER, MODEL),
                      TRAINING + "auxiliary/vocab.json", ObjectKeys.snapshot_products(EARLIER)]  # the tokenizing job's


def object_request(action: str, key: str) -> Request:
    return Request(action, f"arn:aws:s3:::{BUCKET}/{key}")


@pytest.mark.parametrize("principal", list(iam.POLICIES))
def test_each_principal_reads_and_writes_exactly_the_layout_keys_it_needs(principal):
    policy = iam.policy_of(principal, VALUES)
    wrong = []
    for key, who in ACCESS.items():
        for action, letter in (("s3:GetObject", "r"), ("s3:PutObject", "w")):
            needed = letter in who.get(principal, "")
            if (decision(policy, object_request(action, key)) == ALLOW) != needed:
                wrong.append(f"{action} {key}: {'refused but needed' if needed else 'allowed but not needed'}")
    assert not wrong, f"{iam.POLICIES[principal]} against the layout:\n" + "\n".join(wrong)


def test_the_execution_role_lists_its_jobs_input_prefixes_and_nothing_else():
    policy = iam.policy_of("sagemaker", VALUES)

    def listing(prefix: str) -> Request:
        return Request("s3:ListBucket", f"arn:aws:s3:::{BUCKET}", (("s3:prefix", prefix),))

    refused = [p for p in JOB_INPUT_PREFIXES if decision(policy, listing(p)) != ALLOW]
    assert not refused, f"job inputs the execution role cannot list: {refused}"
    assert decision(policy, listing("reports/")) != ALLOW and decision(policy, listing("")) != ALLOW


def test_every_s3_pattern_of_the_policies_matches_a_key_the_layout_produces():
    keys = list(ACCESS) + JOB_INPUT_PREFIXES
    unmatched = []
    for name in iam.POLICIES.values():
        for pattern in iam.s3_resources(iam.load(name, VALUES)):
            bucket, _, key_pattern = pattern.partition("/")
            assert bucket == BUCKET, f"{name}: {pattern} is not in the deployment's bucket"
            if key_pattern and not iam.matches_any([key_pattern], *keys):
                unmatched.append(f"{name}: {key_pattern}")
    assert not unmatched, "patterns the layout never writes or reads:\n" + "\n".join(unmatched)


def test_the_search_service_has_no_write_and_no_pipeline_only_service():
    actions = iam.granted_actions(iam.policy_of("search", VALUES))
    assert actions == {"s3:GetObject", "sagemaker:InvokeEndpoint", "es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost"}


def test_pass_role_is_for_the_execution_role_and_sagemaker_only():
    policy, role = iam.policy_of("dag", VALUES), VALUES["SageMakerExecutionRole.Arn"]
    to_sagemaker = (("iam:PassedToService", iam.PASSED_TO),)
    assert decision(policy, Request("iam:PassRole", role, to_sagemaker)) == ALLOW
    assert decision(policy, Request("iam:PassRole", role, (("iam:PassedToService", "ec2.amazonaws.com"),))) != ALLOW
    assert decision(policy, Request("iam:PassRole", role)) != ALLOW  # no service named: refused
    assert decision(policy, Request("iam:PassRole", role.replace("sagemaker", "admin"), to_sagemaker)) != ALLOW


def _iam_data() -> dict:
    return json.loads(files(AdditionalSpecs).joinpath("Policies.json").read_text())


@pytest.mark.parametrize("name", [*iam.POLICIES.values(), iam.DOMAIN_ACCESS])
def test_every_action_exists_and_every_resource_is_of_a_type_the_action_takes(name):
    """Against IAM's own service data, as cfn-lint ships it: an action that does not exist, or a
    resource ARN no resource type of the action has (``*`` for an action that takes none), is
    refused or ignored by AWS."""
    data, problems = _iam_data(), []
    for statement in iam.statements(iam.load(name, VALUES)):
        for action in iam.listed(statement["Action"]):
            service, _, verb = action.partition(":")
            known = data[service]["Actions"].get(verb.lower())
            if known is None:
                problems.append(f"{action}: no such action")
                continue
            types = known.get("Resources", [])
            formats = [f for t in types for f in data[service]["Resources"][t]["ARNFormats"]]
            for resource in iam.listed(statement["Resource"]):
                if resource == "*":
                    continue
                if not any(_arn_format_matches(f, resource) for f in formats):
                    problems.append(f"{action} on {resource}: not of a resource type it takes {types or '(none: *)'}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


def _arn_format_matches(arn_format: str, resource: str) -> bool:
    regex = arn_format.replace("${Partition}", "aws").replace("${Region}", "[a-z0-9-]+").replace("${Account}", "[0-9]{12}")
    return re.fullmatch(regex, resource) is not None


def test_the_fgac_roles_cover_the_alias_and_its_indices():
    roles = iam.load(iam.FGAC_ROLES, VALUES)
    for role in roles.values():
        patterns = [p for permission in role["index_permissions"] for p in permission["index_patterns"]]
        alias = VALUES["IndexAlias"]
        assert iam.matches_any(patterns, alias) and iam.matches_any(patterns, f"{alias}-20261129t010000z-fashion-0a1b2c3d")
        assert not iam.matches_any(patterns, "other-index")


# -- the evaluator and the mapping -----------------------------------------------------------

POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:Get*", "dynamodb:PutItem"], "Resource": ["arn:aws:s3:::b/models/*/lineage.json",
                                                                                "arn:aws:dynamodb:*:*:table/t"]},
    {"Effect": "Allow", "NotAction": "s3:*", "Resource": "arn:aws:sns:us-east-1:1:t?pic"},
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b", "Condition": {"StringLike": {"s3:prefix": "code/*"}}},
    {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/models/secret/*"},
]}


@pytest.mark.parametrize(("request_", "expected"), [
    (Request("s3:GetObject", "arn:aws:s3:::b/models/m1/lineage.json"), "Allow"),
    (Request("S3:getobject", "arn:aws:s3:::b/models/a/b/lineage.json"), "Allow"),  # actions ignore case; * spans /
    (Request("s3:GetObject", "arn:aws:s3:::b/Models/m1/lineage.json"), "ImplicitDeny"),  # resources do not
    (Request("s3:PutObject", "arn:aws:s3:::b/models/m1/lineage.json"), "ImplicitDeny"),
    (Request("s3:GetObject", "arn:aws:s3:::b/models/secret/lineage.json"), "Deny"),  # an explicit Deny wins
    (Request("dynamodb:PutItem", "arn:aws:dynamodb:eu-west-1:1:table/t"), "Allow"),
    (Request("dynamodb:PutItem", "arn:aws:dynamodb:eu-west-1:1:table/t2"), "ImplicitDeny"),
    (Request("sns:Publish", "arn:aws:sns:us-east-1:1:topic"), "Allow"),  # NotAction s3:*, ? one character
    (Request("sns:Publish", "arn:aws:sns:us-east-1:1:tooopic"), "ImplicitDeny"),
    (Request("s3:ListBucket", "arn:aws:s3:::b", (("s3:prefix", "code/x/"),)), "Allow"),
    (Request("s3:ListBucket", "arn:aws:s3:::b", (("s3:prefix", "reports/"),)), "ImplicitDeny"),
    (Request("s3:ListBucket", "arn:aws:s3:::b"), "ImplicitDeny"),  # the condition's key absent: it fails
], ids=str)
def test_the_evaluator_decides_as_iam_does(request_, expected):
    assert decision(POLICY, request_) == expected


def test_an_operator_the_evaluator_does_not_know_is_an_error_not_an_allow():
    policy = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4"}}}]}
    with pytest.raises(ValueError, match="IpAddress"):
        decision(policy, Request("s3:GetObject", "arn:aws:s3:::b/k"))


@pytest.mark.parametrize(("operation", "params", "expected"), [
    ("ListObjectsV2", {"Bucket": "b", "Prefix": "code/"}, ["s3:ListBucket on arn:aws:s3:::b s3:prefix='code/'"]),
    ("HeadBucket", {"Bucket": "b"}, ["s3:ListBucket on arn:aws:s3:::b"]),
    ("HeadObject", {"Bucket": "b", "Key": "k"}, ["s3:GetObject on arn:aws:s3:::b/k"]),
    ("CreateMultipartUpload", {"Bucket": "b", "Key": "k"}, ["s3:PutObject on arn:aws:s3:::b/k"]),
    ("UploadPart", {"Bucket": "b", "Key": "k", "PartNumber": 1, "UploadId": "u"}, ["s3:PutObject on arn:aws:s3:::b/k"]),
    ("CompleteMultipartUpload", {"Bucket": "b", "Key": "k", "UploadId": "u"}, ["s3:PutObject on arn:aws:s3:::b/k"]),
])
def test_s3_operations_map_to_their_iam_actions(operation, params, expected):
    assert [str(r) for r in requests_of(Call("dag", "s3", operation, params))] == expected


def test_a_sagemaker_create_passes_its_role_and_an_endpoint_needs_its_config_too():
    job = requests_of(Call("dag", "sagemaker", "CreateTrainingJob", {"TrainingJobName": "cs-o2v-X", "RoleArn": "arn:aws:iam::1:role/r"}))
    assert [str(r) for r in job] == [
        "sagemaker:CreateTrainingJob on arn:aws:sagemaker:us-east-1:123456789012:training-job/cs-o2v-x",
        "iam:PassRole on arn:aws:iam::1:role/r iam:PassedToService='sagemaker.amazonaws.com'"]
    endpoint = requests_of(Call("dag", "sagemaker", "UpdateEndpoint", {"EndpointName": "q", "EndpointConfigName": "cs-qenc-m"}))
    assert [r.resource.rsplit(":", 1)[1] for r in endpoint] == ["endpoint/q", "endpoint-config/cs-qenc-m"]
    batch = requests_of(Call("dag", "dynamodb", "BatchWriteItem", {"RequestItems": {"t": []}}))
    assert [str(r) for r in batch] == ["dynamodb:BatchWriteItem on arn:aws:dynamodb:us-east-1:123456789012:table/t"]


def test_a_call_without_a_mapping_fails_instead_of_passing_unchecked():
    with pytest.raises(KeyError, match=r"no IAM mapping for s3\.DeleteBucket"):
        requests_of(Call("dag", "s3", "DeleteBucket", {"Bucket": "b"}))


def test_the_moto_view_keeps_s3_resources_and_widens_what_moto_cannot_check():
    view = iam.moto_view(iam.policy_of("dag", VALUES))
    by_sid = {s["Sid"]: s for s in view["Statement"]}
    assert by_sid["ReadThePipelinesObjects"]["Resource"] == iam.policy_of("dag", VALUES)["Statement"][1]["Resource"]
    assert by_sid["TheProductTable"]["Resource"] == "*" and "Condition" not in by_sid["PassTheExecutionRoleToSageMakerOnly"]
    assert "s3:HeadBucket" in by_sid["ListTheBucketUnconditioned"]["Action"] and "TheSearchDomainWithSigV4" not in by_sid
