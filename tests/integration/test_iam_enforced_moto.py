"""The pipeline under its own policies, enforced by a stand-in: a moto server of this module's
own with IAM authorization on, every DAG stage run with the DAG role's keys and every job's S3
work (the local runner's) with the execution role's, and what the policies lack refused.

moto enforces what it can (moto/core/authorization.py, moto/iam/access_control.py): the action
of every request of every service, and for S3 also the resource (bucket, bucket/key). For
DynamoDB, SageMaker and SNS it passes ``"*"`` as the resource, which no statement naming an ARN
matches, so the users carry ``support.iam.moto_view`` of each policy: S3 statements as written,
the others on ``"*"``; conditions (``s3:prefix``, ``iam:PassedToService``) are dropped, since
moto evaluates none of them (tests/unit/test_iam_policies.py and test_iam_calls.py check those
with the evaluator). A separate server, so that the shared one is never left with auth on; the
OpenSearch node is the shared local one, under an alias of this module's own."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from catalog_search.clients import Clients, Endpoints
from catalog_search.store import dynamo
from catalog_search.store.object_keys import ObjectKeys
from support import iam, pipeline

ROOT = Path(__file__).resolve().parents[2]
NIGHTS = ("20270101T010000Z-auth", "20270102T010000Z-auth")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory):
    """A moto server of its own, started as scripts/services.sh starts the shared one."""
    port, log = free_port(), tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("w") as out:
        server = subprocess.Popen([str(Path(os.environ["CS_VENV"]) / "bin" / "gunicorn"), "-c",
                                   str(ROOT / "scripts" / "moto_gunicorn.conf.py"), "-b", f"127.0.0.1:{port}"],
                                  stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            requests.get(f"{url}/moto-api/", timeout=2).raise_for_status()
            break
        except requests.RequestException:
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail(f"moto did not start on {url}: {log.read_text()[-2000:]}")
    yield url
    server.send_signal(signal.SIGQUIT)  # gunicorn's quick shutdown (SIGTERM waits out the kept-alive connections)
    server.wait(timeout=30)


def client_maker(url: str, keys: dict | None = None):
    keys = keys or {"AccessKeyId": "testing", "SecretAccessKey": "testing"}
    return lambda service: boto3.client(service, region_name="us-east-1", endpoint_url=url,
                                        aws_access_key_id=keys["AccessKeyId"], aws_secret_access_key=keys["SecretAccessKey"])


def user_with(make_aws, name: str, policy: dict) -> dict:
    """An IAM user carrying ``policy`` inline, and its access key."""
    admin_iam = make_aws("iam")
    admin_iam.create_user(UserName=name)
    admin_iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    return admin_iam.create_access_key(UserName=name)["AccessKey"]


@dataclasses.dataclass(frozen=True)
class Enforced:
    dags: Clients  # the DAG role's keys
    jobs_s3: object  # an S3 client with the execution role's keys
    admin: object  # makes clients that may do anything


@pytest.fixture(scope="module")
def enforced(moto_url, clients, tmp_path_factory) -> Enforced:
    name = f"auth-{uuid.uuid4().hex[:8]}"
    values = iam.deployment(bucket=name, table=name, model_package_group=name, index_alias=name, topic=name)
    settings = dataclasses.replace(pipeline.quick_settings(clients.settings, name, tmp_path_factory.mktemp(name)),
                                   sagemaker_role_arn=values["SageMakerExecutionRole.Arn"])
    admin = client_maker(moto_url)
    # While auth is off: the stack's resources and the principals (what infra/catalog-search.yaml creates)
    admin("s3").create_bucket(Bucket=name)
    dynamo.ensure_table(admin("dynamodb"), name)
    admin("sagemaker").create_model_package_group(ModelPackageGroupName=name)
    dag_keys = user_with(admin, "dags", iam.moto_view(iam.policy_of("dag", values)))
    job_keys = user_with(admin, "jobs", iam.moto_view(iam.policy_of("sagemaker", values)))
    admin_keys = user_with(admin, "admin", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    requests.post(f"{moto_url}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()  # every request from now on
    dags = Clients(settings, client_maker(moto_url, dag_keys), clients.make_opensearch, Endpoints(moto_url, clients.endpoints.opensearch),
                   clients.make_region)
    yield Enforced(dags, client_maker(moto_url, job_keys)("s3"), client_maker(moto_url, admin_keys))
    clients.opensearch.indices.delete(index=f"{name}-*", ignore_unavailable=True)


@pytest.fixture(scope="module")
def published(enforced) -> list[dict]:
    """Two nights of every DAG, each principal with its own keys: the DAG stages with the DAG
    role's, the jobs' S3 reads and writes with the execution role's (SageMaker's own look-up of
    a transform job's model with the admin's: no role makes it on AWS)."""
    dags = enforced.dags
    runner = pipeline.runner_of(dags, s3=enforced.jobs_s3, sagemaker=enforced.admin("sagemaker"))
    pipeline.refresh_night(dags, runner, NIGHTS[0])
    pipeline.train(dags, runner)
    nights = []
    for night, before in zip(NIGHTS, (None, *NIGHTS)):
        if before:
            pipeline.refresh_night(dags, runner, night, derive_from=before)
        pipeline.enrich(dags, runner, night)
        nights.append(pipeline.publish_night(dags, night))
    return nights


def test_the_refresh_and_publish_stages_run_under_the_dag_role(published, enforced):
    assert [n["swapped"]["moved"] for n in published] == [True, True]
    assert published[1]["built"]["build"] == "incremental"  # the second night's clone and changes, under the policy
    table = enforced.dags.store.get_json(ObjectKeys.table_state(enforced.dags.settings.table_name))
    assert table["snapshot_id"] == NIGHTS[1]


def test_the_moto_server_refuses_unsigned_and_unknown_callers(published, moto_url):
    stranger = client_maker(moto_url, {"AccessKeyId": "CSNOSUCHKEY000000000", "SecretAccessKey": "x"})("s3")
    with pytest.raises(ClientError, match="InvalidAccessKeyId"):
        stranger.list_buckets()


def _refused(call) -> str:
    """How the call was refused: its HTTP status and error code (moto's DynamoDB says 403 for both)."""
    with pytest.raises(ClientError) as refused:
        call()
    answer = refused.value.response
    return f"{answer['ResponseMetadata']['HTTPStatusCode']} {answer['Error']['Code']}"


def test_what_the_dag_role_lacks_is_refused(published, enforced):
    dags = enforced.dags
    bucket, table = dags.settings.bucket, dags.settings.table_name
    model = dags.store.get_json(ObjectKeys.CHAMPION)["model_version"]
    refused = {
        "delete the table": _refused(lambda: dags.dynamodb.delete_table(TableName=table)),
        "overwrite the model artifact (the training job's output)": _refused(
            lambda: dags.s3.put_object(Bucket=bucket, Key=ObjectKeys.model_artifact(model), Body=b"x")),
        "write outside the layout": _refused(lambda: dags.s3.put_object(Bucket=bucket, Key="secrets/x", Body=b"x")),
        "delete an object": _refused(lambda: dags.s3.delete_object(Bucket=bucket, Key=ObjectKeys.LATEST_SNAPSHOT)),
        "create a bucket": _refused(lambda: dags.s3.create_bucket(Bucket=f"{bucket}-2")),
        "read IAM": _refused(lambda: dags.make_aws("iam").list_users()),
    }
    assert set(refused.values()) <= {"403 AccessDenied", "403 403", "403 AccessDeniedException"}, refused
    assert dags.store.exists(ObjectKeys.LATEST_SNAPSHOT)  # nothing refused happened


def test_what_the_execution_role_lacks_is_refused(published, enforced):
    jobs, bucket = enforced.jobs_s3, enforced.dags.settings.bucket
    refused = {
        "move the catalog pointer": _refused(lambda: jobs.put_object(Bucket=bucket, Key=ObjectKeys.LATEST_SNAPSHOT, Body=b"{}")),
        "read the DynamoDB table's state": _refused(lambda: jobs.get_object(Bucket=bucket, Key=ObjectKeys.table_state(bucket))),
        "write the enriched catalog": _refused(lambda: jobs.put_object(
            Bucket=bucket, Key=ObjectKeys.enriched_products(NIGHTS[0], "m"), Body=b"x")),
    }
    assert set(refused.values()) == {"403 AccessDenied"}, refused
