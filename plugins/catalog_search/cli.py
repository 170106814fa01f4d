"""``catalog-search``: search, recommend, validate, sample and plan from the command line.

Talks to the same services as the DAGs, through the same connections (``AIRFLOW_CONN_*`` in the
environment, read without importing Airflow; ``scripts/env.sh`` sets them for the local stack).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from catalog_search.settings import ALLOCATIONS, RUNNERS, Settings
from catalog_search.settings import SEARCH_MODES as MODES

DEMO_QUERIES = ("men navy blue shirt", "women black handbag", "running shoes", "silver watch for women", "hoodie")
EXIT_CODES = {0: "success", 1: "a validation failed", 2: "bad input (arguments, files)",
              3: "a service is unavailable (OpenSearch, S3/DynamoDB)", 4: "not found (product, index, snapshot)"}
BAD_INPUT, UNAVAILABLE, NOT_FOUND = 2, 3, 4
START_HINT = "start the local stack with `make up` (or check the AIRFLOW_CONN_* connections)"


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (not usage plus error) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(BAD_INPUT, f"{self.prog}: {message} (see --help)\n")


def _clients():
    from catalog_search.clients import Clients

    return Clients.from_environment(Settings.from_env())


def _print_hits(title: str, response: dict) -> None:
    hits = response["hits"]["hits"]
    print(f"\n== {title} ({response['hits']['total']['value']} matches)")
    query = response.get("query", {})
    terms = query.get("terms", {})
    if terms.get("corrected"):
        print("   read as: " + ", ".join(f"{typo} → {word}" for typo, word in terms["corrected"].items()))
    if query.get("attributes"):
        print("   names: " + "; ".join(f"{name} {' or '.join(values)}" for name, values in query["attributes"].items()))
    if query.get("knn", "used") != "used":
        fallback = " (keyword results only)" if query.get("fallback") else ""
        print(f"   k-NN {query['knn']}: {', '.join(terms.get('unknown', []))}{fallback}")
    for rank, hit in enumerate(hits, 1):
        src = hit["_source"]
        attrs = src.get("attributes", {})
        extra = ", ".join(str(attrs[k]) for k in ("gender", "colour") if k in attrs)
        print(f"{rank:>3}. {hit['_score']:7.3f}  {src['product_id']:>6}  {src['title']}  [{src['category']}; {extra}]")


def _query_vectors(clients):
    from catalog_search.search.terms import QueryVectors

    return QueryVectors.for_clients(clients)


def cmd_search(args: argparse.Namespace) -> int:
    from catalog_search.search.query import SearchRequest, parse_filters, search

    settings = Settings.from_env()
    # Every argument is checked before a service is called.
    request = SearchRequest(args.text, args.mode, args.size, args.page, args.keyword_boost, args.knn_boost,
                            filters=parse_filters(args.filter, settings.filter_attributes))
    clients = _clients()
    response = search(clients.opensearch, settings.index_alias, _query_vectors(clients), request)
    print(json.dumps(response["hits"], indent=1)) if args.json else _print_hits(f"{args.mode}: {args.text!r}", response)
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from catalog_search.search.query import recommend

    clients = _clients()  # no connection yet: recommend checks its arguments before calling OpenSearch
    response = recommend(clients.opensearch, clients.settings.index_alias, args.product_id, args.size)
    print(json.dumps(response["hits"], indent=1)) if args.json else _print_hits(f"similar to {args.product_id}", response)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from catalog_search.search.api import create_app

    print(f"search page and API on http://{args.host}:{args.port}/ (API docs: /docs)", flush=True)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info" if args.verbose else "warning")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Keyword, k-NN and hybrid results for a few queries, and one recommendation."""
    from catalog_search.search.query import SearchRequest, recommend, search

    modes = dict.fromkeys(("keyword", "knn", Settings.from_env().search_mode))
    requests = [SearchRequest(text, mode, size=args.size) for text in args.queries or DEMO_QUERIES for mode in modes]
    clients = _clients()
    encoders, alias = _query_vectors(clients), clients.settings.index_alias
    first = None
    for request in requests:
        response = search(clients.opensearch, alias, encoders, request)
        first = first or (response["hits"]["hits"] or [None])[0]
        _print_hits(f"{request.mode}: {request.text!r}", response)
    if first is not None:
        source = first["_source"]
        _print_hits(f"similar to {source['product_id']} {source['title']!r}",
                    recommend(clients.opensearch, alias, source["product_id"], args.size))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """nDCG@10, recall@100 and MRR of every mode on judged queries, against the live alias (judged
    by rule on the live index's own catalog, or by qrels); and the leaf-category purity of
    recommendations over a sample of products."""
    from catalog_search.search import evaluation
    from catalog_search.search.query import SearchRequest, ranked_ids

    settings = Settings.from_env()
    modes = args.modes or list(MODES)
    clients = _clients()
    vectors, alias = _query_vectors(clients), settings.index_alias
    reports = {}
    for queries in args.queries or settings.dev_queries:
        judgments = live_judgments(clients, queries, args.qrels or (settings.golden_qrels if queries == settings.golden_queries else None))
        reports[Path(queries).stem.removeprefix("queries_")] = report = evaluation.evaluate(
            judgments, modes, lambda text, mode: ranked_ids(clients.opensearch, alias, vectors,
                                                            SearchRequest(text, mode, size=evaluation.RECALL_DEPTH)))
        _print_report(Path(queries).name, report, judgments.queries if args.per_query else {})
    if len(reports) > 1:
        reports["all"] = evaluation.combined(reports)
        _print_report(f"the {len(reports) - 1} sets together", reports["all"], {})
    result: dict = {"query_sets": reports}
    if args.purity_sample:
        result["recommendations"] = r = recommendation_purity(clients.opensearch, alias, args.purity_sample)
        print(f"\nrecommendations: leaf-category purity@10 {r['leaf_purity@10']:.3f} over {r['products']} sampled products")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
        print(f"report: {args.json}")
    return 0


