# Sourced by every script of the local stack: one place for paths, ports and connections.
# Values already set in the environment win, so CI or a developer can move ports.
CS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CS_ROOT
export CS_LOCAL="${CS_LOCAL:-$CS_ROOT/.local}"          # ignored: caches, service data, logs
export CS_VENV="${CS_VENV:-$CS_ROOT/.venv}"
export CS_PYTHON="${CS_PYTHON:-python3.11}"

export OPENSEARCH_VERSION="${OPENSEARCH_VERSION:-2.19.1}"
export OPENSEARCH_KNN_VERSION="${OPENSEARCH_KNN_VERSION:-${OPENSEARCH_VERSION}.0}"
export OPENSEARCH_PORT="${OPENSEARCH_PORT:-9200}"
export OPENSEARCH_HEAP="${OPENSEARCH_HEAP:-1g}"
export OPENSEARCH_USER="${OPENSEARCH_USER:-csearch}"      # OpenSearch refuses to run as root
export MOTO_PORT="${MOTO_PORT:-5000}"
export AIRFLOW_PORT="${AIRFLOW_PORT:-8080}"
export API_PORT="${API_PORT:-8000}"
export CS_CHROMIUM="${CS_CHROMIUM:-/usr/bin/chromium}"            # the browser test's (scripts/browser.sh)
export CS_CHROMEDRIVER="${CS_CHROMEDRIVER:-/usr/bin/chromedriver}"

export PATH="$CS_VENV/bin:$PATH"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$CS_LOCAL/airflow}"
# SQLite takes one writer at a time, and the scheduler, API server, triggerer and tasks share the file. On two busy
# cores a writer can hold it past sqlite3's 5 s default wait, and the API then answers 500 ("database is locked").
# The database follows AIRFLOW_HOME (an Airflow of its own, as a test starts one, sources this again); a
# connection the caller set that is not this file's own wins.
case "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" in
  "" | "sqlite:///"*"/airflow.db?timeout=60")
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db?timeout=60" ;;
esac
export AIRFLOW__CORE__DAGS_FOLDER="$CS_ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$CS_ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-2}"
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="${AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG:-2}"
export AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG="${AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG:-1}"
export AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES=1
export AIRFLOW__API__PORT="$AIRFLOW_PORT"
# Task processes report to the API server's execution API, which moves with the port.
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$AIRFLOW_PORT/execution/"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS:-True}"

# Connections come only from the environment; locally they point at moto and the local node.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
# (JSON braces inside ${VAR:-…} would end the expansion early, hence the explicit tests.)
if [ -z "${AIRFLOW_CONN_AWS_DEFAULT:-}" ]; then
  export AIRFLOW_CONN_AWS_DEFAULT="{\"conn_type\": \"aws\", \"login\": \"testing\", \"password\": \"testing\", \"extra\": {\"region_name\": \"$AWS_DEFAULT_REGION\", \"endpoint_url\": \"http://127.0.0.1:$MOTO_PORT\"}}"
fi
if [ -z "${AIRFLOW_CONN_OPENSEARCH_DEFAULT:-}" ]; then
  export AIRFLOW_CONN_OPENSEARCH_DEFAULT="{\"conn_type\": \"opensearch\", \"host\": \"127.0.0.1\", \"port\": $OPENSEARCH_PORT, \"schema\": \"http\", \"extra\": {\"use_ssl\": false, \"verify_certs\": false}}"
fi

# Pipeline settings (read by catalog_search.settings); the local runner stands in for SageMaker.
export CATALOG_SEARCH_RUNNER="${CATALOG_SEARCH_RUNNER:-local}"
export CATALOG_SEARCH_BUCKET="${CATALOG_SEARCH_BUCKET:-catalog-search-local}"
export CATALOG_SEARCH_WORK_DIR="${CATALOG_SEARCH_WORK_DIR:-$CS_LOCAL/work}"
export CATALOG_SEARCH_SOURCE_DIR="${CATALOG_SEARCH_SOURCE_DIR:-$CS_ROOT/data/fashion}"
export CATALOG_SEARCH_INCLUDE_DIR="${CATALOG_SEARCH_INCLUDE_DIR:-$CS_ROOT/include}"
export CATALOG_SEARCH_GOLDEN_QUERIES="${CATALOG_SEARCH_GOLDEN_QUERIES:-$CS_ROOT/data/fashion/queries_dev.tsv}"
export CATALOG_SEARCH_GOLDEN_QRELS="${CATALOG_SEARCH_GOLDEN_QRELS:-$CS_ROOT/data/fashion/qrels_dev.tsv}"
export CATALOG_SEARCH_DEV_QUERIES="${CATALOG_SEARCH_DEV_QUERIES:-$CS_ROOT/data/fashion/queries_dev.tsv,$CS_ROOT/data/fashion/queries_dev2.tsv}"
export CATALOG_SEARCH_INDEX_REPLICAS="${CATALOG_SEARCH_INDEX_REPLICAS:-0}"   # one local node: nowhere for a replica
