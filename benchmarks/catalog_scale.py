"""A synthetic catalog of a million products through the snapshot check, catalog_enrichment and search_index_publish
on the local stack (local runner, moto server, the local OpenSearch node), then a refresh that
changes 1 % of it through both again: wall time and peak memory of every stage, and the
incremental night against the full one (same run).

    python benchmarks/catalog_scale.py [--products 1000000 ...] [--changed 0.01] [--nights 1] [--json OUT]

Needs the demo's champion model (run `make demo` first). Works in a bucket, table and index alias
of its own (``bench-scale-*``, removed at the start of the next run), so the demo's data is left
alone. The catalog is the fashion catalog's products recombined: each synthetic product copies a
real one's fields and joins the first half of its title to the second half of the title of
another product of the same category. The refresh removes 0.3 %, retitles 0.3 % and adds 0.4 %
(the refresh simulator). Every stage runs in a fresh process, so its peak RSS (and that of the
job it starts, the transform) is its own; the golden-query gate is off (its dev queries are
judged on the fashion catalog). Goal: the incremental night ≥ 20× faster than the full one.
With ``--nights N``, N refreshes follow the full night, each of the night before (moto's
DynamoDB answers about the same writes in 27 to 45 s from one night to the next).

``--products`` may be repeated: each size runs on its own from an empty bench bucket, table and
alias. ``--json OUT`` writes every figure as ``{"sizes": {"N": {"tasks": {TASK: {"seconds": s,
"peak_gb": g}}, "jobs": {JOB: {...}}, "counts": {...}, "refresh_nights": [{"tasks": …, "jobs": …}, …],
"full_over_refresh": [r, …]}}}``: a task is the Airflow task's process (the stage), a job the
process of the SageMaker job it starts (locally, the local runner's).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import resource
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from catalog_search.clients import Clients
from catalog_search.settings import Settings
from catalog_search.stages import Run, enrichment, jobs, publish, refresh
from catalog_search.store import pointers
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.training import refresh_simulator
from catalog_search.training.catalog import load_source, split_rejects

GOAL = 20.0
DEFAULT_PRODUCTS = 1_000_000
NAME = "bench-scale"
FULL_NIGHT = "20270201T010000Z-scale"


def refresh_night(night: int) -> str:
    """The snapshot of the ``night``-th refresh (1, 2, …) after the full night."""
    return f"202702{night + 1:02d}T010000Z-scale"


def bench_settings() -> Settings:
    settings = Settings.from_env()
    return dataclasses.replace(settings, bucket=NAME, table_name=NAME, index_alias=NAME, golden_queries="",
                               work_dir=settings.work_dir / NAME)


def synthetic_catalog(source: pd.DataFrame, products: int, seed: int = 0) -> pd.DataFrame:
    """``products`` products modelled on ``source``: a template's fields, its title's first half
    joined to the second half of a same-category product's title."""
    rng = np.random.default_rng(seed)
    codes, _ = pd.factorize(source["category"])
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    template = rng.integers(len(source), size=products)
    donor = order[starts[codes[template]] + (rng.random(products) * sizes[codes[template]]).astype(int)]
    words = source["title"].str.split().to_numpy()
    titles = [" ".join(words[t][: (len(words[t]) + 1) // 2] + words[d][len(words[d]) // 2:]) for t, d in zip(template, donor)]
    catalog = source.iloc[template].reset_index(drop=True)
    return catalog.assign(product_id=[f"syn-{i:07d}" for i in range(products)], title=titles)


def run_stage(stage: str, snapshot_id: str, model_version: str, before: dict) -> tuple[dict, float, int, int]:
    """One stage in this (fresh) process, given the results of the stages ``before`` it: its
    result, seconds, and peak RSS of this process and of the job process it started (KiB)."""
    clients = Clients.from_environment(bench_settings())
    keys = {"snapshot_id": snapshot_id, "model_version": model_version}
    run_of = {"refresh": Run("catalog_refresh", f"bench__{snapshot_id}"),
              "enrichment": Run("catalog_enrichment", f"bench__{snapshot_id}"),
              "publish": Run("search_index_publish", f"bench__{snapshot_id}")}
    actions = {
        "snapshot_check_config": lambda: refresh.snapshot_check_config(clients, run_of["refresh"], snapshot_id),
        "check_snapshot": lambda: jobs.run_locally(clients, run_of["refresh"], "processing", before["snapshot_check_config"]),
        "validate_snapshot": lambda: refresh.validate_snapshot(clients, run_of["refresh"], snapshot_id, job=before["check_snapshot"]),
        "transform_input_config": lambda: enrichment.transform_input_config(clients, run_of["enrichment"], **keys),
        "prepare_transform_input": lambda: jobs.run_locally(clients, run_of["enrichment"], "processing",
                                                            before["transform_input_config"]),
        "transform_config": lambda: enrichment.transform_config(clients, run_of["enrichment"], **keys),
        "batch_transform": lambda: jobs.run_locally(clients, run_of["enrichment"], "transform", before["transform_config"]),
        "assembly_config": lambda: enrichment.assembly_config(clients, run_of["enrichment"], **keys),
        "assemble_enriched": lambda: jobs.run_locally(clients, run_of["enrichment"], "processing", before["assembly_config"]),
        "publish_enriched": lambda: enrichment.publish_enriched(clients, run_of["enrichment"], **keys,
                                                                job=before["assemble_enriched"]),
        "export_projector": lambda: enrichment.export_projector(clients, run_of["enrichment"], **keys),
        "build_and_validate_index": lambda: publish.build_index(clients, run_of["publish"], **keys),
        "upsert_dynamodb": lambda: publish.upsert_items(clients, run_of["publish"], **keys),
        "swap_alias": lambda: publish.swap_alias(clients, run_of["publish"], before["build_and_validate_index"]["index"]),
    }
    started = time.perf_counter()
    result = actions[stage]()
    seconds = time.perf_counter() - started
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a spawned process would start
    # at the size of this benchmark's process. A job process's ru_maxrss has the same floor (the
    # stage process's size when it started the job).
    return result, seconds, _high_water_kib(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def _high_water_kib(pid: str = "self") -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))


# The nightly tasks, by their Airflow task ids (catalog_refresh's check of the landed snapshot,
# then catalog_enrichment's and search_index_publish's).
STAGES = ("snapshot_check_config", "check_snapshot", "validate_snapshot", "transform_input_config", "prepare_transform_input",
          "transform_config", "batch_transform", "assembly_config", "assemble_enriched", "publish_enriched", "export_projector",
          "build_and_validate_index", "upsert_dynamodb", "swap_alias")


def night(snapshot_id: str, model_version: str) -> dict[str, tuple[dict, float, int, int]]:
    measured = {}
    for stage in STAGES:
        # A fresh process per stage: its peak memory is its own.
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            before = {name: result for name, (result, *_) in measured.items()}
            measured[stage] = pool.submit(run_stage, stage, snapshot_id, model_version, before).result()
        print(f"  {stage:<26} {measured[stage][1]:>8.1f} s", flush=True)
    return measured


def reset(clients: Clients, source: Clients) -> str:
    """An empty bench bucket, table, alias and local work directory (the local runner's job
    files: gigabytes a run), holding the demo's champion; returns its version."""
    shutil.rmtree(clients.settings.work_dir, ignore_errors=True)
    store = clients.store
    store.ensure_bucket()
    for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=NAME):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            clients.s3.delete_objects(Bucket=NAME, Delete={"Objects": keys})
    try:
        clients.dynamodb.delete_table(TableName=NAME)
        clients.dynamodb.get_waiter("table_not_exists").wait(TableName=NAME)
    except clients.dynamodb.exceptions.ResourceNotFoundException:
        pass
    clients.opensearch.indices.delete(index=f"{NAME}-*", ignore_unavailable=True)
    champion = source.store.get_json(ObjectKeys.CHAMPION)
    store.put_json(ObjectKeys.CHAMPION, champion)
    store.put_json(ObjectKeys.model_lineage(champion["model_version"]),
                   source.store.get_json(ObjectKeys.model_lineage(champion["model_version"])))
    return champion["model_version"]


def land(clients: Clients, snapshot_id: str, products: pd.DataFrame) -> None:
    clients.store.put_parquet(ObjectKeys.snapshot_products(snapshot_id), products)
    pointers.advance_snapshot(clients.store, snapshot_id)


def _moto_peak() -> str:
    """The peak RSS of moto's gunicorn worker, the child of the process in moto's PID file."""
    pid_file = Path(os.environ.get("CS_LOCAL", ".local")) / "run" / "moto.pid"
    try:
        master = pid_file.read_text().strip()
        processes = [master, *Path(f"/proc/{master}/task/{master}/children").read_text().split()]
        return f"{max(_high_water_kib(pid) for pid in processes) / 2**20:.1f} GB"
    except OSError:
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, action="append", help=f"catalog size, repeatable (default {DEFAULT_PRODUCTS:,})")
    parser.add_argument("--changed", type=float, default=0.01, help="share of products the refresh changes")
    parser.add_argument("--nights", type=int, default=1, help="refresh nights after the full one")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    sizes = {}
    for products in args.products or [DEFAULT_PRODUCTS]:
        full, refreshes = catalog_size(products, args.changed, args.nights)
        sizes[str(products)] = {**_figures(full), "refresh_nights": [_figures(r) for r in refreshes],
                                "full_over_refresh": [round(_total(full) / _total(r), 2) for r in refreshes]}
        if args.json:  # after each size, so that a long run's earlier sizes are kept
            args.json.write_text(json.dumps({"sizes": sizes}, indent=1))
    return 0


