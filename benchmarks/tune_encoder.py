"""Encoder variants trained and scored side by side on the dev query sets, without a night each.

    python benchmarks/tune_encoder.py --variant NAME:SETTING=VALUE,SETTING=VALUE ... [--json OUT]

Each variant is the pipeline's settings with a few fields changed (``embedding_dim=384``,
``freeze_pretrained_embedding=false``); ``baseline`` (no change) is always scored first. For
each, the training inputs are prepared from the live snapshot's catalog by the pipeline's own
function (``training_data.prepare``, with the snapshot's MiniLM word vectors) and the local
Object2Vec trainer trains on them; the model's encoder embeds every title and every query, and
exact cosine ranks the catalog (the index's HNSW graph finds nearly the same neighbours). The
systems scored per variant: ``knn`` (that list alone) and ``normalized`` (it fused with the live
index's keyword list, as the default mode fuses them), next to MiniLM alone and the peer
(``peer_search.py``'s). A variant replaces the baseline only where a paired bootstrap over the
queries (155 on dev + dev2) puts its gain above zero at 95 %: docs/search.md records each
measured change with its number; the held-out queries judge the choice.

Needs the demo's live index (`make demo`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import get_type_hints

import numpy as np

from catalog_search.cli import _clients, _query_vectors, live_judgments
from catalog_search.sagemaker.job_requests import object2vec_hyperparameters
from catalog_search.search import evaluation
from catalog_search.search.query import SearchRequest, fuse, search
from catalog_search.search.terms import QueryVectors
from catalog_search.settings import Settings, _convert, env_name
from catalog_search.store.index import index_meta, live_index
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.training import object2vec_trainer, training_data
from catalog_search.training.encoder import Encoder
from peer_search import WINDOW, Peer, minilm_catalog

CONFIDENCE = 0.95


def variant(spec: str, base: Settings) -> tuple[str, Settings]:
    """``NAME:field=value,field=value`` → (NAME, the settings with those fields changed)."""
    name, _, changes = spec.partition(":")
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    types = get_type_hints(Settings)
    values = {}
    for item in filter(None, changes.split(",")):
        key, _, value = item.partition("=")
        if key not in fields:
            raise SystemExit(f"--variant {spec!r}: {key!r} is not a setting")
        values[key] = _convert(env_name(fields[key]), value, types[key], fields[key].metadata["choices"])
    return name, dataclasses.replace(base, **values)


def train_encoder(settings: Settings, catalog, word_vectors: Path, work: Path) -> tuple[Encoder, dict]:
    out = work / "data"
    spec = training_data.TrainingDataSpec.from_settings(settings)
    pretrained = word_vectors if settings.pretrained_embeddings else None
    report = training_data.prepare(catalog, spec, out, pretrained)
    channels = {name: out / name for name in ("train", "validation", "test", "auxiliary")}
    dim = report.get("pretrained", {}).get("dimension")
    params = object2vec_hyperparameters(settings, report["vocab_size"], dim)
    metrics = object2vec_trainer.train(channels, params, work / "model", log=lambda _: None,
                                       pooled_output=settings.local_pooled_output)
    return Encoder.from_dir(work / "model"), metrics


class EncoderBench:
    """The live snapshot's catalog, the dev sets' queries and their keyword lists, held once; every
    encoder scored against them adds its ``knn`` and ``normalized`` rankings."""

    def __init__(self, clients, query_sets: list[str]):
        settings = self.settings = clients.settings
        client, alias = clients.opensearch, settings.index_alias
        live = live_index(client, alias)
        if live is None:
            raise SystemExit(f"no index behind {alias!r}: run `make demo` first")
        self.clients, self.snapshot = clients, index_meta(client, live)["snapshot_id"]
        self.catalog = clients.store.get_parquet(ObjectKeys.snapshot_products(self.snapshot))
        self.product_ids = self.catalog["product_id"].astype(str).to_numpy()
        self.judged = {Path(q).stem.removeprefix("queries_"): live_judgments(clients, q, None) for q in query_sets}
        self.texts = sorted({text for j in self.judged.values() for text in j.queries.values()})
        query_vectors = _query_vectors(clients)
        self.keyword = {t: search(client, alias, query_vectors, SearchRequest(t, "keyword", size=WINDOW))["hits"]["hits"]
                        for t in self.texts}
        minilm_ids, minilm = minilm_catalog(settings, clients.store, self.snapshot)
        peer = Peer(minilm_ids, minilm, self.keyword.__getitem__, settings.rrf_k)
        self.rankings = {s: {t: peer.ranked(t, s) for t in self.texts} for s in ("minilm", "peer normalized")}

    def word_vectors(self, folder: Path) -> Path:
        """The snapshot's MiniLM word vectors (the ``build_word_vectors`` job's GloVe file)."""
        self.clients.store.download_prefix(ObjectKeys.minilm_vectors(self.snapshot), folder)
        return next(folder.rglob("*.txt"))

    def score(self, name: str, encoder: Encoder, item_texts: list[str] | None = None) -> None:
        settings = self.settings
        items = _unit(encoder.embed_texts(item_texts or self.catalog["title"].tolist()))
        # queries as the search API encodes them: spelled against the model's vocabulary first
        encode_query = QueryVectors(lambda _version, model=encoder: model)
        knn: dict[str, list[dict]] = {}
        for t in self.texts:
            vector, _ = encode_query(name, t)
            if vector is None:
                knn[t] = []
                continue
            scores = items @ _unit(np.array([vector], dtype=np.float32))[0]
            top = np.argsort(-scores, kind="stable")[:WINDOW]
            knn[t] = [{"_id": self.product_ids[i], "_score": float(scores[i])} for i in top]
        self.rankings[f"{name} knn"] = {t: [h["_id"] for h in hits] for t, hits in knn.items()}
        self.rankings[f"{name} normalized"] = {
            t: [h["_id"] for h in fuse(self.keyword[t], knn[t], "normalized", settings.keyword_weight, settings.knn_weight,
                                         settings.rrf_k)]
            for t in self.texts}

    def report(self, baseline: str = "baseline") -> dict:
        """Prints every system's nDCG@10 per query set, each variant paired against the baseline."""
        systems = list(self.rankings)
        reports = {n: evaluation.evaluate(j, systems, lambda text, system: self.rankings[system][text])
                   for n, j in self.judged.items()}
        if len(reports) > 1:
            reports["all"] = evaluation.combined(reports)
        everything = reports["all" if "all" in reports else next(iter(reports))]["modes"]
        per_query = {s: {q: v["ndcg@10"] for q, v in everything[s]["per_query"].items()} for s in systems}
        print(f"\nnDCG@10 (± 1.96 standard errors), exact cosine over {len(self.catalog):,} products of {self.snapshot}")
        print(f"{'system':<28}" + "".join(f"{n + ' (' + str(r['queries']) + ')':>20}" for n, r in reports.items())
              + "   paired against the baseline (one-sided 95 % bound)")
        for system in systems:
            line = f"{system:<28}" + "".join(
                f"{r['modes'][system]['ndcg@10']:>13.3f} ± {r['modes'][system]['ndcg@10 ±']:.3f}" for r in reports.values())
            if not system.startswith((baseline, "minilm", "peer")):
                paired = evaluation.paired_comparison(per_query[f"{baseline} {system.rpartition(' ')[2]}"],
                                                      per_query[system], CONFIDENCE)
                verdict = "wins" if paired.upper_bound < 0 else "no gain beyond the spread"
                line += f"   {-paired.difference:+.3f} ({-paired.upper_bound:+.3f}): {verdict}"
            print(line)
        return {"snapshot": self.snapshot, "query_sets": reports}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", default=[], help="NAME:field=value,... (repeatable)")
    parser.add_argument("--queries", nargs="+", help="query sets (default: CATALOG_SEARCH_DEV_QUERIES)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    clients = _clients()
    bench = EncoderBench(clients, args.queries or list(clients.settings.dev_queries))
    with tempfile.TemporaryDirectory() as tmp:
        word_vectors = bench.word_vectors(Path(tmp) / "vectors")
        for spec in ["baseline:", *args.variant]:
            name, variant_settings = variant(spec, clients.settings)
            started = time.perf_counter()
            encoder, metrics = train_encoder(variant_settings, bench.catalog, word_vectors, Path(tmp) / name)
            bench.score(name, encoder)
            print(f"{name}: trained and scored in {time.perf_counter() - started:.0f} s, test:accuracy "
                  f"{metrics.get('test:accuracy', float('nan')):.3f}", flush=True)
    report = bench.report()
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


if __name__ == "__main__":
    sys.exit(main())
