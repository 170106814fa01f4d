"""The IAM policies of infra/iam/ as the tests read them, and what they are checked with.

Why: a policy that names the wrong prefix or misses an action fails only on AWS, on the first
night, after the stack was deployed. These helpers let tests check the policies against what
the code really does:

- ``load``: a policy with its CloudFormation placeholders (``${BucketName}``,
  ``${AWS::Region}``, ``${SageMakerExecutionRole.Arn}``, …) filled in, as ``Fn::Sub`` would;
- ``decision``: IAM's evaluation of one request against one identity policy (explicit Deny
  wins, then any Allow; ``Action``/``NotAction``, ``Resource``/``NotResource`` with ``*`` and
  ``?``, and the string condition operators the policies use);
- ``requests_of``: the IAM requests (action, resource ARN, condition keys) that one botocore
  call makes, S3 by its own mapping (ListObjectsV2 is ``s3:ListBucket`` with ``s3:prefix``,
  HeadObject is ``s3:GetObject``, a multipart upload is ``s3:PutObject``, …);
- ``Recorder``: every botocore call of every client made while it is installed (a
  ``provide-client-params`` hook on each new client), with the principal it runs as;
- ``moto_view``: a policy as moto server can enforce it (moto checks resources only for S3).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[2]
IAM_DIR = ROOT / "infra" / "iam"
TEMPLATE = ROOT / "infra" / "catalog-search.yaml"

# principal -> its identity policy file; the domain access policy names them as principals
POLICIES = {"dag": "dag-role.json", "sagemaker": "sagemaker-execution-role.json", "search": "search-service.json"}
DOMAIN_ACCESS = "opensearch-domain-access.json"
FGAC_ROLES = "opensearch-fgac-roles.json"

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9:.]+)\}")
ACCOUNT = "123456789012"  # moto's default account
PASSED_TO = "sagemaker.amazonaws.com"


def deployment(bucket: str = "catalog-search-test", table: str = "catalog-search-products",
               model_package_group: str = "catalog-search-products", query_endpoint: str = "catalog-search-query-encoder",
               index_alias: str = "products", region: str = "us-east-1", account: str = ACCOUNT,
               domain: str = "catalog-search", topic: str = "catalog-search-alerts") -> dict[str, str]:
    """The value of every placeholder of the policies for one deployment."""
    return {
        "AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": account,
        "BucketName": bucket, "TableName": table, "ModelPackageGroup": model_package_group,
        "QueryEndpoint": query_endpoint, "DomainName": domain, "IndexAlias": index_alias,
        "AlertTopic": f"arn:aws:sns:{region}:{account}:{topic}",
        "SageMakerExecutionRole.Arn": f"arn:aws:iam::{account}:role/catalog-search-sagemaker",
        "DagRole.Arn": f"arn:aws:iam::{account}:role/catalog-search-dags",
        "SearchServiceRole.Arn": f"arn:aws:iam::{account}:role/catalog-search-search",
    }


def raw(name: str) -> Any:
    """A policy file as written, placeholders and all."""
    return json.loads((IAM_DIR / name).read_text())


def substitute(value: Any, values: Mapping[str, str]) -> Any:
    """Every ``${Name}`` in the strings of ``value`` replaced; an unknown name raises."""
    if isinstance(value, str):
        def one(match: re.Match) -> str:
            if match.group(1) not in values:
                raise KeyError(f"placeholder ${{{match.group(1)}}} has no value (known: {', '.join(sorted(values))})")
            return values[match.group(1)]
        return PLACEHOLDER.sub(one, value)
    if isinstance(value, list):
        return [substitute(v, values) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, values) for k, v in value.items()}
    return value


def load(name: str, values: Mapping[str, str] | None = None) -> Any:
    """A policy file with its placeholders filled in (default: ``deployment()``)."""
    return substitute(raw(name), values or deployment())


def policy_of(principal: str, values: Mapping[str, str] | None = None) -> dict:
    return load(POLICIES[principal], values)


def statements(policy: dict) -> list[dict]:
    found = policy["Statement"]
    return found if isinstance(found, list) else [found]


def listed(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


# -- evaluation ------------------------------------------------------------------------------

ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"


@dataclass(frozen=True)
class Request:
    """What IAM authorizes: one action on one resource, with the request's condition keys."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        keys = "".join(f" {k}={v!r}" for k, v in self.context)
        return f"{self.action} on {self.resource}{keys}"


