#!/usr/bin/env bash
# The SageMaker Processing jobs' image (docker/processing.Dockerfile), for the sagemaker runner.
#   processing_image.sh build   docker build, tagged catalog-search-processing:latest
#   processing_image.sh push    build, then push to ECR repository catalog-search-processing (the
#                               template's) in the account and region of boto3's credentials, tagged with a
#                               digest of the locks; prints the URI to set as
#                               CATALOG_SEARCH_PROCESSING_IMAGE
# Needs a Docker engine and AWS credentials for the deployment's account (boto3's chain: AWS_PROFILE, and
# AWS_DEFAULT_REGION set to the deployment's region); neither is on the development machine.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$CS_ROOT"
REPOSITORY="${CS_PROCESSING_REPOSITORY:-catalog-search-processing}"
docker build -f docker/processing.Dockerfile -t "$REPOSITORY:latest" .
[ "${1:-build}" = "push" ] || exit 0
tag=$(cat docker/processing.Dockerfile requirements.txt requirements-trainer.txt | sha256sum | cut -c1-12)
read -r registry user password < <(python - <<'PY'
import base64, boto3
token = boto3.client("ecr").get_authorization_token()["authorizationData"][0]
user, password = base64.b64decode(token["authorizationToken"]).decode().split(":", 1)
print(token["proxyEndpoint"].removeprefix("https://"), user, password)
PY
)
printf %s "$password" | docker login --username "$user" --password-stdin "$registry" >/dev/null
docker tag "$REPOSITORY:latest" "$registry/$REPOSITORY:$tag"
docker push "$registry/$REPOSITORY:$tag" >/dev/null
echo "CATALOG_SEARCH_PROCESSING_IMAGE=$registry/$REPOSITORY:$tag"
