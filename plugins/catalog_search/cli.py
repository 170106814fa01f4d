"""``catalog-search``: search, recommend and validate from the command line.

Talks to the same services as the DAGs, through the same Airflow connections
(``AIRFLOW_CONN_*`` in the environment; ``scripts/env.sh`` sets them for the local stack).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Sequence

DEMO_QUERIES = ("men navy blue shirt", "women black handbag", "running shoes", "silver watch for women")


def _services():
    from catalog_search.pipeline import Services
    from catalog_search.settings import Settings

    return Services(Settings.from_env())


def _filters(pairs: Sequence[str]) -> dict:
    filters: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--filter takes key=value (e.g. gender=Men or category='Apparel > Topwear'), got {pair!r}")
        if key == "price":
            low, _, high = value.partition("..")
            filters[key] = [float(low) if low else None, float(high) if high else None]
        elif key == "category":
            filters[key] = value
        else:  # attributes may be given several times: any of the values matches
            filters.setdefault(key, []).append(value)
    return filters


def _print_hits(title: str, response: dict) -> None:
    hits = response["hits"]["hits"]
    print(f"\n== {title} ({response['hits']['total']['value']} matches)")
    for rank, hit in enumerate(hits, 1):
        src = hit["_source"]
        attrs = src.get("attributes", {})
        extra = ", ".join(str(attrs[k]) for k in ("gender", "colour") if k in attrs)
        print(f"{rank:>3}. {hit['_score']:7.3f}  {src['product_id']:>6}  {src['title']}  [{src['category']}; {extra}]")


def cmd_search(args: argparse.Namespace) -> int:
    from catalog_search.search import QueryEncoder, SearchRequest, search

    services = _services()
    encoder = QueryEncoder(services.store, services.settings.work_dir / "query-encoder")
    request = SearchRequest(args.text, args.mode, args.size, args.page, args.keyword_boost, args.knn_boost, filters=_filters(args.filter))
    response = search(services.opensearch, services.settings.index_alias, encoder, request)
    print(json.dumps(response["hits"], indent=1)) if args.json else _print_hits(f"{args.mode}: {args.text!r}", response)
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from catalog_search.search import recommend

    services = _services()
    response = recommend(services.opensearch, services.settings.index_alias, args.product_id, args.size)
    print(json.dumps(response["hits"], indent=1)) if args.json else _print_hits(f"similar to {args.product_id}", response)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Keyword, k-NN and hybrid results for a few queries, and one recommendation."""
    from catalog_search.search import QueryEncoder, SearchRequest, recommend, search

    services = _services()
    encoder = QueryEncoder(services.store, services.settings.work_dir / "query-encoder")
    alias = services.settings.index_alias
    first = None
    for text in args.queries or DEMO_QUERIES:
        for mode in ("keyword", "knn", "hybrid"):
            response = search(services.opensearch, alias, encoder, SearchRequest(text, mode, size=args.size))
            first = first or (response["hits"]["hits"] or [None])[0]
            _print_hits(f"{mode}: {text!r}", response)
    if first is not None:
        source = first["_source"]
        _print_hits(f"similar to {source['product_id']} {source['title']!r}", recommend(services.opensearch, alias, source["product_id"], args.size))
    return 0


def cmd_validate_catalog(args: argparse.Namespace) -> int:
    from catalog_search.catalog import CatalogError, read_catalog
    from catalog_search.validation import snapshot_expectations, validate

    try:
        frame = read_catalog(args.path)
        previous = read_catalog(args.previous) if args.previous else None
    except CatalogError as err:
        print(f"invalid catalog: {err}", file=sys.stderr)
        return 2
    if previous is not None:
        from catalog_search.sql import catalog_diff

        print("change against the previous snapshot: " + json.dumps(catalog_diff(frame, previous)))
    expectations = snapshot_expectations(len(previous) if previous is not None else None, args.row_tolerance)
    report = validate(frame, "catalog_snapshot", str(args.path), expectations, docs_dir=args.docs)
    print(report.summary(), file=sys.stdout if report.success else sys.stderr)
    return 0 if report.success else 1


