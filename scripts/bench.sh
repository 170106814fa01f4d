#!/usr/bin/env bash
# Every benchmark that needs no more than the demo stack, one after the other, each printing the
# figures docs/benchmarks.md shows (the whole output is also kept in .local/logs/bench.log).
# Run `make demo` first: the index, model and enriched catalog benchmarks use what it published,
# and the latency benchmark the search page it serves. Takes about an hour on 2 cores, most of it
# the nights of 250,000 and a million products (catalog_scale; skip them with
# BENCH_SKIP="catalog_scale night_cost"), whose rates night_cost turns into the cost of a night on AWS.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$CS_ROOT"
mkdir -p "$CS_LOCAL/logs"
log="$CS_LOCAL/logs/bench.log"
: >"$log"
run() {
  local name=$1; shift
  case " ${BENCH_SKIP:-} " in *" $name "*) echo "== $name: skipped (BENCH_SKIP)" | tee -a "$log"; return;; esac
  echo "== $name: $*" | tee -a "$log"
  python "benchmarks/$name.py" "$@" 2>&1 | tee -a "$log"
}
run pair_sampling
run vector_column
run embedding_throughput
run index_load
run tune_search
run search_latency --seconds 20
run peer_search
run catalog_scale --products 250000 --products 1000000 --nights 1 --json "$CS_LOCAL/logs/catalog_scale.json"
run night_cost "$CS_LOCAL/logs/catalog_scale.json"
echo "bench: every figure above, also in $log"
