"""Stratified pair sampling for Object2Vec, vectorised with numpy.

Positive pair: two different products of the same category (at a chosen level of the path);
negative: products of different categories, a share of them "hard" (from a sibling category,
same parent). Products, not pairs, are split into train/validation/test first, by a hash of
their id, so no product of a test pair is seen in training and a product keeps its split
across snapshots.

Every step works on whole arrays: categories are contiguous ranges of a sorted index, so one
draw picks a category per pair and an offset inside it; duplicates are removed with one
``np.unique`` on a packed pair key, and the few missing pairs are drawn again in rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from catalog_search.settings import ALLOCATIONS, Settings
from catalog_search.training.catalog import CATEGORY_SEPARATOR, category_levels

SPLITS = ("train", "validation", "test")
MAX_ROUNDS = 12
_EMPTY = np.empty(0, np.int64)


@dataclass(frozen=True)
class PairSpec:
    """What to sample; the defaults are the pipeline's (``Settings``)."""

    pairs: int = Settings.pairs
    positive_share: float = Settings.positive_share
    hard_negative_share: float = Settings.hard_negative_share
    allocation: str = Settings.allocation
    min_per_category: int = Settings.min_per_category
    level: int | None = Settings.category_level
    validation_share: float = Settings.validation_share
    test_share: float = Settings.test_share
    seed: int = Settings.pair_seed

    def __post_init__(self) -> None:
        if self.pairs < 1:
            raise ValueError(f"pairs must be ≥ 1, got {self.pairs}")
        for name in ("positive_share", "hard_negative_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        if self.allocation not in ALLOCATIONS:
            raise ValueError(f"allocation must be one of {ALLOCATIONS}, got {self.allocation!r}")
        if self.min_per_category < 0:
            raise ValueError(f"min_per_category must be ≥ 0, got {self.min_per_category}")
        if self.level is not None and self.level < 1:
            raise ValueError(f"level must be ≥ 1 (or None for the full path), got {self.level}")
        if self.validation_share < 0 or self.test_share < 0 or self.validation_share + self.test_share >= 1.0:
            raise ValueError("validation_share and test_share must be ≥ 0 and leave products for training")


@dataclass
class PairSample:
    pairs: pd.DataFrame  # product_id_0, product_id_1, label, hard, split
    report: dict


def split_products(product_ids: pd.Series, spec: PairSpec) -> np.ndarray:
    """Split code (0 train, 1 validation, 2 test) of every product, from a seeded hash of its
    id: stable across snapshots and catalog order."""
    u = stable_hash(product_ids, spec.seed) / np.float64(2**64)
    return np.where(u < spec.test_share, 2, np.where(u < spec.test_share + spec.validation_share, 1, 0))


def stable_hash(values: pd.Series, seed: int) -> np.ndarray:
    """A seeded 64-bit hash of each string, on whole arrays: the UTF-8 bytes, zero-padded to
    8-byte words, are mixed word by word (splitmix64 finaliser). Same input, same hash, on
    every machine and run (unlike Python's hash)."""
    raw = np.asarray(values.astype(str).to_numpy(dtype=object).astype("S"))
    width = -(-max(raw.dtype.itemsize, 1) // 8) * 8
    words = np.frombuffer(raw.astype(f"S{width}").tobytes(), dtype="<u8").reshape(len(raw), width // 8)
    with np.errstate(over="ignore"):  # 64-bit wrap-around is the point of the mixing
        h = np.full(len(raw), _mix(np.array([seed * 2 + 1], dtype=np.uint64))[0] ^ np.uint64(width), dtype=np.uint64)
        for column in words.T:
            h = _mix(h ^ column)
    return h


def _mix(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def allocate(sizes: np.ndarray, total: int, allocation: str, floor: int) -> np.ndarray:
    """Positives per category: a floor for every category that can give one, the rest by the
    weights of the allocation, never more than the category's distinct pairs."""
    capacity = sizes * (sizes - 1) // 2
    eligible = capacity > 0
    if total <= 0 or not eligible.any():
        return np.zeros(len(sizes), np.int64)
    target = np.minimum(capacity, floor)
    if target.sum() > total:  # the floor alone exceeds the budget: share the budget evenly
        return _largest_remainder(eligible.astype(float), total, capacity)
    weights = _weights(sizes, allocation)
    return target + _largest_remainder(np.where(eligible, weights, 0.0), total - int(target.sum()), capacity - target)


def _largest_remainder(weights: np.ndarray, total: int, cap: np.ndarray) -> np.ndarray:
    """Integer shares of total proportional to weights, capped, the excess handed on."""
    out = np.zeros(len(weights), np.int64)
    for _ in range(len(weights) + 1):
        room = cap - out
        active = (room > 0) & (weights > 0)
        left = total - int(out.sum())
        if left <= 0 or not active.any():
            break
        exact = np.where(active, weights, 0.0) / weights[active].sum() * left
        share = np.minimum(np.floor(exact).astype(np.int64), room)
        if share.sum() == 0:  # hand out the remainders one by one, largest first
            order = np.argsort(-(exact - np.floor(exact)) - active * 1.0, kind="stable")
            share = np.zeros_like(out)
            share[order[: min(left, int(active.sum()))]] = 1
            share = np.minimum(share, room)
        out += share
    return out


class _Groups:
    """Products of one split grouped by category (and by parent), as contiguous ranges."""

    def __init__(self, codes: np.ndarray, parents: np.ndarray, n_categories: int):
        self.codes, self.parents = codes, parents
        self.order = np.argsort(codes, kind="stable")
        self.sizes = np.bincount(codes, minlength=n_categories)
        self.starts = np.r_[0, np.cumsum(self.sizes)[:-1]]
        self.parent_order = np.argsort(parents, kind="stable")
        parent_sizes = np.bincount(parents)
        self.parent_start = np.r_[0, np.cumsum(parent_sizes)[:-1]][parents]
        self.parent_size = parent_sizes[parents]

    def pick(self, categories: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One random product of each given category."""
        return self.order[self.starts[categories] + rng.integers(0, self.sizes[categories])]


def _positives(groups: _Groups, targets: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Same-category pairs. Categories asked for more than half their distinct pairs list them
    all and keep a random subset (random draws would keep hitting duplicates); the others draw."""
    capacity = groups.sizes * (groups.sizes - 1) // 2
    dense = targets * 2 > capacity
    left_d, right_d = _enumerated(groups, np.where(dense, targets, 0), rng)

    def draw(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cat = np.repeat(np.arange(len(counts)), counts)
        size = groups.sizes[cat]
        i = rng.integers(0, size)
        j = (i + 1 + rng.integers(0, size - 1)) % size  # never i: no self-pairs
        base = groups.starts[cat]
        return groups.order[base + i], groups.order[base + j]

    left_s, right_s = _unique_pairs(draw, np.where(dense, 0, targets), groups.codes, rng)
    return np.r_[left_d, left_s], np.r_[right_d, right_s]


def _enumerated(groups: _Groups, targets: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """All distinct pairs of the categories with a target, then a random targets[c] of each.
    One pass per distinct category size, each covering every category of that size at once."""
    lefts, rights, cats = [_EMPTY], [_EMPTY], [_EMPTY]
    wanted = np.flatnonzero(targets)
    for size in np.unique(groups.sizes[wanted]):
        same = wanted[groups.sizes[wanted] == size]
        i, j = np.triu_indices(size, 1)
        base = groups.starts[same][:, None]
        lefts.append(groups.order[(base + i).ravel()])
        rights.append(groups.order[(base + j).ravel()])
        cats.append(np.repeat(same, len(i)))
    left, right, cat = np.concatenate(lefts), np.concatenate(rights), np.concatenate(cats)
    order = np.lexsort((rng.random(len(cat)), cat))  # random order within each category
    left, right, cat = left[order], right[order], cat[order]
    counts = np.bincount(cat, minlength=len(targets))
    rank = np.arange(len(cat)) - np.repeat(np.r_[0, np.cumsum(counts)[:-1]], counts)
    keep = rank < targets[cat]
    return left[keep], right[keep]


def _negatives(groups: _Groups, targets: np.ndarray, hard: bool, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Negatives whose first product is drawn by the per-category targets; the second comes
    from a sibling category (hard) or from anywhere else in the split."""
    n_products = len(groups.codes)

    def draw(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        left = groups.pick(np.repeat(np.arange(len(counts)), counts), rng)
        if hard:
            offset = rng.integers(0, groups.parent_size[left])
            right = groups.parent_order[groups.parent_start[left] + offset]
        else:
            right = rng.integers(0, n_products, len(left))
        keep = groups.codes[left] != groups.codes[right]
        return left[keep], right[keep]

    return _unique_pairs(draw, targets, groups.codes, rng)


def _unique_pairs(draw, targets: np.ndarray, codes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw until each category (of the first product) has its target of distinct unordered
    pairs, or the rounds run out because the category has fewer to give. Each round draws
    exactly what is missing, so removing duplicates can only leave a category short, never over."""
    left, right = _EMPTY, _EMPTY
    missing = targets
    for _ in range(MAX_ROUNDS):
        if missing.sum() <= 0:
            break
        new_left, new_right = draw(missing)
        left, right = np.r_[left, new_left], np.r_[right, new_right]
        first = _first_of_each_pair(left, right)
        left, right = left[first], right[first]
        missing = targets - np.bincount(codes[left], minlength=len(targets))
    shuffle = rng.permutation(len(left))
    return left[shuffle], right[shuffle]


def category_codes(category: pd.Series, level: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Category code of every product at the level, the category names, and the code of each
    product's parent category. String work happens once per distinct category, not per product."""
    codes, names = pd.factorize(category.to_numpy())
    names = pd.Series(names, dtype=object)
    if level is not None:
        remap, names = pd.factorize(category_levels(names, level).to_numpy())
        codes, names = remap[codes], pd.Series(names, dtype=object)
    parents = names.str.rsplit(CATEGORY_SEPARATOR, n=1).str[0].where(names.str.contains(CATEGORY_SEPARATOR, regex=False), "")
    parent_of_category = pd.factorize(parents.to_numpy())[0]
    return codes, names.to_numpy(), parent_of_category[codes]


def sample_pairs(catalog: pd.DataFrame, spec: PairSpec) -> PairSample:
    """Pairs with columns product_id_0, product_id_1, label, hard, split, and the run's report.
    The budget is shared among the splits by their number of products."""
    cat_codes, cat_names, parent_codes = category_codes(catalog["category"], spec.level)
    split = split_products(catalog["product_id"], spec)
    ids = catalog["product_id"].astype("string").array  # take() on it stays columnar: no per-id objects
    rng = np.random.default_rng(spec.seed)
    split_sizes = np.bincount(split, minlength=len(SPLITS))
    budgets = _largest_remainder(split_sizes.astype(float), spec.pairs, np.full(len(SPLITS), spec.pairs))
    frames, target_positives = [], np.zeros(len(cat_names), np.int64)
    for split_code, split_name in enumerate(SPLITS):
        members = np.flatnonzero(split == split_code)
        if len(members) == 0:
            continue
        groups = _Groups(cat_codes[members], parent_codes[members], len(cat_names))
        budget = int(budgets[split_code])
        left, right, labels, hard, targets = _sample_split(groups, budget, spec, rng)
        target_positives += targets
        frames.append(pd.DataFrame({
            "product_id_0": ids.take(members[left]), "product_id_1": ids.take(members[right]),
            "label": labels, "hard": hard, "split": split_name, "category_0": cat_codes[members[left]],
        }))
    pairs = pd.concat(frames, ignore_index=True)
    report = _report(pairs, cat_codes, cat_names, target_positives, spec)
    return PairSample(pairs.drop(columns="category_0"), report)


def _sample_split(groups: _Groups, budget: int, spec: PairSpec, rng: np.random.Generator):
    """Positives by allocation, hard negatives from siblings, easy negatives to fill the budget."""
    n_pos = round(budget * spec.positive_share)
    n_hard = round((budget - n_pos) * spec.hard_negative_share)
    sizes = groups.sizes
    positives = allocate(sizes, n_pos, spec.allocation, spec.min_per_category)
    weights = _weights(sizes, spec.allocation)
    has_sibling = np.bincount(groups.codes, weights=(groups.parent_size > sizes[groups.codes]), minlength=len(sizes)) > 0
    hard_targets = _largest_remainder(np.where(has_sibling, weights, 0.0), n_hard, np.full(len(sizes), n_hard))
    pos_left, pos_right = _positives(groups, positives, rng)
    hard_left, hard_right = _negatives(groups, hard_targets, True, rng)
    left, right = np.r_[pos_left, hard_left], np.r_[pos_right, hard_right]
    labels = np.r_[np.ones(len(pos_left), np.int8), np.zeros(len(hard_left), np.int8)]
    hard = np.r_[np.zeros(len(pos_left), bool), np.ones(len(hard_left), bool)]
    # Easy negatives fill the budget; one may repeat a hard negative, so dedupe and refill.
    for _ in range(MAX_ROUNDS):
        missing = budget - len(left)
        if missing <= 0:
            break
        easy = _largest_remainder(weights, missing, np.full(len(sizes), missing))
        more_left, more_right = _negatives(groups, easy, False, rng)
        left, right = np.r_[left, more_left], np.r_[right, more_right]
        labels = np.r_[labels, np.zeros(len(more_left), np.int8)]
        hard = np.r_[hard, np.zeros(len(more_left), bool)]
        first = np.sort(_first_of_each_pair(left, right))  # keep the hard negatives drawn first
        left, right, labels, hard = left[first], right[first], labels[first], hard[first]
    return left, right, labels, hard, positives


def _weights(sizes: np.ndarray, allocation: str) -> np.ndarray:
    """Share of each category under the allocation; empty categories get none."""
    return {"proportional": sizes.astype(float), "sqrt": np.sqrt(sizes), "uniform": (sizes > 0).astype(float)}[allocation]


def _first_of_each_pair(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Index of the first occurrence of every unordered pair: one ``np.unique`` on a packed key."""
    key = np.minimum(left, right).astype(np.int64) << 32 | np.maximum(left, right)
    return np.unique(key, return_index=True)[1]


def _report(pairs: pd.DataFrame, cat_codes: np.ndarray, cat_names: np.ndarray, target_pos: np.ndarray, spec: PairSpec) -> dict:
    sizes = np.bincount(cat_codes, minlength=len(cat_names))
    positives = pairs[pairs["label"] == 1]
    achieved = np.bincount(positives["category_0"], minlength=len(cat_names))
    negatives = np.bincount(pairs.loc[pairs["label"] == 0, "category_0"], minlength=len(cat_names))
    per_category = pd.DataFrame({
        "category": cat_names, "products": sizes, "target_positives": target_pos,
        "achieved_positives": achieved, "negatives": negatives,
    }).sort_values("products", ascending=False)
    n_neg = int((pairs["label"] == 0).sum())
    return {
        "spec": spec.__dict__,
        "pairs": len(pairs),
        "target_pairs": spec.pairs,
        "positive_share": float(pairs["label"].mean()) if len(pairs) else 0.0,
        "hard_negative_share": float(pairs["hard"].sum() / n_neg) if n_neg else 0.0,
        "by_split": pairs.groupby(["split", "label"]).size().rename("pairs").reset_index().to_dict("records"),
        "categories": len(cat_names),
        "single_product_categories": per_category.loc[per_category["products"] == 1, "category"].tolist(),
        "short_categories": per_category.loc[per_category["achieved_positives"] < per_category["target_positives"], "category"].tolist(),
        "per_category": per_category.to_dict("records"),
    }
