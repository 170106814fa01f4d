"""Latency of GET /search on loopback: N concurrent clients for a fixed time, in the default
mode and in keyword mode (the baseline, same run), then in the default mode while
`search_index_publish` builds a new index and swaps the alias.

    python benchmarks/search_latency.py [--url http://127.0.0.1:8000] [--clients 16] [--seconds 60] [--no-swap]

Needs the search page running (`make demo` leaves it up; else `make serve`) on the full fashion
index. Every client cycles through the dev queries (page 1, 10 results, facets included), one
request at a time. Counted: requests, errors (any status but 200), empty result pages, and
p50/p99 latency. Goals, as ratios to keyword mode in the same run (server, node and load generator
share the machine's cores, so absolute figures say more about the machine than the code): the
default mode's throughput ≥ 0.7× keyword mode's and its p99 ≤ 1.5× keyword mode's; no error and
no empty page, during the swap too.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ROOT / "data" / "fashion" / "queries_dev.tsv"
THROUGHPUT_GOAL = 0.7  # default mode's req/s ÷ keyword mode's, at least
P99_GOAL = 1.5  # default mode's p99 ÷ keyword mode's, at most


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    empty: int = 0

    def merge(self, other: Tally) -> None:
        self.latencies_ms += other.latencies_ms
        self.errors += other.errors
        self.empty += other.empty

    @property
    def p99(self) -> float:
        lat = sorted(self.latencies_ms)
        return lat[min(len(lat) - 1, int(0.99 * len(lat)))]

    def line(self, label: str, seconds: float) -> str:
        lat = self.latencies_ms
        return (f"{label:<34} {len(lat):>7} {len(lat) / seconds:>8.1f} {statistics.median(lat):>8.1f} {self.p99:>8.1f} "
                f"{self.errors:>7} {self.empty:>6}")


def load(url: str, mode: str | None, clients: int, stop: threading.Event) -> Tally:
    """``clients`` threads, each one request at a time, until ``stop`` is set."""
    queries = [row["query"] for row in csv.DictReader(QUERIES.open(), delimiter="\t")]
    tallies = [Tally() for _ in range(clients)]

    def client(n: int) -> None:
        tally = tallies[n]
        with httpx.Client(base_url=url, timeout=30) as http:
            i = n
            while not stop.is_set():
                params = {"q": queries[i % len(queries)], "size": 10, **({"mode": mode} if mode else {})}
                started = time.perf_counter()
                try:
                    response = http.get("/search", params=params)
                    ok = response.status_code == 200
                    empty = ok and not response.json()["results"]
                except httpx.HTTPError:
                    ok, empty = False, False
                tally.latencies_ms.append((time.perf_counter() - started) * 1000)
                tally.errors += not ok
                tally.empty += empty
                i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    return total


def timed(url: str, mode: str | None, clients: int, seconds: float) -> tuple[Tally, float]:
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    started = time.perf_counter()
    timer.start()
    tally = load(url, mode, clients, stop)
    return tally, time.perf_counter() - started


def during_publish(url: str, clients: int, min_seconds: float) -> tuple[Tally, float, str]:
    """Load while search_index_publish runs (at least ``min_seconds``); returns its outcome too."""
    stop = threading.Event()
    result: dict = {}

    def publish() -> None:
        started = time.perf_counter()
        proc = subprocess.run(["bash", "scripts/airflow.sh", "run", "search_index_publish"], cwd=ROOT,
                              capture_output=True, text=True)
        result["outcome"] = (proc.stdout or proc.stderr).strip().splitlines()[0] if (proc.stdout or proc.stderr) else "?"
        remaining = min_seconds - (time.perf_counter() - started)
        if remaining > 0:
            time.sleep(remaining)
        stop.set()

    runner = threading.Thread(target=publish)
    started = time.perf_counter()
    runner.start()
    tally = load(url, None, clients, stop)
    runner.join()
    return tally, time.perf_counter() - started, result.get("outcome", "?")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--no-swap", action="store_true", help="skip the run during search_index_publish")
    args = parser.parse_args()
    health = httpx.get(args.url + "/health", timeout=10)
    health.raise_for_status()
    print(f"index {health.json()['index']} ({health.json()['documents']} documents), {args.clients} clients, "
          f"{args.seconds:.0f} s per run")
    load(args.url, None, 2, _after(3.0))  # warm-up: encoder loaded, caches filled
    print(f"{'run':<34} {'requests':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'empty':>6}")
    default, default_seconds = timed(args.url, None, args.clients, args.seconds)
    print(default.line("default mode", default_seconds), flush=True)
    keyword, keyword_seconds = timed(args.url, "keyword", args.clients, args.seconds)
    print(keyword.line("keyword mode (baseline)", keyword_seconds), flush=True)
    throughput = (len(default.latencies_ms) / default_seconds) / (len(keyword.latencies_ms) / keyword_seconds)
    p99 = default.p99 / keyword.p99
    print(f"default / keyword: throughput {throughput:.2f}× (goal ≥ {THROUGHPUT_GOAL}×), "
          f"p99 {p99:.2f}× (goal ≤ {P99_GOAL}×)")
    verdicts = [throughput >= THROUGHPUT_GOAL, p99 <= P99_GOAL, default.errors == 0, keyword.errors == 0]
    if not args.no_swap:
        swap, seconds, outcome = during_publish(args.url, args.clients, args.seconds)
        print(swap.line("default mode, during publish + swap", seconds))
        print(f"search_index_publish: {outcome}")
        verdicts.append(swap.errors == 0 and swap.empty == 0)
    print(f"goals (throughput ≥ {THROUGHPUT_GOAL}× and p99 ≤ {P99_GOAL}× keyword mode's, no errors, "
          "no empty page during the swap): "
          + ("met" if all(verdicts) else "NOT met"))
    return 0


def _after(seconds: float) -> threading.Event:
    event = threading.Event()
    threading.Timer(seconds, event.set).start()
    return event


if __name__ == "__main__":
    raise SystemExit(main())
