import collections
import json

import pandas as pd

from catalog_search.sql import catalog_diff
from catalog_search.training.refresh_simulator import RefreshSpec, simulate_refresh

WORDS = ["soft", "slim", "long", "short", "light", "warm", "cool", "red", "green", "blue", "black", "white"]


def _catalog(n=2000):
    categories = ["A > x", "A > y", "B > z", "B > w"]
    return pd.DataFrame({"product_id": [str(i) for i in range(n)],
                         "title": [f"Brand{'abcdefghijklm'[i % 13]} {WORDS[i % 7]} {WORDS[7 + i % 5]} item" for i in range(n)],
                         "category": [categories[i % 4] for i in range(n)], "attributes": ["{}"] * n})


def test_refresh_changes_what_it_says_and_the_diff_agrees(include_dir):
    before = _catalog()
    after, changes = simulate_refresh(before, RefreshSpec(added=0.05, removed=0.02, retitled=0.03, recategorised=0.01, seed=4))
    assert len(changes["removed"]) == 40 and len(changes["added"]) == 100
    diff = catalog_diff(after, before, include_dir)
    assert diff["added"] == 100 and diff["removed"] == 40
    assert diff["retitled"] == len(changes["retitled"]) > 0
    assert diff["recategorised"] == len(changes["recategorised"]) > 0
    assert after["product_id"].is_unique
    moved = after.set_index("product_id").loc[changes["recategorised"], "category"]
    original = before.set_index("product_id").loc[changes["recategorised"], "category"]
    assert (moved.str[0] == original.str[0]).all()  # moved to a sibling (same parent)


def test_refresh_is_deterministic_for_a_seed():
    a, _ = simulate_refresh(_catalog(), RefreshSpec(seed=9))
    b, _ = simulate_refresh(_catalog(), RefreshSpec(seed=9))
    pd.testing.assert_frame_equal(a, b)


def test_diff_reports_new_and_vanished_categories(include_dir):
    before = _catalog(100)
    after = before.copy()
    after.loc[after["category"] == "B > w", "category"] = "C > new"
    diff = catalog_diff(after, before, include_dir)
    assert diff["new_categories"] == 1 and diff["vanished_categories"] == 1
    assert diff["share_in_new_categories"] == 0.25 and diff["share_in_vanished_categories"] == 0.25


BRANDS, COLOURS = ["Puma", "Nike", "Titan", "Lee", "Roadster"], ["Navy Blue", "Black", "White", "Red"]
DESCRIPTORS = ["Printed", "Striped", "Slim", "Solid", "Checked", "Casual"]


def _fashion_like(n=3000):
    rows = []
    for i in range(n):
        gender, colour = ("Men", "Women")[i % 2], COLOURS[i % 4]
        kind = ("Shirts", "Watch", "Handbags")[i % 3]
        rows.append({"product_id": str(i), "title": f"{BRANDS[i % 5]} {gender} {DESCRIPTORS[i % 6]} {colour} {kind}",
                     "category": f"Apparel > Topwear > {kind}",
                     "attributes": json.dumps({"gender": gender, "colour": colour})})
    return pd.DataFrame(rows)


def _repeated(title: str) -> set[str]:
    counts = collections.Counter(w.casefold().removesuffix("s") for w in title.split())
    return {w for w, n in counts.items() if n > 1}


def test_retitles_swap_a_descriptive_word_and_never_repeat_one_or_touch_attributes():
    before = _fashion_like()
    after, changes = simulate_refresh(before, RefreshSpec(added=0, removed=0, retitled=0.1, recategorised=0, seed=3))
    assert len(changes["retitled"]) > 250
    old, new = before.set_index("product_id")["title"], after.set_index("product_id")["title"]
    for pid in changes["retitled"]:
        was, now = old[pid].split(), new[pid].split()
        assert not _repeated(new[pid]), new[pid]
        assert (now[0], now[1], now[-1]) == (was[0], was[1], was[-1])  # brand, gender and type kept
        assert " ".join(was[3:-1]) in new[pid]  # the colour kept
        assert now[2] in DESCRIPTORS and now[2] != was[2]


def test_new_products_are_new_listings_of_their_category():
    before = _fashion_like()
    after, changes = simulate_refresh(before, RefreshSpec(added=0.1, removed=0, retitled=0, recategorised=0, seed=3))
    added = after.set_index("product_id").loc[changes["added"]]
    assert len(added) == 300 and not set(added["title"]) <= set(before["title"])  # not copies
    for title, category, attributes in zip(added["title"], added["category"], added["attributes"].map(json.loads)):
        assert not _repeated(title), title
        assert title.split()[0] in BRANDS and title.endswith(category.rsplit(" > ", 1)[1])
        assert attributes["colour"] in title and attributes["gender"] in title.split()  # title and attributes agree
    listed = {(t, a) for t, a in zip(before["title"], before["attributes"])}
    assert sum((t, a) in listed for t, a in zip(added["title"], added["attributes"])) < 0.5 * len(added)


def test_the_removed_products_are_found_from_the_files_within_a_memory_limit(include_dir, tmp_path, monkeypatch):
    from catalog_search import sql

    monkeypatch.setattr(sql, "MEMORY_LIMIT", "32MB")
    held, catalog = tmp_path / "held.parquet", tmp_path / "catalog.parquet"
    pd.DataFrame({"product_id": [f"p{i:06d}" for i in range(200_000)], "title": "t"}).to_parquet(held)
    pd.DataFrame({"product_id": [f"p{i:06d}" for i in range(3, 200_010)]}).to_parquet(catalog)
    assert sql.removed_products(held, catalog, include_dir, tmp_path / "spill") == ("p000000", "p000001", "p000002")
    assert sql.removed_products(catalog, catalog, include_dir, tmp_path / "spill") == ()
