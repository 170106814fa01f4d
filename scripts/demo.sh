#!/usr/bin/env bash
# The main job end to end on the local stack, from a fresh clone: install, start the
# services, run the four DAGs of the chain, print search results, then serve the search page
# (its URL is the last line).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$CS_ROOT"
bash scripts/setup.sh
bash scripts/services.sh up
bash scripts/airflow.sh init
for dag in catalog_refresh embedding_training catalog_enrichment search_index_publish; do
  bash scripts/airflow.sh run "$dag"
done
catalog-search demo
bash scripts/api.sh start