def catalog_size(products: int, changed: float, nights: int) -> tuple[dict, list[dict]]:
    """One full night of ``products`` products, then ``nights`` refresh nights, from an empty bench
    bucket, table and alias; prints the table and returns the measurements of each night."""
    settings = bench_settings()
    clients = Clients.from_environment(settings)
    model_version = reset(clients, Clients.from_environment(Settings.from_env()))
    started = time.perf_counter()
    catalog = synthetic_catalog(split_rejects(load_source(settings.source_dir))[0], products)
    print(f"catalog of {len(catalog):,} products made in {time.perf_counter() - started:.0f} s; model {model_version}", flush=True)
    print(f"full night: snapshot {FULL_NIGHT}", flush=True)
    land(clients, FULL_NIGHT, catalog)
    full = night(FULL_NIGHT, model_version)
    refreshes = []
    for number in range(1, nights + 1):
        catalog, changes = refresh_simulator.simulate_refresh(catalog, refresh_simulator.RefreshSpec(
            added=0.4 * changed, removed=0.3 * changed, retitled=0.3 * changed, recategorised=0.0, seed=number))
        snapshot_id = refresh_night(number)
        print(f"refresh night {number}: snapshot {snapshot_id} ({', '.join(f'{len(v):,} {k}' for k, v in changes.items())})", flush=True)
        land(clients, snapshot_id, catalog)
        refreshes.append(night(snapshot_id, model_version))

    print(f"\n{products:,} products\n{'stage':<26} {'full s':>8} {'peak GB':>8}"
          + "".join(f" {f'night {n} s':>10} {'peak GB':>8}" for n in range(1, len(refreshes) + 1)))
    for stage in STAGES:
        print(f"{stage:<26} {full[stage][1]:>8.1f} {_peak(full[stage]):>8.2f}"
              + "".join(f" {r[stage][1]:>10.1f} {_peak(r[stage]):>8.2f}" for r in refreshes))
    totals = [_total(r) for r in refreshes]
    print(f"{'total':<26} {_total(full):>8.1f} {'':>8}" + "".join(f" {t:>10.1f} {'':>8}" for t in totals))
    for number, (total, measured) in enumerate(zip(totals, refreshes), start=1):
        ratio = _total(full) / total
        assembled = measured["publish_enriched"][0]
        print(f"refresh night {number}: {ratio:.1f}× faster than the full one (goal ≥ {GOAL:.0f}×: "
              f"{'met' if ratio >= GOAL else 'NOT met'}); embedded {assembled['embedded']:,}, carried over "
              f"{assembled['carried_over']:,}; DynamoDB wrote {measured['upsert_dynamodb'][0]['written']:,} items")
    print(f"moto server peak RSS {_moto_peak()}")
    return full, refreshes


