"""Clients for the external systems, always resolved through Airflow connections.

Locally the connections come from ``AIRFLOW_CONN_*`` variables pointing at moto and the
local OpenSearch node; on AWS from the deployment's secrets backend. Nothing here runs at
import time, so DAG files may import the library freely.
"""

from __future__ import annotations

from typing import Any

from catalog_search.settings import AWS_CONN_ID, OPENSEARCH_CONN_ID


def aws_client(service: str, conn_id: str = AWS_CONN_ID) -> Any:
    """A boto3 client for ``service`` (s3, dynamodb, sagemaker) from the AWS connection."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=conn_id, client_type=service).get_conn()


def opensearch_client(conn_id: str = OPENSEARCH_CONN_ID) -> Any:
    from airflow.providers.opensearch.hooks.opensearch import OpenSearchHook

    return OpenSearchHook(open_search_conn_id=conn_id, log_query=False).client
