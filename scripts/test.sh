#!/usr/bin/env bash
# The test suite: lint (ruff) and types (mypy), then unit tests, DAG integrity, and the end-to-end
# chain on the local stack (which this script starts if it is not running). Extra arguments go to pytest.
# Tests write only under pytest's temporary folders: a run that leaves new or modified files
# in the working tree fails, naming them.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$CS_ROOT"
bash scripts/setup.sh
bash scripts/browser.sh
bash scripts/services.sh up >/dev/null
bash scripts/airflow.sh init

before=$(git status --porcelain --untracked-files=all)
# Lint and types first (pyproject.toml): seconds, and a red one says so before the long run.
ruff check --no-cache .
mypy --cache-dir=/dev/null
set +e
python -m pytest -p no:cacheprovider "$@"
status=$?
set -e
after=$(git status --porcelain --untracked-files=all)
if [ "$before" != "$after" ]; then
  echo "the tests left files in the working tree (they must write under pytest's tmp_path):" >&2
  diff <(echo "$before") <(echo "$after") | grep '^>' >&2 || true
  exit 1
fi
exit $status
