"""The SageMaker Model Registry: each promoted model as a version of its catalog's model package
group (``Settings.model_package_group``), with its metrics (``metrics.json``) and lineage.

A passed gate registers the version, approved at once (``model_approval=auto``) or pending
manual approval (``manual``): promotion to ``champion.json`` waits for its status. Registration is
idempotent (a version's description is its model version, looked up before creating), so a
retried gate task registers nothing twice. Locally the same calls go to moto.
"""

from __future__ import annotations

from typing import Any

from catalog_search.errors import PermanentError
from catalog_search.sagemaker import job_requests
from catalog_search.sagemaker.jobs import described
from catalog_search.settings import Settings

APPROVED, PENDING, REJECTED = "Approved", "PendingManualApproval", "Rejected"
INITIAL_STATUS = {"auto": APPROVED, "manual": PENDING}  # by Settings.model_approval


class VersionRejected(PermanentError):
    """A person rejected the model version in the Model Registry."""
LINEAGE_KEYS = ("model_version", "snapshot_id", "training_run", "training_uri", "evaluation_set")


def register_version(sagemaker: Any, settings: Settings, region: str, lineage: dict, metrics: dict, metrics_uri: str) -> str:
    """The ARN of the model version registered for ``lineage["model_version"]`` (created once)."""
    group = settings.model_package_group
    model_version = lineage["model_version"]
    if described(lambda name: sagemaker.describe_model_package_group(ModelPackageGroupName=name), group) is None:
        sagemaker.create_model_package_group(**group_request(settings))
    for summary in _versions(sagemaker, group):
        if summary.get("ModelPackageDescription") == model_version:
            return summary["ModelPackageArn"]
    return sagemaker.create_model_package(**version_request(settings, region, lineage, metrics, metrics_uri))["ModelPackageArn"]


def group_request(settings: Settings) -> dict:
    """CreateModelPackageGroup of the catalog's models."""
    return {"ModelPackageGroupName": settings.model_package_group,
            "ModelPackageGroupDescription": "Object2Vec product-title embeddings"}


def version_request(settings: Settings, region: str, lineage: dict, metrics: dict, metrics_uri: str) -> dict:
    """CreateModelPackage of one model version: its container, metrics and lineage (metadata
    values are at most 256 characters)."""
    container = job_requests.model_config(settings, region, lineage["model_version"], lineage["model_data_url"])["PrimaryContainer"]
    return {
        "ModelPackageGroupName": settings.model_package_group,
        "ModelPackageDescription": lineage["model_version"],
        "InferenceSpecification": {"Containers": [container],
                                   "SupportedContentTypes": [job_requests.JSONLINES, "application/json"],
                                   "SupportedResponseMIMETypes": [job_requests.JSONLINES, "application/json"]},
        "ModelApprovalStatus": INITIAL_STATUS[settings.model_approval],
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": metrics_uri}}},
        "CustomerMetadataProperties": {**{k: str(lineage[k])[:256] for k in LINEAGE_KEYS if lineage.get(k)},
                                       **{name: f"{value:.6g}" for name, value in metrics.items()}},
    }


def approved(sagemaker: Any, package_arn: str) -> bool:
    """True once the version is approved, False while it waits; a rejection raises with its note."""
    version = sagemaker.describe_model_package(ModelPackageName=package_arn)
    status = version["ModelApprovalStatus"]
    if status == REJECTED:
        raise VersionRejected(f"model version {version.get('ModelPackageDescription', package_arn)} was rejected in the "
                              f"Model Registry ({version.get('ApprovalDescription') or 'no note given'}); it will not be "
                              f"promoted. Train again, or approve it in the registry and clear this task.")
    return status == APPROVED


def _versions(sagemaker: Any, group: str) -> list[dict]:
    pages = sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group)
    return [summary for page in pages for summary in page["ModelPackageSummaryList"]]
