import pandas as pd

from catalog_search.refresh import RefreshSpec, simulate_refresh
from catalog_search.sql import catalog_diff


def _catalog(n=2000):
    categories = ["A > x", "A > y", "B > z", "B > w"]
    return pd.DataFrame({"product_id": [str(i) for i in range(n)],
                         "title": [f"brand{i % 13} item {i % 7} colour{i % 5}" for i in range(n)],
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
