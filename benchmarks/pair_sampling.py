"""Pair-sampling benchmark on synthetic catalogs with Zipf-like category sizes.

Two figures, each measured in a fresh subprocess (wall time of the sampling alone, best of
three after a warm-up, one run for the slow baseline; peak RSS of the whole process):

* scale: 2,000,000 products / 5,000 categories / 1,000,000 pairs with the project's sampler
  (goal: ≤ 30 s and ≤ 4 GB on a 2-core machine);
* baseline: 200,000 products / 1,000 categories / 200,000 pairs, the project's sampler side by
  side with the seed's approach (for each category: boolean-filter the whole frame, sample
  left and right rows), same targets (goal: ≥ 30× faster).

    python benchmarks/pair_sampling.py            # prints a table and the ratios
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

CASES = {
    "scale": {"products": 2_000_000, "categories": 5_000, "pairs": 1_000_000},
    "baseline": {"products": 200_000, "categories": 1_000, "pairs": 200_000},
}


def synthetic_catalog(products: int, categories: int, seed: int = 0, zipf: float = 1.1) -> pd.DataFrame:
    """Category sizes ~ 1/rank^zipf (at least one product each), three-level paths whose
    parents group ~20 categories, string product ids."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, categories + 1) ** zipf
    sizes = 1 + rng.multinomial(products - categories, weights / weights.sum())
    names = np.array([f"Dept {c // 400} > Group {c // 20} > Category {c}" for c in range(categories)], dtype=object)
    category = np.repeat(names, sizes)
    return pd.DataFrame({"product_id": np.char.add("p", np.arange(products).astype(str)).astype(object),
                         "category": category[rng.permutation(products)]})


def seed_approach(catalog: pd.DataFrame, pairs: int, positive_share: float, seed: int) -> pd.DataFrame:
    """The approach this project replaced: one pass over the whole frame per category."""
    rng = np.random.default_rng(seed)
    counts = catalog["category"].value_counts()
    eligible = counts[counts >= 2]
    per_category = np.round(pairs * positive_share * eligible / eligible.sum()).astype(int)
    frames = []
    for category, n in per_category.items():
        members = catalog[catalog["category"] == category]
        others = catalog[catalog["category"] != category]
        left = members.sample(n, replace=True, random_state=rng.integers(2**31))
        right = members.sample(n, replace=True, random_state=rng.integers(2**31))
        negatives = others.sample(n, replace=True, random_state=rng.integers(2**31))
        frames.append(pd.DataFrame({"product_id_0": left["product_id"].to_numpy(), "product_id_1": right["product_id"].to_numpy(), "label": 1}))
        frames.append(pd.DataFrame({"product_id_0": left["product_id"].to_numpy(), "product_id_1": negatives["product_id"].to_numpy(), "label": 0}))
    return pd.concat(frames, ignore_index=True)


def _sample(method: str, catalog: pd.DataFrame, pairs: int) -> int:
    from catalog_search.training.pairs import PairSpec, sample_pairs

    if method == "project":
        spec = PairSpec(pairs=pairs, positive_share=0.5, hard_negative_share=0.2, allocation="sqrt", min_per_category=1, seed=1)
        return len(sample_pairs(catalog, spec).pairs)
    return len(seed_approach(catalog, pairs, 0.5, seed=1))


def measure(case: str, method: str, repeats: int) -> dict:
    """Best of ``repeats`` timed runs, after one warm-up on a small catalog (imports, first-call
    set-up) so that both methods are timed at steady state."""
    size = CASES[case]
    _sample(method, synthetic_catalog(2_000, 50, seed=9), 1_000)
    catalog = synthetic_catalog(size["products"], size["categories"])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        produced = _sample(method, catalog, size["pairs"])
        times.append(time.perf_counter() - start)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return {"case": case, "method": method, **size, "produced": produced, "seconds": round(min(times), 3),
            "repeats": repeats, "peak_gb": round(peak_gb, 3)}


def run_child(case: str, method: str, repeats: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", case, method, str(repeats)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=3, metavar=("CASE", "METHOD", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        case, method, repeats = args.child
        print(json.dumps(measure(case, method, int(repeats))))
        return 0
    # The seed approach takes seconds a run: once is enough for its figure.
    rows = [run_child("scale", "project", 3), run_child("baseline", "project", 3), run_child("baseline", "seed", 1)]
    print(f"{'case':<9} {'method':<8} {'products':>10} {'categories':>10} {'pairs':>9} {'produced':>9} {'seconds':>8} {'peak GB':>8}")
    for r in rows:
        print(f"{r['case']:<9} {r['method']:<8} {r['products']:>10,} {r['categories']:>10,} {r['pairs']:>9,} "
              f"{r['produced']:>9,} {r['seconds']:>8.2f} {r['peak_gb']:>8.2f}")
    scale, ours, seed = rows
    speedup = seed["seconds"] / ours["seconds"]
    print(f"\nscale: {scale['seconds']:.1f} s (goal ≤ 30 s), peak {scale['peak_gb']:.2f} GB (goal ≤ 4 GB)")
    print(f"baseline: project {ours['seconds']:.2f} s vs seed approach {seed['seconds']:.2f} s = {speedup:.0f}× faster (goal ≥ 30×)")
    ok = scale["seconds"] <= 30 and scale["peak_gb"] <= 4 and speedup >= 30
    print("goals met" if ok else "GOALS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
