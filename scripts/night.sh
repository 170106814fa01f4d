#!/usr/bin/env bash
# One night on the running demo stack (after `make demo`): a catalog refresh derived from the
# newest snapshot by the refresh simulator, then its enrichment and publish, each through Airflow
# (`airflow dags test`, as the demo runs the chain), with the default settings. Prints what the
# night did: products embedded, the golden-query gate's figures, the alias move, the report pages.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$CS_ROOT"
LOGS="$CS_LOCAL/logs"

said() {  # log, pattern: the messages of the task log lines that match, without the log's decoration
  grep -h "$2" "$LOGS/dag-$1.log" | sed -E 's/^[^]]*\] //; s/ +\[catalog_search[^]]*\].*$//' || true
}

bash scripts/airflow.sh run catalog_refresh '{"derive_from": "previous"}'
said catalog_refresh "^.*snapshot .* products, .* rejected" | sed 's/^/  /'
bash scripts/airflow.sh run catalog_enrichment
said catalog_enrichment "embedding .* of .* products\|nothing to do\|nothing to embed" | sed 's/^/  /'
bash scripts/airflow.sh run search_index_publish
said search_index_publish "golden queries (\|nothing to publish\|alias .* → " | sed 's/^/  /'
