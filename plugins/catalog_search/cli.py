"""``catalog-search``: search, recommend and validate from the command line.

Talks to the same services as the DAGs, through the same Airflow connections
(``AIRFLOW_CONN_*`` in the environment; ``scripts/env.sh`` sets them for the local stack).
"""

from __future__ import annotations

import argparse
import json
import sys
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
        else:
            filters.setdefault(key, []).append(value) if key not in ("category",) else filters.update({key: value})
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
    except CatalogError as err:
        print(f"invalid catalog: {err}", file=sys.stderr)
        return 2
    report = validate(frame, "catalog_snapshot", str(args.path), snapshot_expectations)
    print(report.summary(), file=sys.stdout if report.success else sys.stderr)
    return 0 if report.success else 1


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
    p.set_defaults(func=cmd_validate_catalog)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
