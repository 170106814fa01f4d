"""The template (infra/catalog-search.yaml) created as a stack on moto server, checked resource
by resource, then deleted.

moto's CloudFormation implements a subset of the resource types. Of ours it creates the bucket,
the table, the topic, the ECR repository and the three roles (with their inline policies, whose
``Fn::Sub`` placeholders it resolves), and it skips AWS::OpenSearchService::Domain and
AWS::SageMaker::ModelPackageGroup: the stack completes without them, and the test checks that
they are absent, so that a moto that learns them makes this test say so. A ``Fn::GetAtt`` of a
type moto lacks fails the whole CreateStack (an internal error), so the stack is created from
the template less its ``DomainEndpoint`` output; nothing else is changed. Of the bucket's
properties moto applies only the encryption (not the public access block, the lifecycle rule
or the ownership controls)."""

from __future__ import annotations

import ast
import uuid

import pytest
import yaml
from botocore.exceptions import ClientError

from support import iam

UNSUPPORTED_BY_MOTO = {"SearchDomain": "AWS::OpenSearchService::Domain", "ModelRegistry": "AWS::SageMaker::ModelPackageGroup"}


@pytest.fixture(scope="module")
def stack(clients):
    name = f"cfn-{uuid.uuid4().hex[:8]}"
    template = yaml.safe_load(iam.TEMPLATE.read_text())
    del template["Outputs"]["DomainEndpoint"]  # GetAtt of a type moto lacks
    parameters = {"BucketName": name, "TableName": name, "ModelPackageGroup": name, "QueryEndpoint": f"{name}-qenc",
                  "AlertTopicName": name, "DomainName": name}
    cloudformation = clients.make_aws("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=yaml.safe_dump(template), Capabilities=["CAPABILITY_IAM"],
                                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()])
    try:
        cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        described = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        resources = cloudformation.describe_stack_resources(StackName=name)["StackResources"]
        yield {"name": name, "parameters": parameters, "outputs": {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]},
               "status": described["StackStatus"],
               "physical": {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if "LogicalResourceId" in r}}
    finally:
        cloudformation.delete_stack(StackName=name)
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        clients.make_aws("dynamodb").delete_table(TableName=name)  # retained by the stack (DeletionPolicy: Retain)
        clients.s3.delete_bucket(Bucket=name)


def test_the_stack_creates_what_moto_implements(stack, clients):
    name = stack["name"]
    assert stack["status"] == "CREATE_COMPLETE"
    assert set(stack["physical"]) == {"Bucket", "ProductTable", "AlertTopic", "ProcessingRepository",
                                      "DagRole", "SageMakerExecutionRole", "SearchServiceRole"}
    encryption = clients.s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    table = clients.make_aws("dynamodb").describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "product_id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "product_id", "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert clients.make_aws("sns").get_topic_attributes(TopicArn=stack["outputs"]["AlertTopicArn"])["Attributes"]
    repository = clients.make_aws("ecr").describe_repositories(repositoryNames=["catalog-search-processing"])["repositories"][0]
    assert stack["outputs"]["ProcessingRepositoryUri"] == repository["repositoryUri"]


def test_each_role_carries_its_policy_with_the_stacks_own_names(stack, clients):
    """moto resolves the placeholders as CloudFormation does: each inline policy equals its
    file filled in with this stack's names and ARNs."""
    outputs, parameters = stack["outputs"], stack["parameters"]
    values = {**iam.deployment(bucket=parameters["BucketName"], table=parameters["TableName"],
                               model_package_group=parameters["ModelPackageGroup"], query_endpoint=parameters["QueryEndpoint"],
                               domain=parameters["DomainName"], topic=parameters["AlertTopicName"]),
              "SageMakerExecutionRole.Arn": outputs["SageMakerExecutionRoleArn"]}
    client = clients.make_aws("iam")
    for logical, file in (("DagRole", "dag-role.json"), ("SageMakerExecutionRole", "sagemaker-execution-role.json"),
                          ("SearchServiceRole", "search-service.json")):
        role = stack["physical"][logical]
        inline = client.get_role_policy(RoleName=role, PolicyName=f"catalog-search-{file[:-5]}")["PolicyDocument"]
        inline = ast.literal_eval(inline) if isinstance(inline, str) else inline  # moto keeps a template's policy as repr()
        assert inline == iam.load(file, values), f"{logical}'s inline policy differs from {file}"
    trust = client.get_role(RoleName=stack["physical"]["SageMakerExecutionRole"])["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}


def test_what_moto_cannot_create_is_absent_not_pretended(stack, clients):
    """The domain and the registry group are not created, and of the bucket's properties moto
    applies the encryption only (cfn-lint checks the others: tests/unit/test_template.py)."""
    name = stack["name"]
    for read, missing in ((clients.s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration"),
                          (clients.s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration"),
                          (clients.s3.get_bucket_ownership_controls, "OwnershipControlsNotFoundError")):
        with pytest.raises(ClientError, match=missing):
            read(Bucket=name)
    with pytest.raises(ClientError, match="ResourceNotFound"):
        clients.make_aws("opensearch").describe_domain(DomainName=name)
    with pytest.raises(ClientError, match=r"ValidationException|ResourceNotFound"):
        clients.sagemaker.describe_model_package_group(ModelPackageGroupName=name)
    assert not set(UNSUPPORTED_BY_MOTO) & set(stack["physical"])