def _print_report(name: str, report: dict, per_query: dict[str, str]) -> None:
    """A query set's table; with ``per_query`` (qid -> text), every query's nDCG@10 under it."""
    unjudgeable = report["unjudgeable"]
    print(f"\n{name}: {report['queries']} queries judged by {report['judging']}"
          + (f"; {len(unjudgeable)} without a relevant product, not scored: {', '.join(unjudgeable)}" if unjudgeable else ""))
    from catalog_search.search import evaluation

    print(evaluation.table(report))
    if per_query:
        modes = list(report["modes"])
        print(f"\n{'qid':<6} {'query':<34} " + " ".join(f"{m:>10}" for m in modes))
        for qid, text in per_query.items():
            print(f"{qid:<6} {text[:34]:<34} " + " ".join(f"{report['modes'][m]['per_query'][qid]['ndcg@10']:>10.3f}" for m in modes))



def live_judgments(clients, queries: str, qrels: str | None):
    """The judgments of a query set on the live index: by rule on the catalog it serves (the
    snapshot in its ``_meta``), or by the qrels (``evaluation``)."""
    from catalog_search.errors import NotFound
    from catalog_search.search import evaluation
    from catalog_search.store.index import index_meta, live_index
    from catalog_search.store.object_keys import ObjectKeys

    settings = clients.settings
    query_set = evaluation.read_query_set(queries, qrels or None, evaluation.JudgingRule.from_settings(settings))
    if query_set.rule is None:
        return query_set.judge()
    live = live_index(clients.opensearch, settings.index_alias)
    if live is None:
        raise NotFound(f"no index behind the alias {settings.index_alias!r} yet: publish one first (search_index_publish)")
    snapshot_id = index_meta(clients.opensearch, live)["snapshot_id"]
    return query_set.judge(clients.store.get_parquet(ObjectKeys.snapshot_products(snapshot_id), columns=evaluation.catalog_columns(query_set.rule)))


def recommendation_purity(client, alias: str, sample: int, seed: int = 13) -> dict:
    """Leaf-category purity@10 of the recommendations of a random sample of live products."""
    from catalog_search.search import evaluation
    from catalog_search.search.query import recommend

    body = {"size": sample, "_source": ["category"],
            "query": {"function_score": {"query": {"match_all": {}}, "random_score": {"seed": seed, "field": "_seq_no"}}}}
    products = {h["_id"]: h["_source"]["category"] for h in client.search(index=alias, body=body)["hits"]["hits"]}
    neighbours, categories = {}, dict(products)
    for pid in products:
        hits = recommend(client, alias, pid, size=10)["hits"]["hits"]
        neighbours[pid] = [h["_id"] for h in hits]
        categories.update({h["_id"]: h["_source"]["category"] for h in hits})
    return {"leaf_purity@10": evaluation.leaf_purity(neighbours, categories), "products": len(products)}


