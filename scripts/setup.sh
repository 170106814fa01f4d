#!/usr/bin/env bash
# Creates .venv/ with the pinned locks and the project installed editable. Safe to re-run:
# skipped when the locks and pyproject.toml are what the last successful install used.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$CS_ROOT"

stamp_file="$CS_VENV/.catalog-search-setup"
stamp=$(cat requirements.txt requirements-dev.txt requirements-trainer.txt pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -x "$CS_VENV/bin/python" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then
  echo "setup: $CS_VENV is up to date with the locks"
  exit 0
fi

# 3.11.4 or a later 3.11: the model tarballs are unpacked with tarfile's extraction filters (3.11.4).
python_for_venv="$CS_PYTHON"
[ -x "$CS_VENV/bin/python" ] && python_for_venv="$CS_VENV/bin/python"
if ! "$python_for_venv" -c 'import sys; sys.exit(not (3, 11, 4) <= sys.version_info[:3] < (3, 12))' 2>/dev/null; then
  version="not found"
  command -v "$python_for_venv" >/dev/null && version=$("$python_for_venv" -V 2>&1)
  echo "setup: $python_for_venv is $version; the project needs Python 3.11.4 or a later 3.11: set CS_PYTHON to one (and remove $CS_VENV if it was made with another)" >&2
  exit 2
fi
if [ ! -x "$CS_VENV/bin/python" ]; then
  "$CS_PYTHON" -m venv "$CS_VENV"
fi
"$CS_VENV/bin/python" -m pip install --quiet uv==0.13.9

# A CPU-only torch wheel, where the machine keeps one in PIP_FIND_LINKS, saves a multi-GB
# CUDA download; otherwise PyPI's default build is taken.
find_links=()
for d in ${PIP_FIND_LINKS:-}; do
  [ -d "$d" ] && find_links+=(--find-links "$d")
done
# Bytecode compiled once here: uv does not by default, and where PYTHONDONTWRITEBYTECODE is set
# (as on the CI machines) every process would compile its imports again, e.g. 18 s instead of
# 8 s to import Great Expectations in each validating task.
"$CS_VENV/bin/uv" pip install --quiet --compile-bytecode --python "$CS_VENV/bin/python" "${find_links[@]}" \
  -r requirements.txt -r requirements-dev.txt -r requirements-trainer.txt
"$CS_VENV/bin/uv" pip install --quiet --python "$CS_VENV/bin/python" --no-deps -e .

"$CS_VENV/bin/python" - <<'PY'
import torch
build = "CPU-only" if torch.version.cuda is None else f"CUDA {torch.version.cuda} (runs on CPU here)"
print(f"setup: torch {torch.__version__}, {build} build")
PY
echo "$stamp" >"$stamp_file"
