"""Stratified pair sampling for Object2Vec, vectorised with numpy.

Positive pair: two different products of the same category; negative: products of
different categories. Products (not pairs) are split into train/validation/test first,
so no product of a test pair is seen in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class PairSpec:
    pairs: int = 60_000
    positive_share: float = 0.5
    validation_share: float = 0.1
    test_share: float = 0.1
    seed: int = 13

    def __post_init__(self) -> None:
        if self.pairs < 1:
            raise ValueError(f"pairs must be ≥ 1, got {self.pairs}")
        if not 0.0 <= self.positive_share <= 1.0:
            raise ValueError(f"positive_share must be within [0, 1], got {self.positive_share}")
        if self.validation_share + self.test_share >= 1.0:
            raise ValueError("validation_share + test_share must leave products for training")


def split_products(product_ids: pd.Series, spec: PairSpec) -> pd.Series:
    """Assign every product to one split, deterministically for a seed."""
    rng = np.random.default_rng(spec.seed)
    u = rng.random(len(product_ids))
    split = np.where(u < spec.test_share, "test", np.where(u < spec.test_share + spec.validation_share, "validation", "train"))
    return pd.Series(split, index=product_ids.index, name="split")


def sample_pairs(catalog: pd.DataFrame, category: pd.Series, spec: PairSpec) -> pd.DataFrame:
    """Pairs with columns product_id_0, product_id_1, label, split (budget shared by split size)."""
    split = split_products(catalog["product_id"], spec)
    rng = np.random.default_rng(spec.seed + 1)
    frames = []
    for name in SPLITS:
        members = (split == name).to_numpy()
        budget = int(round(spec.pairs * members.mean()))
        ids = catalog["product_id"].to_numpy()[members]
        codes = pd.factorize(category.to_numpy()[members])[0]
        n_pos = int(round(budget * spec.positive_share))
        left, right = _positives(codes, n_pos, rng)
        nl, nr = _negatives(codes, budget - len(left), rng)
        frames.append(
            pd.DataFrame(
                {
                    "product_id_0": ids[np.concatenate([left, nl])],
                    "product_id_1": ids[np.concatenate([right, nr])],
                    "label": np.r_[np.ones(len(left), np.int8), np.zeros(len(nl), np.int8)],
                    "split": name,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _positives(codes: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n same-category pairs, allocated across categories in proportion to their size."""
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    eligible = sizes >= 2
    if n == 0 or not eligible.any():
        return _EMPTY, _EMPTY
    weights = np.where(eligible, sizes, 0) / sizes[eligible].sum()

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        cat = np.repeat(np.arange(len(sizes)), rng.multinomial(count, weights))
        size = sizes[cat]
        i = rng.integers(0, size)
        j = (i + 1 + rng.integers(0, size - 1)) % size  # never i: no self-pairs
        return order[starts[cat] + i], order[starts[cat] + j]

    return _unique_pairs(draw, n, rng)


def _negatives(codes: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n pairs of products from different categories, uniformly over products."""
    if n <= 0 or len(np.unique(codes)) < 2:
        return _EMPTY, _EMPTY

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        left, right = rng.integers(0, len(codes), count), rng.integers(0, len(codes), count)
        keep = codes[left] != codes[right]
        return left[keep], right[keep]

    return _unique_pairs(draw, n, rng)


_EMPTY = np.empty(0, np.int64)
MAX_ROUNDS = 8


def _unique_pairs(draw, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw until n distinct unordered pairs are found (or the rounds run out, when the
    population has fewer), then keep n of them in random order."""
    left, right = _EMPTY, _EMPTY
    for _ in range(MAX_ROUNDS):
        missing = n - len(left)
        if missing <= 0:
            break
        new_left, new_right = draw(int(missing * 1.3) + 16)
        left, right = np.r_[left, new_left], np.r_[right, new_right]
        key = np.minimum(left, right).astype(np.int64) << 32 | np.maximum(left, right)
        _, first = np.unique(key, return_index=True)
        first.sort()  # keep earlier draws first so that rounds only add
        left, right = left[first], right[first]
    keep = rng.permutation(len(left))[:n]
    return left[keep], right[keep]
