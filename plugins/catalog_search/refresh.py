"""A catalog refresh simulator: later snapshots derived from one, with products added,
removed, retitled and recategorised, so that nightly runs and incremental paths have real
change to work on. Deterministic for a seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from catalog_search.catalog import CATEGORY_SEPARATOR


@dataclass(frozen=True)
class RefreshSpec:
    added: float = 0.02
    removed: float = 0.01
    retitled: float = 0.02
    recategorised: float = 0.005
    seed: int = 0


def simulate_refresh(catalog: pd.DataFrame, spec: RefreshSpec) -> tuple[pd.DataFrame, dict]:
    """The next snapshot and a change log {kind: [product ids]}."""
    rng = np.random.default_rng(spec.seed)
    n = len(catalog)
    kept = catalog.drop(index=catalog.index[rng.choice(n, int(n * spec.removed), replace=False)])
    removed = sorted(set(catalog["product_id"]) - set(kept["product_id"]))
    kept = kept.reset_index(drop=True).copy()

    retitle = rng.choice(len(kept), int(len(kept) * spec.retitled), replace=False)
    before = kept.loc[retitle, "title"].to_numpy()
    kept.loc[retitle, "title"] = _retitled(kept, retitle, rng)
    retitle = retitle[kept.loc[retitle, "title"].to_numpy() != before]  # a swap may pick the same word

    movable = rng.choice(len(kept), int(len(kept) * spec.recategorised), replace=False)
    new_categories = _sibling_categories(kept["category"], movable, rng)
    moved = movable[new_categories != kept.loc[movable, "category"].to_numpy()]
    kept.loc[movable, "category"] = new_categories

    added = _new_products(kept, int(n * spec.added), spec.seed, rng)
    changes = {
        "removed": removed,
        "retitled": kept.loc[retitle, "product_id"].tolist(),
        "recategorised": kept.loc[moved, "product_id"].tolist(),
        "added": added["product_id"].tolist(),
    }
    return pd.concat([kept, added], ignore_index=True), changes


def _retitled(catalog: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Swap one word of each title for a word of another title of the same category."""
    titles = catalog["title"].to_numpy()
    category = catalog["category"].to_numpy()
    donors_by_category = pd.Series(np.arange(len(catalog))).groupby(category).apply(np.asarray)
    out = []
    for row in rows:
        words = titles[row].split()
        donor_words = titles[rng.choice(donors_by_category[category[row]])].split()
        words[rng.integers(len(words))] = donor_words[rng.integers(len(donor_words))]
        out.append(" ".join(words))
    return out


def _sibling_categories(category: pd.Series, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each row, another category with the same parent (its own if it has no sibling)."""
    names = pd.Series(category.unique())
    parents = names.str.rsplit(CATEGORY_SEPARATOR, n=1).str[0]
    siblings = names.groupby(parents).apply(list)
    out = []
    for current in category.iloc[rows]:
        options = [c for c in siblings[current.rsplit(CATEGORY_SEPARATOR, 1)[0]] if c != current]
        out.append(options[rng.integers(len(options))] if options else current)
    return np.array(out, dtype=object)


def _new_products(catalog: pd.DataFrame, count: int, seed: int, rng: np.random.Generator) -> pd.DataFrame:
    """New products modelled on existing ones (category, attributes), with fresh ids and titles."""
    template = catalog.iloc[rng.choice(len(catalog), count, replace=True)].reset_index(drop=True).copy()
    template["product_id"] = [f"new-{seed}-{i}" for i in range(count)]
    template["title"] = _retitled(template, np.arange(count), rng) if count else []
    return template
