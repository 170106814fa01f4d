"""The cost of a night on AWS, on paper, from what ``catalog_scale.py --json`` measured: for each
catalog size asked for, a full night and a refresh night, each SageMaker job's instance-hours
(and whether its memory and run time fit the instance and limit the settings choose), the
DynamoDB write units, the OpenSearch domain's memory, storage and data nodes, and dollars where
a price is known.

    python benchmarks/night_cost.py SCALE_JSON [--products 1000000 ...] [--price NAME=USD ...]

The rates: each figure (seconds, peak GB, items written) fitted as a + b × products over the sizes
the benchmark ran (one size: b alone), so that a size between them is read off the measurements
and a larger one extrapolated linearly; the local runner's 2 cores taken as one instance of the
type the settings give (an ml.m5.xlarge has 4 vCPUs: the hours are an upper bound for the
Processing jobs, whose work is one process). DynamoDB items are the demo catalog's products with a
vector of the model's size, counted as DynamoDB counts an item (``dynamo.write_units``).
OpenSearch: storage as AWS sizes a domain (primary bytes × copies × 1.45), the HNSW graphs by
OpenSearch's rule for native engines (1.1 × (4 × d + 8 × m) bytes a vector and copy) against the
memory the k-NN plugin takes by default on a data node (half of what the JVM heap leaves, the heap
being half of the node's memory up to 32 GiB). SageMaker job start-up (minutes a job) and S3
requests (cents) are not counted. Prices: ``PRICES`` (each with its source and date) and
``--price`` (e.g. ``--price ml.m5.xlarge=0.23 --price r6g.large.search=0.167``); a figure without
a price is shown in hours only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from catalog_search.settings import Settings
from catalog_search.store import dynamo, index
from catalog_search.training.catalog import load_source, split_rejects

# USD, on demand, us-east-1. Not read off AWS's price list (not reachable from where this was
# written): each from a page that quotes it, dated; check them against the AWS Price List API.
PRICES = {
    "dynamodb_write_million": (0.625, "airbyte.com/data-engineering-resources/dynamodb-pricing, 2025-07-21 "
                                      "(after the November 2024 on-demand price cut)"),
}
GIB = 2**30
INSTANCE_MEMORY_GIB = {"ml.m5.large": 8, "ml.m5.xlarge": 16, "ml.m5.2xlarge": 32, "ml.m5.4xlarge": 64,
                       "r6g.large.search": 16, "r6g.xlarge.search": 32, "r6g.2xlarge.search": 64,
                       "r6g.4xlarge.search": 128}
# infra/catalog-search.yaml's DomainInstanceType, DomainInstanceCount and DomainVolumeSize, and
# the largest memory-optimised node of its family that this page sizes with.
DOMAIN_INSTANCES = ("r6g.large.search", "r6g.4xlarge.search")
DOMAIN_NODES = 2
DOMAIN_VOLUME_GIB = 20
HNSW_M = 16  # index.py's method parameters
STORAGE_OVERHEAD = 1.45  # AWS's sizing rule: indexing overhead, Linux's reserve, the service's reserve
DEFAULT_PRODUCTS = (1_000_000, 10_000_000, 50_000_000)


def fit(points: dict[int, float]) -> tuple[float, float]:
    """a, b of a + b × products through the measured points (least squares; one point: a = 0)."""
    sizes = np.array(sorted(points), dtype=float)
    values = np.array([points[int(n)] for n in sizes])
    if len(sizes) == 1:
        return 0.0, float(values[0] / sizes[0])
    b, a = np.polyfit(sizes, values, 1)
    return float(a), float(b)


def at(line: tuple[float, float], products: int) -> float:
    return max(0.0, line[0] + line[1] * products)


def night_lines(sizes: dict, night: str) -> dict[str, dict[str, tuple[float, float]]]:
    """For the full night or the first refresh night: each job's and task's lines of seconds and
    peak GB, and the items written."""
    def of(n: str) -> dict:
        return sizes[n] if night == "full" else sizes[n]["refresh_nights"][0]

    first = of(next(iter(sizes)))
    lines: dict[str, dict[str, tuple[float, float]]] = {}
    for kind in ("jobs", "tasks"):
        for name in first[kind]:
            lines[f"{kind}/{name}"] = {field: fit({int(n): of(n)[kind][name][field] for n in sizes})
                                       for field in ("seconds", "peak_gb")}
    lines["dynamodb"] = {"written": fit({int(n): of(n)["counts"]["dynamodb_written"] for n in sizes})}
    return lines


def write_units_an_item(dim: int, source_dir: Path) -> float:
    """The mean write units of the demo catalog's products as items with a ``dim``-long vector."""
    catalog = split_rejects(load_source(source_dir))[0]
    catalog = catalog.assign(embedding=[np.ones(dim, dtype=np.float32)] * len(catalog))
    items = dynamo.expected_items(catalog, "20270101T010000Z-scale", "m" * 40)
    return float(np.mean([dynamo.write_units(item) for item in items]))


