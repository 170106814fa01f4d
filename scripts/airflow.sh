#!/usr/bin/env bash
# Airflow on the local stack (AIRFLOW_HOME=.local/airflow, SQLite, connections from env.sh).
#   airflow.sh init   create or migrate the metadata DB, import the pools (include/airflow/pools.json)
#   airflow.sh start  `airflow standalone` in the background: UI on 127.0.0.1:$AIRFLOW_PORT
#   airflow.sh stop   stop it and every process it started (its workers ignore SIGTERM)
#   airflow.sh run DAG_ID [CONF_JSON]  one DAG run in-process (`airflow dags test`)
set -euo pipefail
source "$(dirname "$0")/env.sh"
RUN="$CS_LOCAL/run"; LOGS="$CS_LOCAL/logs"
mkdir -p "$RUN" "$LOGS" "$AIRFLOW_HOME"

init() {  # the schema, then the pools the DAGs' tasks run in
  airflow db migrate >"$LOGS/airflow-db.log" 2>&1 || { tail -20 "$LOGS/airflow-db.log" >&2; exit 1; }
  airflow pools import "$CS_ROOT/include/airflow/pools.json" >>"$LOGS/airflow-db.log" 2>&1 \
    || { tail -20 "$LOGS/airflow-db.log" >&2; exit 1; }
}

descendants() {  # pid: every process below it, deepest first
  local child
  for child in $(pgrep -P "$1" || true); do descendants "$child"; echo "$child"; done
}

alive_of() { local p; for p in $1; do if kill -0 "$p" 2>/dev/null; then echo "$p"; fi; done; }

stop_pids() {  # "pid pid …": TERM, up to 15 s of grace, then KILL
  [ -n "${1// /}" ] || return 0
  kill -TERM $1 2>/dev/null || true
  for _ in $(seq 15); do
    [ -z "$(alive_of "$1")" ] && return 0
    sleep 1
  done
  kill -KILL $(alive_of "$1") 2>/dev/null || true
}

case "${1:-}" in
  init) init ;;
  start)
    if [ -f "$RUN/airflow.pid" ] && kill -0 "$(cat "$RUN/airflow.pid")" 2>/dev/null; then
      echo "airflow already running (pid $(cat "$RUN/airflow.pid"))"; exit 0
    fi
    init
    # setsid: its own process group, so that stop can find every child it forks.
    setsid airflow standalone >"$LOGS/airflow.log" 2>&1 &
    echo $! >"$RUN/airflow.pid"
    answered=""
    for _ in $(seq 180); do
      if curl -fsS -o /dev/null "http://127.0.0.1:$AIRFLOW_PORT/api/v2/version" 2>/dev/null; then answered=1; break; fi
      kill -0 "$(cat "$RUN/airflow.pid")" 2>/dev/null || break
      sleep 1
    done
    if [ -z "$answered" ]; then
      echo "airflow did not answer on http://127.0.0.1:$AIRFLOW_PORT within 180 s; last log lines:" >&2
      tail -20 "$LOGS/airflow.log" >&2
      "$0" stop >/dev/null 2>&1 || true
      exit 1
    fi
    echo "Airflow UI: http://127.0.0.1:$AIRFLOW_PORT (pid $(cat "$RUN/airflow.pid"); log $LOGS/airflow.log)"
    echo "login: admin, password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
    ;;
  stop)
    [ -f "$RUN/airflow.pid" ] || { echo "airflow not running"; exit 0; }
    pid=$(cat "$RUN/airflow.pid")
    # Children first (the scheduler's workers ignore SIGTERM, hence the KILL after a grace
    # period), so that standalone is still there to reap them; then standalone itself.
    stop_pids "$(descendants "$pid")"
    stop_pids "$pid"
    pkill -KILL -g "$pid" 2>/dev/null || true
    rm -f "$RUN/airflow.pid"
    echo "stopped airflow"
    ;;
  run)
    dag_id=${2:?usage: airflow.sh run DAG_ID [CONF_JSON]}
    log="$LOGS/dag-$dag_id.log"
    start=$(date +%s)
    if airflow dags test "$dag_id" --conf "${3:-{\}}" >"$log" 2>&1; then
      echo "$dag_id: success in $(( $(date +%s) - start )) s (log $log)"
      grep -o "open in a browser: file://[^)]*" "$log" | tail -1 | sed 's/^open in a browser: /  run report: /' || true
    else
      echo "$dag_id: FAILED (log $log); last lines:" >&2
      grep -E "ERROR|Error|Failed|failed" "$log" | tail -15 >&2
      exit 1
    fi
    ;;
  *) echo "usage: $0 init|start|stop|run DAG_ID [CONF_JSON]" >&2; exit 2 ;;
esac
