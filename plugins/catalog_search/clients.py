"""Clients of the external systems (S3, DynamoDB, SageMaker, OpenSearch): the one module that
knows where the services are.

Every client comes from the connections ``aws_default`` and ``opensearch_default``:

- inside Airflow (``Clients.from_airflow``) through the providers' hooks, so a deployment's
  secrets backend works as usual;
- outside Airflow (``Clients.from_environment``: the CLI, the search side, tests) from the same
  connections' definitions in ``AIRFLOW_CONN_AWS_DEFAULT`` / ``AIRFLOW_CONN_OPENSEARCH_DEFAULT``
  (Airflow's JSON form), read without importing Airflow; without them, boto3's default
  credential chain and ``CATALOG_SEARCH_OPENSEARCH_URL``.

The region is ``aws_default``'s (its extra's ``region_name``, else boto3's own default): every
client, image URI and ARN uses that one (``Clients.region``).

OpenSearch is reached with basic auth (the connection's login/password) or, when its extra says
``"auth_type": "sigv4"``, with requests signed by the AWS connection's identity for the AWS
connection's region (Amazon OpenSearch with IAM). OpenSearch Serverless is refused: an index
build uses APIs it does not have (``SERVERLESS_UNSUPPORTED``).

Clients are made on first use and making one has no side effects (no bucket or table is created).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from catalog_search.errors import BadInput
from catalog_search.settings import AWS_CONN_ID, OPENSEARCH_CONN_ID, Settings
from catalog_search.store.object_store import ObjectStore

LOCAL_OPENSEARCH_URL = "http://127.0.0.1:9200"
SIGV4 = "sigv4"  # opensearch_default's extra "auth_type": sign requests with the AWS connection's identity
# What an index build calls that OpenSearch Serverless does not offer.
SERVERLESS_UNSUPPORTED = ("_clone", "_forcemerge", "_flush", "_refresh", "_cluster/health",
                          "index settings (replicas, refresh interval, translog)")


@dataclass(frozen=True)
class Endpoints:
    """Where the services are, for messages a person can act on ("… is not reachable at URL")."""

    aws: str | None  # None: AWS's own endpoints
    opensearch: str


@dataclass
class Clients:
    settings: Settings
    make_aws: Callable[[str], Any]
    make_opensearch: Callable[[], Any]
    endpoints: Endpoints
    make_region: Callable[[], str | None]

    @classmethod
    def from_airflow(cls, settings: Settings) -> Clients:
        def aws(service: str) -> Any:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

            return AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type=service).get_conn()

        def aws_identity() -> tuple[Any, str]:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

            hook = AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type="sts")
            return hook.get_session().get_credentials(), hook.conn_region_name

        def opensearch() -> Any:
            from airflow.providers.opensearch.hooks.opensearch import OpenSearchHook

            hook = OpenSearchHook(open_search_conn_id=OPENSEARCH_CONN_ID, log_query=False)
            if hook.conn.extra_dejson.get("auth_type") == SIGV4:  # the provider's hook speaks basic auth only
                conn = {"host": hook.conn.host, "port": hook.conn.port, "schema": hook.conn.schema, "extra": hook.conn.extra_dejson}
                return _opensearch_client(conn, aws_identity)
            return hook.client

        def region() -> str | None:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

            hook = AwsBaseHook(aws_conn_id=AWS_CONN_ID, client_type="sts")
            return hook.conn_region_name or hook.get_session().region_name

        return cls(settings, aws, opensearch, environment_endpoints(), region)

    @classmethod
    def from_environment(cls, settings: Settings) -> Clients:
        import boto3

        aws_conn, os_conn = _env_connection(AWS_CONN_ID), _env_connection(OPENSEARCH_CONN_ID)
        region = (aws_conn.get("extra") or {}).get("region_name") or boto3.Session().region_name
        return cls(settings, lambda service: _boto3_client(service, aws_conn, required_region(region)),
                   lambda: _opensearch_client(os_conn, lambda: _aws_identity(aws_conn, region)), environment_endpoints(),
                   lambda: region)

    @cached_property
    def region(self) -> str:
        """The region of ``aws_default``: its extra's ``region_name``, else boto3's default chain."""
        return required_region(self.make_region())

    @cached_property
    def s3(self) -> Any:
        return self.make_aws("s3")

    @cached_property
    def dynamodb(self) -> Any:
        return self.make_aws("dynamodb")

    @cached_property
    def sagemaker(self) -> Any:
        return self.make_aws("sagemaker")

    @cached_property
    def sagemaker_hook(self) -> Any:
        """The Amazon provider's SageMakerHook on ``aws_default``: jobs and endpoints on AWS."""
        from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

        return SageMakerHook(aws_conn_id=AWS_CONN_ID)

    @cached_property
    def opensearch(self) -> Any:
        return self.make_opensearch()

    @cached_property
    def store(self) -> ObjectStore:
        return ObjectStore(self.s3, self.settings.bucket)


