"""Batch embedding throughput: the champion's Object2Vec encoder (numpy, as batch transform and
query encoding run it) against all-MiniLM-L6-v2 (the packaged model, torch) on the same fashion
titles, same machine, same run.

    python benchmarks/embedding_throughput.py [--minilm-titles 2000]

Needs a champion model (run `make demo` first). The encoder embeds every title; MiniLM a sample
(it takes minutes for all of them); both are reported in titles per second, best of 3 for the
encoder after a warm-up, one timed pass for MiniLM after a warm-up batch. Goal: ≥ 25×.
"""

from __future__ import annotations

import argparse
import sys
import time

from catalog_search.clients import Clients
from catalog_search.settings import Settings
from catalog_search.store import pointers
from catalog_search.training import word_vectors
from catalog_search.training.catalog import load_source, split_rejects
from catalog_search.training.encoder import ModelEncoders

GOAL = 25.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minilm-titles", type=int, default=2000)
    args = parser.parse_args()
    settings = Settings.from_env()
    clients = Clients.from_environment(settings)
    champion = pointers.champion(clients.store)
    encoder = ModelEncoders(clients.store, settings.work_dir / "query-encoder")(champion["model_version"])
    titles = split_rejects(load_source(settings.source_dir))[0]["title"].tolist()

    encoder.embed_texts(titles[:1000])  # warm-up
    times = []
    for _ in range(3):
        started = time.perf_counter()
        encoder.embed_texts(titles)
        times.append(time.perf_counter() - started)
    ours = len(titles) / min(times)

    sample = titles[: args.minilm_titles]
    word_vectors.embed_words(sample[:64])  # warm-up (loads the model)
    started = time.perf_counter()
    word_vectors.embed_words(sample)
    minilm = len(sample) / (time.perf_counter() - started)

    network = getattr(encoder, "network", "pooled_embedding")
    print(f"{'encoder':<40} {'titles':>7} {'titles/s':>10}")
    print(f"{'Object2Vec ' + network + ' (numpy)':<40} {len(titles):>7} {ours:>10,.0f}")
    print(f"{'all-MiniLM-L6-v2 (torch, 2 threads)':<40} {len(sample):>7} {minilm:>10,.0f}")
    ratio = ours / minilm
    print(f"ratio: {ratio:.0f}× (goal ≥ {GOAL:.0f}×: {'met' if ratio >= GOAL else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
