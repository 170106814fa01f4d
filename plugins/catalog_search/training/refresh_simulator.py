"""A catalog refresh simulator: later snapshots derived from one, with products added,
removed, retitled and recategorised, so that nightly runs and incremental paths have real
change to work on. Deterministic for a seed.

The changes read like a real catalog's: a retitle swaps one descriptive word of a title (not its
leading brand or closing type) for one that another title of the same category describes with,
or adds it, never a word the title already has, nor one that names the product's attributes or
category (so a retitled "Men" shirt never turns "Women"); a new product
is a new listing of its category: another product's brand (the leading word of a title of that
category) and, where the title names one of its attributes (its colour, say), another value of
that attribute found in the category, written to the title and the attributes alike. No change
repeats a word in a title.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from catalog_search.training.catalog import CATEGORY_SEPARATOR

DONOR_TRIES = 8  # other products of the category tried for a word that fits


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
    listings = _Listings(kept)

    retitle = rng.choice(len(kept), int(len(kept) * spec.retitled), replace=False)
    before = kept.loc[retitle, "title"].to_numpy()
    kept.loc[retitle, "title"] = [listings.retitled(row, rng) for row in retitle]
    retitle = retitle[kept.loc[retitle, "title"].to_numpy() != before]  # no word fitted: left as it was

    movable = rng.choice(len(kept), int(len(kept) * spec.recategorised), replace=False)
    new_categories = _sibling_categories(kept["category"], movable, rng)
    moved = movable[new_categories != kept.loc[movable, "category"].to_numpy()]
    kept.loc[movable, "category"] = new_categories

    added = listings.new_products(int(n * spec.added), spec.seed, rng)
    changes = {
        "removed": removed,
        "retitled": kept.loc[retitle, "product_id"].tolist(),
        "recategorised": kept.loc[moved, "product_id"].tolist(),
        "added": added["product_id"].tolist(),
    }
    return pd.concat([kept, added], ignore_index=True), changes


def _fold(word: str) -> str:
    return word.casefold()


def _stem(word: str) -> str:
    """A word compared without case or a plural's s ("Handbags" is "handbag")."""
    return word.casefold().removesuffix("s")


class _Listings:
    """Titles and attributes of a catalog, by category, to write plausible changes from (read
    as of the catalog given: the donors of every change are the products before the refresh)."""

    def __init__(self, catalog: pd.DataFrame):
        self.catalog = catalog
        self.titles = catalog["title"].to_numpy()
        self.categories = catalog["category"].to_numpy()
        self.attributes = catalog["attributes"].to_numpy() if "attributes" in catalog.columns else np.full(len(catalog), None)
        self.by_category = pd.Series(np.arange(len(catalog))).groupby(self.categories).apply(np.asarray)

    def attrs(self, row: int) -> dict:
        raw = self.attributes[row]
        return json.loads(raw) if isinstance(raw, str) and raw else {}

    def protected(self, row: int) -> set[str]:
        """Words that name the product's attributes or category: not to be swapped in or out."""
        words = {_stem(w) for value in self.attrs(row).values() for w in str(value).split()}
        return words | {_stem(w) for w in self.categories[row].replace(CATEGORY_SEPARATOR, " ").split()}

    def donor(self, row: int, rng: np.random.Generator) -> int:
        return int(rng.choice(self.by_category[self.categories[row]]))

    def retitled(self, row: int, rng: np.random.Generator) -> str:
        """The title with one descriptive word (neither the leading brand nor the closing type,
        nor a word naming its attributes or category) swapped for one that another title of
        the category describes with, or, without such a word, that word added before the type;
        unchanged when no word fits."""
        words = self.titles[row].split()
        protected = self.protected(row)
        free = [i for i in range(1, len(words) - 1) if _stem(words[i]) not in protected]
        present = {_stem(w) for w in words}
        for _ in range(DONOR_TRIES if len(words) > 1 else 0):
            donor = self.donor(row, rng)
            described = self.titles[donor].split()[1:-1]
            barred = present | self.protected(donor) | protected
            candidates = [w for w in described if _stem(w) not in barred and w.isalpha()]
            if candidates:
                word = candidates[rng.integers(len(candidates))]
                if free:
                    words[free[rng.integers(len(free))]] = word
                else:
                    words.insert(len(words) - 1, word)
                return " ".join(words)
        return self.titles[row]

    def new_products(self, count: int, seed: int, rng: np.random.Generator) -> pd.DataFrame:
        """New listings modelled on products of the catalog: fresh ids, another brand, and
        another value of an attribute the title names."""
        rows = rng.choice(len(self.catalog), count, replace=True)
        template = self.catalog.iloc[rows].reset_index(drop=True).copy()
        template["product_id"] = [f"new-{seed}-{i}" for i in range(count)]
        listed = [self._new_listing(int(row), rng) for row in rows]
        template["title"] = [title for title, _ in listed]
        if "attributes" in template.columns:
            template["attributes"] = [json.dumps(attrs, sort_keys=True, ensure_ascii=False) for _, attrs in listed]
        return template

    def _new_listing(self, row: int, rng: np.random.Generator) -> tuple[str, dict]:
        words, attrs = self.titles[row].split(), self.attrs(row)
        lead = self.titles[self.donor(row, rng)].split()[0]
        if lead.isalpha() and _stem(lead) not in {_stem(w) for w in words} | self.protected(row):
            words[0] = lead
        named = [k for k, v in attrs.items() if isinstance(v, str) and v and _span(words, v.split()) is not None]
        for key in (named[i] for i in rng.permutation(len(named))):
            span = _span(words, attrs[key].split())
            assert span is not None  # ``named`` holds the attributes the title spells
            start, stop = span
            for _ in range(DONOR_TRIES):
                value = self.attrs(self.donor(row, rng)).get(key)
                rest = {_stem(w) for w in words[:start] + words[stop:]}
                if isinstance(value, str) and value and _fold(value) != _fold(attrs[key]) \
                        and not rest & {_stem(w) for w in value.split()} and len({_stem(w) for w in value.split()}) == len(value.split()):
                    words[start:stop] = value.split()
                    attrs = {**attrs, key: value}
                    return " ".join(words), attrs
        return " ".join(words), attrs


def _span(words: list[str], phrase: list[str]) -> tuple[int, int] | None:
    """Where ``phrase`` stands in ``words`` (ignoring case), first occurrence."""
    folded, target = [_fold(w) for w in words], [_fold(w) for w in phrase]
    for start in range(len(words) - len(target) + 1):
        if folded[start: start + len(target)] == target:
            return start, start + len(target)
    return None


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