JOB_OF_STAGE = {"check_snapshot": "check_snapshot", "prepare_transform_input": "prepare_transform_input", "batch_transform": "transform",
                "assemble_enriched": "assemble_enriched"}  # the stages that start a SageMaker job, and its name


def _figures(measured: dict[str, tuple[dict, float, int, int]]) -> dict:
    """A night's measurements as the --json file gives them: each task's seconds and peak (its own
    process), each job's (the job process's peak; its seconds are its task's)."""
    def gb(kib: int) -> float:
        return round(kib / 2**20, 3)

    assembled, written = measured["publish_enriched"][0], measured["upsert_dynamodb"][0]
    return {"tasks": {stage: {"seconds": round(m[1], 1), "peak_gb": gb(m[2])} for stage, m in measured.items()},
            "jobs": {job: {"seconds": round(measured[stage][1], 1), "peak_gb": gb(measured[stage][3])}
                     for stage, job in JOB_OF_STAGE.items()},
            # What the night did, for the cost of a night (benchmarks/night_cost.py).
            "counts": {"embedded": assembled["embedded"], "carried_over": assembled["carried_over"],
                       "dynamodb_written": written["written"],
                       "index_documents": measured["build_and_validate_index"][0]["documents"]}}


def _total(measured: dict) -> float:
    return sum(m[1] for m in measured.values())


def _peak(measured: tuple) -> float:
    """The larger of the stage process's and its job process's peak RSS, in GB."""
    return max(measured[2], measured[3]) / 2**20


if __name__ == "__main__":
    sys.exit(main())
