"""Every AWS call the pipeline makes, recorded on its way out, checked against the IAM policy
of the principal that makes it (infra/iam/), and no more granted than the calls use.

The stages of every DAG run in order (tests/support/pipeline.py) on a 1,000-product sample of
the fashion catalog against moto server and the local node, as their tasks call them: three
nights (the first with a training, the second incremental, the third with the endpoint query
encoder and tombstones), a rollback, a rebuild from DynamoDB and its swap (retention deletes an
index), a run report, a failure alert; then the provider's SageMaker operators of
``CATALOG_SEARCH_RUNNER=sagemaker`` and the gate's short transform on SageMakerHook; and the
search service (in-process encoder, then the endpoint). A botocore hook on every client
records each call (``support.iam.Recorder``) under the principal making it: the DAG role, or
the SageMaker execution role while the local runner does what a job does (its S3 reads and
writes), or the search service. OpenSearch requests are recorded at the client's transport.

What runs only on AWS is listed below with its reason: each action a policy grants must be used
by a recorded call or be listed there. moto completes every job at once and runs no container,
so what the containers and the triggerer do is not recorded (the triggerer polls the same
Describe* actions the operators call)."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from catalog_search import alerts
from catalog_search.clients import Clients
from catalog_search.errors import NotFound
from catalog_search.naming import job_name
from catalog_search.sagemaker.jobs import SageMakerRunner
from catalog_search.sagemaker.local_runner import LocalRunner
from catalog_search.sagemaker.operators import ModelOperator, ProcessingJobOperator, TrainingJobOperator, TransformJobOperator
from catalog_search.search.api import Service
from catalog_search.search.query import SearchRequest
from catalog_search.stages import Run, enrichment, publish, refresh, reporting, training
from catalog_search.store import dynamo
from support import aws_contract, iam, pipeline

NIGHTS = ("20270101T010000Z-iam", "20270102T010000Z-iam", "20270103T010000Z-iam")

# Calls that happen only on AWS, by principal: action -> why no test here can record it
AWS_ONLY = {
    "dag": {"sagemaker:UpdateEndpoint": "a later model's deploy updates the query endpoint; moto implements no "
                                        "UpdateEndpoint (the update path: tests/unit/test_query_endpoint.py)"},
    "sagemaker": {
        **dict.fromkeys(["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
                         "ecr:BatchGetImage"],
                        "SageMaker pulls the Processing image (docker/processing.Dockerfile, in the template's ECR "
                        "repository) as the execution role; the local runner runs no image, and Object2Vec's image "
                        "SageMaker pulls with its own credentials"),
        **dict.fromkeys(["logs:CreateLogGroup", "logs:DescribeLogStreams", "logs:CreateLogStream", "logs:PutLogEvents"],
                        "the jobs' and the endpoint's containers log to CloudWatch Logs under /aws/sagemaker/"),
        "cloudwatch:PutMetricData": "the jobs publish their metrics to SageMaker's CloudWatch namespaces",
    },
    "search": {},
}
# The local runner's own look-up: it finds a transform job's model artifact by DescribeModel,
# where SageMaker resolves the job's model itself (no call of the execution role).
LOCAL_RUNNER_ONLY = {("sagemaker", "sagemaker", "DescribeModel")}  # (principal, service, operation)


def as_execution_role(method, recorder: iam.Recorder):
    def job(runner, config):
        with recorder.acting_as("sagemaker"):
            return method(runner, config)

    return job


@pytest.fixture(scope="module")
def recorded(clients, tmp_path_factory):
    name = f"iam-{uuid.uuid4().hex[:8]}"
    values = iam.deployment(bucket=name, table=name, model_package_group=name, query_endpoint=f"{name}-qenc",
                            index_alias=name, topic=name)
    settings = dataclasses.replace(pipeline.quick_settings(clients.settings, name, tmp_path_factory.mktemp(name)),
                                   query_endpoint=values["QueryEndpoint"], alert_topic_arn=values["AlertTopic"],
                                   sagemaker_role_arn=values["SageMakerExecutionRole.Arn"])
    # What the stack creates (infra/catalog-search.yaml), before anything is recorded: the DAG role may not.
    stack = dataclasses.replace(clients, settings=settings)
    stack.s3.create_bucket(Bucket=name)
    dynamo.ensure_table(stack.dynamodb, name)
    stack.sagemaker.create_model_package_group(ModelPackageGroupName=name)
    assert stack.make_aws("sns").create_topic(Name=name)["TopicArn"] == values["AlertTopic"]

    with pytest.MonkeyPatch.context() as patch:
        recorder = iam.Recorder().install(patch)
        for method in ("process", "train", "transform"):
            patch.setattr(LocalRunner, method, as_execution_role(getattr(LocalRunner, method), recorder))

        def scoped(**changes) -> Clients:
            return dataclasses.replace(clients, settings=dataclasses.replace(settings, **changes),
                                       make_opensearch=lambda: iam.watch_opensearch(clients.make_opensearch(), recorder,
                                                                                    values["DomainName"]))

        dags = scoped()
        runner = pipeline.runner_of(dags)
        pipeline.refresh_night(dags, runner, NIGHTS[0])
        trained = pipeline.train(dags, runner, f"manual__{name}")  # unique: job and model names are account-wide
        pipeline.enrich(dags, runner, NIGHTS[0])
        pipeline.publish_night(dags, NIGHTS[0])
        pipeline.refresh_night(dags, runner, NIGHTS[1], derive_from=NIGHTS[0])
        pipeline.enrich(dags, runner, NIGHTS[1])
        assert pipeline.publish_night(dags, NIGHTS[1])["built"]["build"] == "incremental"
        endpoint_mode = scoped(query_encoder="endpoint", removed_products="tombstone")
        pipeline.refresh_night(dags, runner, NIGHTS[2], derive_from=NIGHTS[1])
        pipeline.enrich(dags, runner, NIGHTS[2])
        assert pipeline.publish_night(endpoint_mode, NIGHTS[2])["swapped"]["query_encoder"]["action"] == "created"
        model = trained["champion"]["model_version"]
        assert publish.rollback(dags, Run("search_index_rollback", "manual__rollback"))["moved"]
        rebuilt = publish.build_index(dags, Run("search_index_publish", "manual__rebuild"), NIGHTS[2], model, source="dynamodb")
        assert publish.swap_alias(dags, Run("search_index_publish", "manual__rebuild"), rebuilt["index"])["removed"]
        reporting.write_run_report(dags, Run("catalog_refresh", f"scheduled__{NIGHTS[0]}"), [])
        alerts.send(alerts.failure_alert("catalog_refresh", "land_snapshot", "scheduled__x", 3, RuntimeError("boom")),
                    settings.alert_topic_arn, lambda: dags.make_aws("sns"))

        # CATALOG_SEARCH_RUNNER=sagemaker: the provider's operators and SageMakerHook (moto completes each job at once)
        aws = scoped(runner="sagemaker", processing_image=f"{iam.ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/catalog-search-processing:1")
        ProcessingJobOperator(task_id="check_snapshot", config=refresh.snapshot_check_config(
            aws, Run("catalog_refresh", f"manual__{name}-operators"), NIGHTS[2]), aws_conn_id="aws_default").execute({})
        run = Run("embedding_training", f"manual__{name}-operators")
        ProcessingJobOperator(task_id="prepare_training_data", config=training.processing_config(aws, run, NIGHTS[2]),
                              aws_conn_id="aws_default").execute({})
        job = TrainingJobOperator(task_id="train", config=training.training_config(aws, run, NIGHTS[2], trained["prepared"]),
                                  aws_conn_id="aws_default").execute({})["Training"]
        ModelOperator(task_id="create_model", config=training.model_config(aws, run, {
            "model_version": job["TrainingJobName"], "model_data_url": job["ModelArtifacts"]["S3ModelArtifacts"]}),
            aws_conn_id="aws_default").execute({})
        inputs = {"snapshot_id": NIGHTS[2], "model_version": model}
        # moto runs no container: the job's outputs are the local runner's of the same snapshot and model above
        ProcessingJobOperator(task_id="prepare_transform_input", config=enrichment.transform_input_config(
            aws, Run("catalog_enrichment", "manual__operators"), **inputs), aws_conn_id="aws_default").execute({})
        TransformJobOperator(task_id="batch_transform", config=enrichment.transform_config(
            aws, Run("catalog_enrichment", "manual__operators"), **inputs), aws_conn_id="aws_default",
            max_runtime=settings.transform_max_runtime).execute({})
        gate = enrichment.transform_config(aws, Run("catalog_enrichment", "manual__gate"), **inputs)
        SageMakerRunner(aws.sagemaker_hook, check_interval=1).transform({**gate, "TransformJobName": job_name("qvec", model, "k")})

        with recorder.acting_as("search"):
            request = SearchRequest("men navy blue shirt", "normalized", size=5)
            in_process = Service.from_clients(scoped(query_encoder="in_process"))
            product_id = in_process.search(request)["hits"]["hits"][0]["_id"]
            in_process.product(product_id), in_process.similar(product_id, 5), in_process.health()
            with pytest.raises(NotFound):  # a service started before the first publish: no alias, no index
                Service.from_clients(scoped(index_alias=f"{name}-unpublished")).search(request)
            # moto runs no model: whatever it answers (a queued answer, or its static one, which the
            # search refuses and falls back to keywords on), the call is the one AWS would get
            Service.from_clients(scoped(query_encoder="endpoint")).search(request)
    yield recorder, values
    clients.opensearch.indices.delete(index=f"{name}-*", ignore_unavailable=True)


def calls_of(recorder: iam.Recorder, principal: str) -> list[iam.Call]:
    return [c for c in recorder.of(principal) if (c.principal, c.service, c.operation) not in LOCAL_RUNNER_ONLY]


def test_every_call_is_allowed_to_the_principal_that_makes_it(recorded):
    recorder, values = recorded
    refused = [line for principal in iam.POLICIES for line in iam.refused(calls_of(recorder, principal),
                                                                          iam.policy_of(principal, values))]
    assert not refused, "calls the policies refuse:\n" + "\n".join(refused)


def test_every_call_as_the_code_sent_it_meets_its_service_model(recorded):
    """The strict contract check (tests/support/aws_contract.py) on the requests as the stages, the
    provider's operators and the search service really built them, beside the plan's (test_aws_contract)."""
    recorder, _ = recorded
    sent = [call for call in recorder.calls if call.service != "es"]  # OpenSearch's REST requests have no botocore model
    found = [f"{call}: {line}" for call in sent for line in aws_contract.violations(call.service, call.operation, call.params)]
    assert len(sent) > 100 and not found, "\n".join(found[:20])


@pytest.mark.parametrize("principal", list(iam.POLICIES))
def test_every_action_a_policy_grants_is_used_by_a_call_or_happens_only_on_aws(recorded, principal):
    recorder, values = recorded
    used = {r.action.lower() for c in calls_of(recorder, principal) for r in iam.requests_of(c)}
    unused = sorted(a for a in iam.granted_actions(iam.policy_of(principal, values))
                    if a.lower() not in used and a not in AWS_ONLY[principal])
    assert not unused, f"{iam.POLICIES[principal]} grants actions no call needs: {unused}"
    listed_but_used = sorted(a for a in AWS_ONLY[principal] if a.lower() in used)
    assert not listed_but_used, f"listed as AWS-only but recorded here (drop them from AWS_ONLY): {listed_but_used}"


def test_the_local_runner_is_the_only_caller_of_the_sagemaker_api_as_the_execution_role(recorded):
    recorder, _ = recorded
    assert {(c.principal, c.service, c.operation) for c in recorder.of("sagemaker") if c.service != "s3"} == LOCAL_RUNNER_ONLY


def test_the_domain_access_policy_lets_each_principal_make_its_requests_and_no_more(recorded):
    recorder, values = recorded
    domain = iam.load(iam.DOMAIN_ACCESS, values)
    problems = []
    for principal, arn in (("dag", values["DagRole.Arn"]), ("search", values["SearchServiceRole.Arn"])):
        statements = iam.for_principal(domain, arn)
        wanted = [c for c in recorder.of(principal) if c.service == "es"]
        problems += iam.refused(wanted, statements)
        used = {iam.es_request(c).action for c in wanted}
        problems += [f"{principal}: {a} granted, never used" for a in sorted(iam.granted_actions(statements) - used)]
    assert not problems, "the domain access policy against the recorded requests:\n" + "\n".join(problems)


def test_the_fgac_roles_allow_each_principals_requests_and_grant_none_unused(recorded):
    recorder, values = recorded
    roles, problems = iam.load(iam.FGAC_ROLES, values), []
    for principal, role_name in (("dag", "catalog_search_pipeline"), ("search", "catalog_search_search")):
        role = roles[role_name]
        wanted = {pair for c in recorder.of(principal) if c.service == "es" for pair in iam.fgac_requests(c)}
        problems += [f"{principal}: {action} on {index or 'the cluster'} refused" for action, index in sorted(wanted, key=str)
                     if not iam.fgac_allows(role, action, index)]
        granted = role["cluster_permissions"] + [a for p in role["index_permissions"] for a in p["allowed_actions"]]
        problems += [f"{principal}: {pattern} granted, never used" for pattern in granted
                     if not iam.matches_any([pattern], *(action for action, _ in wanted))]
    assert not problems, "the fine-grained access control roles against the recorded requests:\n" + "\n".join(problems)