def domain(products: int, dim: int, replicas: int, instance: str) -> dict:
    """The domain's needs for one live index of ``products`` products on data nodes of type
    ``instance`` (a full load builds a second index next to the live one)."""
    copies = 1 + replicas
    graphs = 1.1 * (4 * dim + 8 * HNSW_M) * products * copies
    memory = INSTANCE_MEMORY_GIB[instance] * GIB
    knn_memory = (memory - min(memory / 2, 32 * GIB)) / 2
    storage = index.estimated_index_bytes(products, dim) * copies * STORAGE_OVERHEAD
    nodes = max(DOMAIN_NODES, math.ceil(graphs / knn_memory))
    return {"graphs_gib": graphs / GIB, "storage_gib": storage / GIB, "nodes": nodes,
            "nodes_full_load": max(DOMAIN_NODES, math.ceil(2 * graphs / knn_memory)),
            "volume_gib": 2 * storage / GIB / nodes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scale_json", type=Path, help="what catalog_scale.py --json wrote")
    parser.add_argument("--products", type=int, action="append", help="catalog sizes (default 1M, 10M, 50M)")
    parser.add_argument("--price", action="append", default=[], metavar="NAME=USD",
                        help="an hourly price of an instance type, or dynamodb_write_million")
    args = parser.parse_args()
    try:
        measured = json.loads(args.scale_json.read_text())["sizes"]
        prices = {name: price for name, (price, _) in PRICES.items()}
        prices.update({name: float(usd) for name, usd in (p.split("=", 1) for p in args.price)})
    except (OSError, ValueError, KeyError) as error:
        print(f"night_cost: cannot read {args.scale_json} or a --price ({error}); give catalog_scale.py's "
              "--json file and prices as NAME=USD", file=sys.stderr)
        return 2
    settings = Settings()  # the defaults, as a deployment on AWS runs them (locally: no replica)
    units = write_units_an_item(settings.embedding_dim, Settings.from_env().source_dir)
    jobs = {"check_snapshot": settings.processing_instance_type, "prepare_transform_input": settings.processing_instance_type,
            "transform": settings.transform_instance_type, "assemble_enriched": settings.processing_instance_type}
    limits = {"check_snapshot": settings.processing_max_runtime, "prepare_transform_input": settings.processing_max_runtime,
              "transform": settings.transform_max_runtime, "assemble_enriched": settings.processing_max_runtime}
    print(f"measured at {', '.join(f'{int(n):,}' for n in measured)} products; a {settings.embedding_dim}-d item "
          f"costs {units:.2f} write units on average")
    for night in ("full", "refresh"):
        lines = night_lines(measured, night)
        print(f"\n{night} night\n| products | job | instance | instance-hours | peak GB (instance GiB) | USD |\n|---|---|---|---|---|---|")
        for products in args.products or DEFAULT_PRODUCTS:
            for job, instance in jobs.items():
                seconds, peak = (at(lines[f"jobs/{job}"][f], products) for f in ("seconds", "peak_gb"))
                hours = seconds / 3600 * (settings.transform_instance_count if job == "transform" else 1)
                notes = "; exceeds its MaxRuntimeInSeconds" if seconds > limits[job] else ""
                notes += "; does not fit" if peak > INSTANCE_MEMORY_GIB[instance] else ""
                usd = f"{hours * prices[instance]:.2f}" if instance in prices else "no price"
                print(f"| {products:,} | `{job}` | {instance} | {hours:.2f} | {peak:.1f} "
                      f"({INSTANCE_MEMORY_GIB[instance]}){notes} | {usd} |")
        print("\n| products | DynamoDB items written | write units | USD | task peak GB (largest) | "
              "the night's wall time, h (local stack) |\n|---|---|---|---|---|---|")
        for products in args.products or DEFAULT_PRODUCTS:
            written = at(lines["dynamodb"]["written"], products)
            tasks = [name for name in lines if name.startswith("tasks/")]
            largest = max(tasks, key=lambda name: at(lines[name]["peak_gb"], products))
            hours = sum(at(lines[name]["seconds"], products) for name in tasks) / 3600
            print(f"| {products:,} | {written:,.0f} | {written * units:,.0f} | "
                  f"{written * units / 1e6 * prices['dynamodb_write_million']:.2f} | "
                  f"{at(lines[largest]['peak_gb'], products):.2f} (`{largest[6:]}`) | {hours:.2f} |")
    print(f"\n| products | HNSW graphs GiB (all copies) | storage GiB | data nodes: type, count (during a full load) "
          f"| gp3 GiB a node, two indexes (default {DOMAIN_VOLUME_GIB}) | USD a day |\n|---|---|---|---|---|---|")
    for products in args.products or DEFAULT_PRODUCTS:
        for instance in DOMAIN_INSTANCES:
            need = domain(products, settings.embedding_dim, settings.index_replicas, instance)
            usd = f"{need['nodes'] * 24 * prices[instance]:.2f}" if instance in prices else "no price"
            print(f"| {products:,} | {need['graphs_gib']:.1f} | {need['storage_gib']:.0f} | {instance}, {need['nodes']} "
                  f"({need['nodes_full_load']}) | {need['volume_gib']:.0f} | {usd} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