def cmd_sample_pairs(args: argparse.Namespace) -> int:
    from catalog_search.catalog import CatalogError, read_catalog
    from catalog_search.pairs import PairSpec
    from catalog_search.training_data import TrainingDataSpec, prepare

    try:
        catalog = read_catalog(args.catalog)
        spec = TrainingDataSpec(
            PairSpec(pairs=args.pairs, positive_share=args.positive_share, hard_negative_share=args.hard_negative_share,
                     allocation=args.allocation, min_per_category=args.min_per_category, level=args.level, seed=args.seed),
            max_seq_len=args.max_seq_len,
        )
        report = prepare(catalog, spec, args.out, args.pretrained)
    except (CatalogError, ValueError) as err:
        print(f"sample-pairs: {err}", file=sys.stderr)
        return 2
    print(f"{report['pairs']} pairs (target {report['target_pairs']}), positive share {report['positive_share']:.3f}, "
          f"hard-negative share {report['hard_negative_share']:.3f}, vocabulary {report['vocab_size']} → {args.out}")
    for row in report["by_split"]:
        print(f"  {row['split']:<10} label {row['label']}: {row['pairs']}")
    if report["single_product_categories"]:
        print(f"  {len(report['single_product_categories'])} categories have one product and give no positives: "
              f"{report['single_product_categories'][:5]}")
    if report["short_categories"]:
        print(f"  {len(report['short_categories'])} categories got fewer positives than targeted: {report['short_categories'][:5]}")
    return 0


def cmd_simulate_refresh(args: argparse.Namespace) -> int:
    from catalog_search.catalog import CatalogError, read_catalog
    from catalog_search.refresh import RefreshSpec, simulate_refresh

    try:
        catalog = read_catalog(args.catalog)
    except CatalogError as err:
        print(f"simulate-refresh: {err}", file=sys.stderr)
        return 2
    refreshed, changes = simulate_refresh(catalog, RefreshSpec(args.added, args.removed, args.retitled, args.recategorised, args.seed))
    refreshed.to_parquet(args.out, index=False)
    print(f"{len(refreshed)} products → {args.out}: " + ", ".join(f"{len(v)} {k}" for k, v in changes.items()))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="catalog-search", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("search", help="search the live index")
    p.add_argument("text")
    p.add_argument("--mode", choices=("keyword", "knn", "hybrid"), default="hybrid")
    p.add_argument("--size", type=int, default=10)
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--keyword-boost", type=float, default=1.0)
    p.add_argument("--knn-boost", type=float, default=1.0)
    p.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="category=PATH-PREFIX, price=LOW..HIGH, or an attribute (gender=Men); repeatable")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("recommend", help="products similar to one product")
    p.add_argument("product_id")
    p.add_argument("--size", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser("demo", help="keyword, k-NN and hybrid results for a few queries, and a recommendation")
    p.add_argument("queries", nargs="*")
    p.add_argument("--size", type=int, default=5)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("validate-catalog", help="validate a catalog file or folder against the snapshot contract")
    p.add_argument("path")
    p.add_argument("--previous", help="the previous snapshot: size must stay within --row-tolerance, churn is shown")
    p.add_argument("--row-tolerance", type=float, default=0.1)
    p.add_argument("--docs", type=Path, help="write Great Expectations Data Docs (HTML) to this folder")
    p.set_defaults(func=cmd_validate_catalog)

    p = sub.add_parser("sample-pairs", help="stratified Object2Vec pairs, vocabulary and JSON Lines from a catalog")
    p.add_argument("--catalog", required=True, help="Parquet, CSV or JSON Lines file (or folder) with the canonical columns")
    p.add_argument("--pairs", type=int, required=True)
    p.add_argument("--positive-share", type=float, default=0.5)
    p.add_argument("--hard-negative-share", type=float, default=0.0)
    p.add_argument("--allocation", choices=("proportional", "sqrt", "uniform"), default="proportional")
    p.add_argument("--min-per-category", type=int, default=0, help="floor of positives for every category that can give them")
    p.add_argument("--level", type=int, help="category path level that defines 'same category' (default: full path)")
    p.add_argument("--max-seq-len", type=int, default=16)
    p.add_argument("--pretrained", type=Path, help="GloVe-format file to trim to the vocabulary")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_sample_pairs)

    p = sub.add_parser("simulate-refresh", help="derive a later snapshot: products added, removed, retitled, recategorised")
    p.add_argument("catalog")
    p.add_argument("--out", type=Path, required=True, help="Parquet file to write")
    p.add_argument("--added", type=float, default=0.02)
    p.add_argument("--removed", type=float, default=0.01)
    p.add_argument("--retitled", type=float, default=0.02)
    p.add_argument("--recategorised", type=float, default=0.005)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_simulate_refresh)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Per-request client logs would bury the results a person asked for.
    for name in ("opensearch", "botocore", "urllib3", "airflow"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