def cmd_validate_catalog(args: argparse.Namespace) -> int:
    from catalog_search.training.catalog import CatalogError, read_catalog
    from catalog_search.validation import snapshot_expectations, validate

    try:
        frame = read_catalog(args.path)
        previous = read_catalog(args.previous) if args.previous else None
    except CatalogError as err:
        print(f"invalid catalog: {err}", file=sys.stderr)
        return 2
    if previous is not None:
        from catalog_search.sql import catalog_diff

        print("change against the previous snapshot: " + json.dumps(catalog_diff(frame, previous, Settings.from_env().include_dir)))
    expectations = snapshot_expectations(len(previous) if previous is not None else None, args.row_tolerance)
    report = validate(frame, "catalog_snapshot", str(args.path), expectations, docs_dir=args.docs)
    print(report.summary(), file=sys.stdout if report.success else sys.stderr)
    return 0 if report.success else 1


def cmd_sample_pairs(args: argparse.Namespace) -> int:
    from catalog_search.training.catalog import CatalogError, read_catalog
    from catalog_search.training.pairs import PairSpec
    from catalog_search.training.training_data import TrainingDataSpec, prepare

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
    from catalog_search.training.catalog import CatalogError, read_catalog
    from catalog_search.training.refresh_simulator import RefreshSpec, simulate_refresh

    try:
        catalog = read_catalog(args.catalog)
    except CatalogError as err:
        print(f"simulate-refresh: {err}", file=sys.stderr)
        return 2
    refreshed, changes = simulate_refresh(catalog, RefreshSpec(args.added, args.removed, args.retitled, args.recategorised, args.seed))
    refreshed.to_parquet(args.out, index=False)
    print(f"{len(refreshed)} products → {args.out}: " + ", ".join(f"{len(v)} {k}" for k, v in changes.items()))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """Every AWS request one training run and one night would send, built by the DAGs' own
    functions, with no call made."""
    import dataclasses

    from catalog_search import plan
    from catalog_search.clients import Clients

    settings = Settings.from_env()
    if args.runner:
        settings = dataclasses.replace(settings, runner=args.runner)
    made = plan.requests(settings, Clients.from_environment(settings).region)
    if made.placeholders:
        print(f"placeholders (example account {plan.EXAMPLE_ACCOUNT}) for the unset {', '.join(made.placeholders)}")
    for request in made.requests:
        print(f"\n## {request['step']}: {request['service']} {request['operation']}")
        print(json.dumps(request["params"], indent=1, default=plan.json_value))
    if args.json:
        args.json.write_text(made.as_json())
        print(f"\n{len(made.requests)} requests: {args.json}")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    """Every setting, its variable, type, default and help (docs/settings.md is this)."""
    from catalog_search.settings import reference

    print(reference(), end="")
    return 0


