#!/usr/bin/env bash
# The test suite: unit tests, DAG integrity, and the end-to-end chain on the local stack
# (which this script starts if it is not running). Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$CS_ROOT"
bash scripts/setup.sh
bash scripts/services.sh up >/dev/null
bash scripts/airflow.sh init
exec python -m pytest "$@"