def required_region(region: str | None) -> str:
    if not region:
        raise BadInput(f"the {AWS_CONN_ID} connection names no region: add it to its extra, e.g. "
                       f"{{\"region_name\": \"eu-west-1\"}} (or set AWS_DEFAULT_REGION)")
    return region


def environment_endpoints() -> Endpoints:
    aws, opensearch = _env_connection(AWS_CONN_ID), _env_connection(OPENSEARCH_CONN_ID)
    return Endpoints((aws.get("extra") or {}).get("endpoint_url"), _opensearch_url(opensearch))


def _env_connection(conn_id: str) -> dict:
    """An Airflow connection defined in the environment, as a dict (JSON or URI form)."""
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}", "").strip()
    if not raw:
        return {}
    if raw.startswith("{"):
        try:
            return json.loads(raw)
        except json.JSONDecodeError as err:
            raise BadInput(f"AIRFLOW_CONN_{conn_id.upper()} is not valid JSON ({err}); see scripts/env.sh") from None
    uri = urlsplit(raw)
    return {"conn_type": uri.scheme, "host": uri.hostname, "port": uri.port, "login": uri.username,
            "password": uri.password, "schema": "https" if uri.scheme.endswith("s") else "http"}


def _opensearch_url(conn: dict) -> str:
    if not conn.get("host"):
        return os.environ.get("CATALOG_SEARCH_OPENSEARCH_URL", LOCAL_OPENSEARCH_URL)
    extra = conn.get("extra") or {}
    scheme = "https" if extra.get("use_ssl") else (conn.get("schema") or "http")
    return f"{scheme}://{conn['host']}:{conn.get('port') or 9200}"


def _boto3_client(service: str, conn: dict, region: str) -> Any:
    """A client for ``region`` (``Clients.region``, which already read the connection's)."""
    import boto3
    from botocore.config import Config

    extra = conn.get("extra") or {}
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=extra.get("endpoint_url"),
        aws_access_key_id=conn.get("login") or None,
        aws_secret_access_key=conn.get("password") or None,
        config=Config(**extra.get("config_kwargs", {})),
    )


def _aws_identity(conn: dict, region: str | None) -> tuple[Any, str]:
    """Credentials (the connection's keys, else boto3's default chain) and the connection's region."""
    import boto3

    if not region:
        raise BadInput(f"the {AWS_CONN_ID} connection has no region_name in its extra: SigV4 signs for one region; "
                       f"add it, e.g. {{\"region_name\": \"eu-west-1\"}}")
    session = boto3.Session(aws_access_key_id=conn.get("login") or None, aws_secret_access_key=conn.get("password") or None,
                            region_name=region)
    return session.get_credentials(), region


# Connections kept open to OpenSearch: as many as the search API's threads (anyio's default limit
# of 40). With urllib3's default of 10, every search beyond ten in flight opened a connection and
# closed it after (under 16 clients, py-spy saw the API connecting on about a tenth of its samples).
OPENSEARCH_CONNECTIONS = 40


def _opensearch_client(conn: dict, aws_identity: Callable[[], tuple[Any, str]]) -> Any:
    """Basic auth (login/password), or SigV4 with the AWS connection's identity and region when the
    connection's extra says ``"auth_type": "sigv4"`` (Amazon OpenSearch Service with IAM)."""
    from opensearchpy import OpenSearch, Urllib3AWSV4SignerAuth

    url = urlsplit(_opensearch_url(conn))
    extra = conn.get("extra") or {}
    if extra.get("service") == "aoss":
        raise BadInput(f"the {OPENSEARCH_CONN_ID} connection names OpenSearch Serverless (\"service\": \"aoss\"), which is "
                       f"not supported: an index build uses {', '.join(SERVERLESS_UNSUPPORTED)}, which Serverless does not "
                       f"offer. Use an Amazon OpenSearch Service domain (\"service\": \"es\", docs/aws.md)")
    if extra.get("auth_type") == SIGV4:
        credentials, region = aws_identity()
        auth: Any = Urllib3AWSV4SignerAuth(credentials, region, extra.get("service", "es"))
    else:
        auth = (conn["login"], conn.get("password") or "") if conn.get("login") else None
    return OpenSearch(
        hosts=[{"host": url.hostname, "port": url.port, "scheme": url.scheme}], http_auth=auth,
        use_ssl=url.scheme == "https", verify_certs=bool(extra.get("verify_certs", url.scheme == "https")),
        ssl_show_warn=False, timeout=30, maxsize=OPENSEARCH_CONNECTIONS,
    )