def parser() -> argparse.ArgumentParser:
    from catalog_search.training.refresh_simulator import RefreshSpec

    defaults = Settings()
    root = Parser(prog="catalog-search", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                  epilog="exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()))
    root.add_argument("--verbose", action="store_true", help="log what the libraries do (HTTP requests, GX)")
    sub = root.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("search", help="search the live index")
    p.add_argument("text")
    p.add_argument("--mode", choices=MODES, default=defaults.search_mode)
    p.add_argument("--size", type=int, default=10, help="results per page, 1-100")
    p.add_argument("--page", type=int, default=1, help="page number from 1; page × size up to 10,000")
    p.add_argument("--keyword-boost", type=float, default=defaults.keyword_weight, help="a weight in normalized and rrf")
    p.add_argument("--knn-boost", type=float, default=defaults.knn_weight, help="a weight in normalized and rrf")
    p.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="category=PATH-PREFIX, price=LOW..HIGH, brand/vendor/currency=VALUE, or an attribute "
                        f"({', '.join(defaults.filter_attributes)}); repeatable")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("recommend", help="products similar to one product")
    p.add_argument("product_id")
    p.add_argument("--size", type=int, default=10, help="1-100")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser("serve", help="the HTTP API and the search page (FastAPI under uvicorn)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="keyword, k-NN and hybrid results for a few queries, and a recommendation")
    p.add_argument("queries", nargs="*")
    p.add_argument("--size", type=int, default=5)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("evaluate", help="nDCG@10 (with its spread), recall@100, MRR per mode on judged query sets (live alias)")
    p.add_argument("--queries", nargs="+", help=f"queries TSVs, each scored and all together (default: {', '.join(defaults.dev_queries)})")
    p.add_argument("--qrels", help=f"judgments TSV of a query set without the rule's columns (the golden set's: {defaults.golden_qrels})")
    p.add_argument("--modes", nargs="+", choices=MODES, help="default: every mode")
    p.add_argument("--json", type=Path, help="write the report (means and per query) as JSON")
    p.add_argument("--per-query", action="store_true", help="also print nDCG@10 per query")
    p.add_argument("--purity-sample", type=int, default=200, help="products whose recommendations are checked (0: none)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("plan", help="a dry run: every AWS request one training run and one night would send (no call made)")
    p.add_argument("--runner", choices=RUNNERS, help=f"default: CATALOG_SEARCH_RUNNER ({defaults.runner})")
    p.add_argument("--json", type=Path, help='also write {"requests": [{"service", "operation", "params"}, …]} to this file')
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("settings", help="every CATALOG_SEARCH_* setting: type, default, what it does (docs/settings.md)")
    p.set_defaults(func=cmd_settings)

    p = sub.add_parser("validate-catalog", help="validate a catalog file or folder against the snapshot contract")
    p.add_argument("path")
    p.add_argument("--previous", help="the previous snapshot: size must stay within --row-tolerance, churn is shown")
    p.add_argument("--row-tolerance", type=float, default=defaults.row_tolerance)
    p.add_argument("--docs", type=Path, help="write Great Expectations Data Docs (HTML) to this folder")
    p.set_defaults(func=cmd_validate_catalog)

    p = sub.add_parser("sample-pairs", help="stratified Object2Vec pairs, vocabulary and JSON Lines from a catalog")
    p.add_argument("--catalog", required=True, help="Parquet, CSV or JSON Lines file (or folder) with the canonical columns")
    p.add_argument("--pairs", type=int, default=defaults.pairs)
    p.add_argument("--positive-share", type=float, default=defaults.positive_share)
    p.add_argument("--hard-negative-share", type=float, default=defaults.hard_negative_share)
    p.add_argument("--allocation", choices=ALLOCATIONS, default=defaults.allocation)
    p.add_argument("--min-per-category", type=int, default=defaults.min_per_category,
                   help="floor of positives for every category that can give them")
    p.add_argument("--level", type=int, default=defaults.category_level,
                   help="category path level that defines 'same category' (default: full path)")
    p.add_argument("--max-seq-len", type=int, default=defaults.max_seq_len)
    p.add_argument("--pretrained", type=Path, help="GloVe-format file to trim to the vocabulary")
    p.add_argument("--seed", type=int, default=defaults.pair_seed)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_sample_pairs)

    p = sub.add_parser("simulate-refresh", help="derive a later snapshot: products added, removed, retitled, recategorised")
    p.add_argument("catalog")
    p.add_argument("--out", type=Path, required=True, help="Parquet file to write")
    simulated = RefreshSpec()
    p.add_argument("--added", type=float, default=simulated.added)
    p.add_argument("--removed", type=float, default=simulated.removed)
    p.add_argument("--retitled", type=float, default=simulated.retitled)
    p.add_argument("--recategorised", type=float, default=simulated.recategorised)
    p.add_argument("--seed", type=int, default=simulated.seed)
    p.set_defaults(func=cmd_simulate_refresh)
    return root


def _quiet_libraries(verbose: bool) -> None:
    """Per-request client logs would bury the results a person asked for."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        for name in ("opensearch", "botocore", "boto3", "urllib3", "great_expectations", "catalog_search"):
            logging.getLogger(name).setLevel(logging.ERROR)


def _unavailable(err: BaseException) -> str:
    """Which service did not answer, where it was expected, and how to start it."""
    from catalog_search.clients import environment_endpoints

    endpoints = environment_endpoints()
    if type(err).__module__.startswith("opensearchpy"):
        return f"OpenSearch is not reachable at {endpoints.opensearch}: {START_HINT}"
    where = getattr(err, "kwargs", {}).get("endpoint_url") or endpoints.aws or "AWS"
    return f"S3/DynamoDB (moto locally) is not reachable at {where}: {START_HINT}"


def main(argv: Sequence[str] | None = None) -> int:
    from catalog_search.errors import ErrorKind, NotFound, PermanentError, classify, missing_configuration

    args = parser().parse_args(argv)
    _quiet_libraries(args.verbose)
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader stopped reading (`catalog-search plan | head`): not a service's failure
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except NotFound as err:
        print(f"catalog-search: not found: {err}", file=sys.stderr)
        return NOT_FOUND
    except Exception as err:
        if missing_configuration(err):
            print(f"catalog-search: not configured: {missing_configuration(err)}", file=sys.stderr)
            return BAD_INPUT
        kind = classify(err)
        if kind is ErrorKind.TRANSIENT:
            print(f"catalog-search: {_unavailable(err)}", file=sys.stderr)
            return UNAVAILABLE
        if kind is ErrorKind.PERMANENT and isinstance(err, (PermanentError, ValueError)):
            print(f"catalog-search: bad input: {err}", file=sys.stderr)
            return BAD_INPUT
        raise


if __name__ == "__main__":
    sys.exit(main())
