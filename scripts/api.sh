#!/usr/bin/env bash
# The search page and HTTP API (`catalog-search serve`) on the local stack.
#   api.sh start   in the background on 127.0.0.1:$API_PORT; waits until it answers
#   api.sh stop    stops it by PID
set -euo pipefail
source "$(dirname "$0")/env.sh"
RUN="$CS_LOCAL/run"; LOGS="$CS_LOCAL/logs"
mkdir -p "$RUN" "$LOGS"
PID="$RUN/api.pid"
URL="http://127.0.0.1:$API_PORT"

case "${1:-}" in
  start)
    if [ -f "$PID" ] && kill -0 "$(cat "$PID")" 2>/dev/null; then
      echo "search page: $URL/ (already running, pid $(cat "$PID"))"; exit 0
    fi
    # setsid: its own session, so that a Ctrl-C in the terminal that ran `make demo` leaves it up.
    setsid catalog-search serve --host 127.0.0.1 --port "$API_PORT" >"$LOGS/api.log" 2>&1 &
    echo $! >"$PID"
    for _ in $(seq 60); do
      if curl -fsS -o /dev/null "$URL/openapi.json" 2>/dev/null; then
        echo "search page: $URL/  (API docs: $URL/docs; pid $(cat "$PID"), log $LOGS/api.log; stop: make down)"
        exit 0
      fi
      kill -0 "$(cat "$PID")" 2>/dev/null || break
      sleep 1
    done
    echo "the search API did not answer on $URL within 60 s; last log lines:" >&2
    tail -20 "$LOGS/api.log" >&2
    "$0" stop >/dev/null 2>&1 || true
    exit 1
    ;;
  stop)
    [ -f "$PID" ] || { echo "search API not running"; exit 0; }
    pid=$(cat "$PID")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 10); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done  # uvicorn drains open requests
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$PID"
    echo "stopped the search API"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