def wildcard(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    """IAM's ``*`` (any run, ``/`` included) and ``?`` (one character); nothing else is special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _element(statement: dict, name: str, value: str, case_sensitive: bool) -> bool:
    """Whether the statement's ``name`` (``Action``/``Resource``) or ``Not{name}`` covers ``value``."""
    if name in statement:
        return any(wildcard(p, value, case_sensitive) for p in listed(statement[name]))
    if f"Not{name}" in statement:
        return not any(wildcard(p, value, case_sensitive) for p in listed(statement[f"Not{name}"]))
    raise ValueError(f"statement {statement.get('Sid')!r} has neither {name} nor Not{name}")


_OPERATORS = {
    "StringEquals": lambda wanted, actual: actual == wanted,
    "StringLike": lambda wanted, actual: wildcard(wanted, actual),
}


def _conditions_hold(conditions: dict, context: Mapping[str, str]) -> bool:
    """Every operator's every key holds (a key the request lacks fails the condition, as on AWS)."""
    for operator, keys in conditions.items():
        test = _OPERATORS.get(operator)
        if test is None:
            raise ValueError(f"condition operator {operator} is not evaluated here: add it to _OPERATORS")
        for key, wanted in keys.items():
            actual = context.get(key)
            if actual is None or not any(test(w, actual) for w in listed(wanted)):
                return False
    return True


def decision(policy: dict, request: Request) -> str:
    """``Allow``, ``Deny`` (an explicit Deny matched) or ``ImplicitDeny`` (no Allow matched)."""
    context = dict(request.context)
    allowed = False
    for statement in statements(policy):
        if (_element(statement, "Action", request.action, case_sensitive=False)
                and _element(statement, "Resource", request.resource, case_sensitive=True)
                and _conditions_hold(statement.get("Condition", {}), context)):
            if statement["Effect"] == "Deny":
                return DENY
            allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


def granted_actions(policy: dict) -> set[str]:
    """The actions the policy's Allow statements name (as written: ``Action`` only)."""
    found = set()
    for statement in statements(policy):
        if statement["Effect"] == "Allow":
            if "Action" not in statement:
                raise ValueError(f"statement {statement.get('Sid')!r}: NotAction in an Allow grants everything else")
            found |= set(listed(statement["Action"]))
    return found


def s3_resources(policy: dict) -> list[str]:
    """Every S3 resource pattern of the policy: its ARNs below ``arn:aws:s3:::`` and the
    ``s3:prefix`` values of its conditions (as ``bucket/prefix``)."""
    found = []
    for statement in statements(policy):
        arns = [r for r in listed(statement.get("Resource")) if r.startswith("arn:aws:s3:::")]
        found += [r[len("arn:aws:s3:::"):] for r in arns]
        for keys in statement.get("Condition", {}).values():
            for prefix in listed(keys.get("s3:prefix")):
                found += [f"{arn[len('arn:aws:s3:::'):]}/{prefix}" for arn in arns]
    return found


# -- botocore calls as IAM requests -----------------------------------------------------------

@dataclass(frozen=True)
class Call:
    """One botocore API call as the client made it."""

    principal: str
    service: str  # botocore's service name: s3, dynamodb, sagemaker, sagemaker-runtime, sns, sts
    operation: str
    params: dict = field(hash=False)
    region: str = "us-east-1"
    account: str = ACCOUNT

    def __str__(self) -> str:
        shown = {k: v for k, v in self.params.items() if k in _SHOWN}
        return f"{self.principal}: {self.service}.{self.operation}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


_SHOWN = {"Bucket", "Key", "Prefix", "TableName", "TopicArn", "EndpointName", "EndpointConfigName", "ModelName",
          "ProcessingJobName", "TrainingJobName", "TransformJobName", "ModelPackageGroupName", "ModelPackageName"}

# S3 operations -> IAM actions (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations.html)
S3_OBJECT_ACTIONS = {
    "GetObject": "s3:GetObject", "HeadObject": "s3:GetObject", "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject", "UploadPart": "s3:PutObject", "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload", "DeleteObject": "s3:DeleteObject",
}
S3_COPY_OPERATIONS = ("CopyObject", "UploadPartCopy")
S3_BUCKET_ACTIONS = {"ListObjectsV2": "s3:ListBucket", "ListObjects": "s3:ListBucket", "HeadBucket": "s3:ListBucket",
                     "CreateBucket": "s3:CreateBucket"}

# SageMaker operation -> (resource type, the request member naming it, the member naming a role it passes)
SAGEMAKER = {
    "CreateProcessingJob": ("processing-job", "ProcessingJobName", "RoleArn"),
    "DescribeProcessingJob": ("processing-job", "ProcessingJobName", None),
    "CreateTrainingJob": ("training-job", "TrainingJobName", "RoleArn"),
    "DescribeTrainingJob": ("training-job", "TrainingJobName", None),
    "CreateTransformJob": ("transform-job", "TransformJobName", None),
    "DescribeTransformJob": ("transform-job", "TransformJobName", None),
    "CreateModel": ("model", "ModelName", "ExecutionRoleArn"),
    "DescribeModel": ("model", "ModelName", None),
    "CreateEndpointConfig": ("endpoint-config", "EndpointConfigName", None),
    "DescribeEndpointConfig": ("endpoint-config", "EndpointConfigName", None),
    "CreateEndpoint": ("endpoint", "EndpointName", None),
    "UpdateEndpoint": ("endpoint", "EndpointName", None),
    "DescribeEndpoint": ("endpoint", "EndpointName", None),
    "InvokeEndpoint": ("endpoint", "EndpointName", None),
    "CreateModelPackageGroup": ("model-package-group", "ModelPackageGroupName", None),
    "DescribeModelPackageGroup": ("model-package-group", "ModelPackageGroupName", None),
}
ALWAYS_ALLOWED = {("sts", "GetCallerIdentity")}  # IAM never refuses it


def _arn(call: Call, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{call.region}:{call.account}:{resource}"


def requests_of(call: Call) -> list[Request]:
    """The IAM requests ``call`` makes (empty for calls IAM never refuses); a call not mapped
    here raises, so that a new kind of call cannot pass unchecked."""
    p, service, op = call.params, call.service, call.operation
    if (service, op) in ALWAYS_ALLOWED:
        return []
    if service == "es":
        return [es_request(call)]
    if service == "s3" and op in S3_OBJECT_ACTIONS:
        return [Request(S3_OBJECT_ACTIONS[op], f"arn:aws:s3:::{p['Bucket']}/{p['Key']}")]
    if service == "s3" and op in S3_COPY_OPERATIONS:  # reads the source, writes the destination
        source = unquote(p["CopySource"].lstrip("/"))
        return [Request("s3:GetObject", f"arn:aws:s3:::{source}"), Request("s3:PutObject", f"arn:aws:s3:::{p['Bucket']}/{p['Key']}")]
    if service == "s3" and op in S3_BUCKET_ACTIONS:
        context = (("s3:prefix", p.get("Prefix", "")),) if op.startswith("ListObjects") else ()
        return [Request(S3_BUCKET_ACTIONS[op], f"arn:aws:s3:::{p['Bucket']}", context)]
    if service == "dynamodb":
        tables = list(p["RequestItems"]) if "RequestItems" in p else [p["TableName"]]
        return [Request(f"dynamodb:{op}", _arn(call, "dynamodb", f"table/{t}")) for t in tables]
    if service == "sns" and op == "Publish":
        return [Request("sns:Publish", p["TopicArn"])]
    if service in ("sagemaker", "sagemaker-runtime") and op in SAGEMAKER:
        kind, name_member, role_member = SAGEMAKER[op]
        found = [Request(f"sagemaker:{op}", _arn(call, "sagemaker", f"{kind}/{p[name_member].lower()}"))]
        if op in ("CreateEndpoint", "UpdateEndpoint"):  # both resources are authorized
            found.append(Request(f"sagemaker:{op}", _arn(call, "sagemaker", f"endpoint-config/{p['EndpointConfigName'].lower()}")))
        if role_member and role_member in p:
            found.append(Request("iam:PassRole", p[role_member], (("iam:PassedToService", PASSED_TO),)))
        return found
    if service == "sagemaker" and op in ("CreateModelPackage", "ListModelPackages"):
        # a version of the group: model-package/{group}/{version}, the version not known before
        return [Request(f"sagemaker:{op}", _arn(call, "sagemaker", f"model-package/{p['ModelPackageGroupName'].lower()}/*"))]
    if service == "sagemaker" and op == "DescribeModelPackage":
        name = p["ModelPackageName"]
        return [Request("sagemaker:DescribeModelPackage", name if name.startswith("arn:") else
                        _arn(call, "sagemaker", f"model-package/{name.lower()}"))]
    raise KeyError(f"no IAM mapping for {service}.{op}: add it to tests/support/iam.py (requests_of)")


# -- recording -----------------------------------------------------------------------------

class Recorder:
    """Every botocore call of every client created while installed, under the principal set
    by ``acting_as`` (one at a time: the stages run one after the other, their thread pools
    inside one principal)."""

    def __init__(self, principal: str = "dag"):
        self.calls: list[Call] = []
        self.principal = principal

    def install(self, monkeypatch) -> Recorder:
        import botocore.session
        from botocore.handlers import handle_copy_source_param

        create_client = botocore.session.Session.create_client
        recorder = self

        def recording_create_client(session, *args, **kwargs):
            client = create_client(session, *args, **kwargs)
            region = client.meta.region_name

            def record(params, model, **_):
                # A body is kept small (files and gigabyte payloads are not copied): present, one byte.
                kept = {k: (b"." if k == "Body" else v) for k, v in params.items()}
                if "CopySource" in kept:  # as the request carries it: botocore makes boto3's {Bucket, Key} the string
                    handle_copy_source_param(kept)
                recorder.calls.append(Call(recorder.principal, model.service_model.service_name, model.name, kept, region))

            client.meta.events.register("provide-client-params", record)
            return client

        monkeypatch.setattr(botocore.session.Session, "create_client", recording_create_client)
        return self

    @contextmanager
    def acting_as(self, principal: str):
        before, self.principal = self.principal, principal
        try:
            yield self
        finally:
            self.principal = before

    def of(self, principal: str) -> list[Call]:
        return [c for c in self.calls if c.principal == principal]


def refused(calls: Iterable[Call], policy: dict) -> list[str]:
    """One line per IAM request of ``calls`` that ``policy`` does not allow."""
    return sorted({f"{call}: {request} -> {verdict}" for call in calls for request in requests_of(call)
                   if (verdict := decision(policy, request)) != ALLOW})


# -- moto ------------------------------------------------------------------------------------

# moto names HeadBucket's action s3:HeadBucket; AWS authorizes HeadBucket as s3:ListBucket.
MOTO_ALIASES = {"s3:ListBucket": "s3:HeadBucket"}


def moto_view(policy: dict) -> dict:
    """The policy as moto server can enforce it: S3 statements as written (moto checks their
    resources), every other statement on ``"*"`` (moto checks only the action, and passes
    ``"*"`` as the resource, which a statement naming an ARN never matches); conditions are
    dropped (moto evaluates none of ours). moto's own name for HeadBucket is added beside
    ``s3:ListBucket``. OpenSearch (``es:``) is no moto service and is left out."""
    kept = []
    for statement in statements(policy):
        actions = listed(statement["Action"])
        if all(a.startswith("es:") for a in actions):
            continue
        view = {k: v for k, v in statement.items() if k != "Condition"}
        view["Action"] = actions + [MOTO_ALIASES[a] for a in actions if a in MOTO_ALIASES]
        if not all(a.startswith("s3:") for a in actions):
            view["Resource"] = "*"
        kept.append(view)
    return {"Version": policy["Version"], "Statement": kept}


def matches_any(patterns: Iterable[str], *values: str) -> bool:
    """Whether any of the wildcard ``patterns`` matches any of ``values``."""
    return any(wildcard(p, v) for p in patterns for v in values)



# -- OpenSearch ------------------------------------------------------------------------------

def watch_opensearch(client, recorder: Recorder, domain: str):
    """``client`` (opensearch-py) with every REST request recorded as a ``Call`` of service
    ``es``: its method, path, the domain it goes to, and for a bulk or multi-search request the
    indices its lines name (the path names none)."""
    transport = client.transport
    perform = transport.perform_request

    def recording(method, url, *args, **kwargs):
        params = {"path": url.split("?")[0], "domain": domain}
        if params["path"].endswith(("/_bulk", "/_msearch")):
            params["indices"] = sorted(_named_indices(kwargs.get("body")))
        elif params["path"] == "/_aliases":
            params["indices"] = sorted({name for action in kwargs["body"]["actions"] for change in action.values()
                                        for name in (change["index"], change["alias"])})
        recorder.calls.append(Call(recorder.principal, "es", method.upper(), params))
        return perform(method, url, *args, **kwargs)

    transport.perform_request = recording
    return client


def _named_indices(body) -> set[str]:
    """The indices the lines of a bulk body (``{"index": {"_index": …}}``) or a multi-search
    body (``{"index": …}`` headers) name."""
    text = body.decode() if isinstance(body, bytes) else body if isinstance(body, str) else "\n".join(map(json.dumps, body or []))
    found = set()
    for line in filter(str.strip, text.splitlines()):
        for key, value in json.loads(line).items():
            if isinstance(value, dict) and "_index" in value:
                found.add(value["_index"])
            elif key == "index" and isinstance(value, str):
                found.add(value)
    return found


def es_request(call: Call) -> Request:
    """The SigV4 request IAM authorizes for one REST request to the domain."""
    return Request(f"es:ESHttp{call.operation.capitalize()}", _arn(call, "es", f"domain/{call.params['domain']}{call.params['path']}"))


# REST request (method, path shape) -> the security plugin's action; {i} is the index or alias it names
FGAC_ACTIONS = [
    ("GET", "/", "cluster:monitor/main"),
    ("GET", "/_cluster/health/{i}", "cluster:monitor/health"),
    ("GET", "/_alias/{i}", "indices:admin/aliases/get"),
    ("POST", "/_aliases", "indices:admin/aliases"),
    ("POST", "/_bulk", "indices:data/write/bulk"),
    ("POST", "/_mget", "indices:data/read/mget"),
    ("POST", "/_msearch", "indices:data/read/msearch"),
    ("HEAD", "/{i}", "indices:admin/get"),
    ("GET", "/{i}", "indices:admin/get"),
    ("PUT", "/{i}", "indices:admin/create"),
    ("DELETE", "/{i}", "indices:admin/delete"),
    ("GET", "/{i}/_mapping", "indices:admin/mapping/get"),
    ("PUT", "/{i}/_mapping", "indices:admin/mapping/put"),
    ("PUT", "/{i}/_settings", "indices:admin/settings/update"),
    ("GET", "/{i}/_settings/{name}", "indices:monitor/settings/get"),
    ("POST", "/{i}/_refresh", "indices:admin/refresh"),
    ("POST", "/{i}/_flush", "indices:admin/flush"),
    ("POST", "/{i}/_forcemerge", "indices:admin/forcemerge"),
    ("PUT", "/{i}/_clone/{i}", "indices:admin/resize"),
    ("POST", "/{i}/_search", "indices:data/read/search"),
    ("GET", "/{i}/_search", "indices:data/read/search"),
    ("POST", "/{i}/_count", "indices:data/read/search"),
    ("GET", "/{i}/_count", "indices:data/read/search"),
    ("GET", "/{i}/_doc/{id}", "indices:data/read/get"),
    ("POST", "/{i}/_mget", "indices:data/read/mget"),
    ("GET", "/{i}/_mget", "indices:data/read/mget"),
]


def fgac_requests(call: Call) -> list[tuple[str, str | None]]:
    """(action, index) pairs the security plugin authorizes for one REST request (index None:
    a cluster action); an unmapped request raises."""
    path = call.params["path"]
    parts = [p for p in path.split("/") if p]
    for method, shape, action in FGAC_ACTIONS:
        pattern = [p for p in shape.split("/") if p]
        if method != call.operation or len(pattern) != len(parts):
            continue
        if all(want.startswith("{") or want == got for want, got in zip(pattern, parts)):
            named = [got for want, got in zip(pattern, parts) if want == "{i}"]
            if action.startswith("cluster:"):
                return [(action, None)]
            return [(action, index) for index in named + call.params.get("indices", [])]
    raise KeyError(f"no security-plugin action for {call.operation} {path}: add it to FGAC_ACTIONS in tests/support/iam.py")


def fgac_allows(role: dict, action: str, index: str | None) -> bool:
    if index is None:
        return matches_any(role["cluster_permissions"], action)
    return any(matches_any(p["allowed_actions"], action) and matches_any(p["index_patterns"], index)
               for p in role["index_permissions"])


def for_principal(policy: dict, principal_arn: str) -> dict:
    """The statements of a resource policy that name ``principal_arn``, as an identity policy."""
    return {"Statement": [s for s in statements(policy) if principal_arn in listed(s.get("Principal", {}).get("AWS"))]}
