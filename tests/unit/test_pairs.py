import numpy as np
import pandas as pd
import pytest

from catalog_search.training.pairs import PairSpec, allocate, sample_pairs, split_products, stable_hash

SIZES = {"A > x": 400, "A > y": 200, "A > z": 100, "B > u": 50, "B > v": 20, "C > w": 5, "C > solo": 1}


@pytest.fixture(scope="module")
def catalog():
    rng = np.random.default_rng(0)
    category = np.repeat(list(SIZES), list(SIZES.values()))
    ids = rng.permutation(len(category)).astype(str)
    return pd.DataFrame({"product_id": ids, "category": category})


def _sample(catalog, **kw):
    return sample_pairs(catalog, PairSpec(**{"pairs": 3000, **kw}))


def _category(catalog):
    return catalog.set_index("product_id")["category"]


def test_no_self_pairs_and_no_duplicates_in_either_order(catalog):
    pairs = _sample(catalog, hard_negative_share=0.5).pairs
    assert (pairs["product_id_0"] != pairs["product_id_1"]).all()
    low = pairs[["product_id_0", "product_id_1"]].min(axis=1)
    high = pairs[["product_id_0", "product_id_1"]].max(axis=1)
    assert not pd.DataFrame({"low": low, "high": high}).duplicated().any()


def test_labels_match_categories_and_hard_negatives_are_siblings(catalog):
    pairs = _sample(catalog, hard_negative_share=0.5).pairs
    cat = _category(catalog)
    c0, c1 = cat.loc[pairs["product_id_0"]].to_numpy(), cat.loc[pairs["product_id_1"]].to_numpy()
    assert ((c0 == c1) == (pairs["label"] == 1)).all()
    hard = pairs["hard"].to_numpy()
    parent = lambda c: np.array([x.split(" > ")[0] for x in c])  # noqa: E731
    assert (parent(c0[hard]) == parent(c1[hard])).all() and (c0[hard] != c1[hard]).all()


@pytest.mark.parametrize("positive_share", [0.2, 0.5, 0.8])
def test_budget_and_label_balance(catalog, positive_share):
    sample = _sample(catalog, positive_share=positive_share)
    assert abs(len(sample.pairs) - 3000) <= 3
    assert sample.pairs["label"].mean() == pytest.approx(positive_share, abs=0.01)
    assert sample.report["positive_share"] == pytest.approx(positive_share, abs=0.01)


def test_hard_negative_share_is_reached(catalog):
    report = _sample(catalog, hard_negative_share=0.3).report
    assert report["hard_negative_share"] == pytest.approx(0.3, abs=0.03)


def test_no_product_in_two_splits(catalog):
    pairs = _sample(catalog).pairs
    seen = {split: set(part["product_id_0"]) | set(part["product_id_1"]) for split, part in pairs.groupby("split")}
    assert not seen["train"] & seen["test"] and not seen["train"] & seen["validation"] and not seen["validation"] & seen["test"]


@pytest.mark.parametrize("allocation", ["proportional", "sqrt", "uniform"])
def test_positives_per_category_follow_the_allocation(catalog, allocation):
    report = _sample(catalog, pairs=6000, allocation=allocation).report
    rows = {r["category"]: r for r in report["per_category"]}
    big, mid = rows["A > x"], rows["A > y"]
    expected_ratio = {"proportional": 2.0, "sqrt": 2 ** 0.5, "uniform": 1.0}[allocation]
    assert big["achieved_positives"] / mid["achieved_positives"] == pytest.approx(expected_ratio, rel=0.15)
    for row in report["per_category"]:  # achieved within 2% (or 2 pairs) of target
        assert abs(row["achieved_positives"] - row["target_positives"]) <= max(2, 0.02 * row["target_positives"])


def test_the_floor_gives_small_categories_positives_and_singletons_are_reported(catalog):
    report = _sample(catalog, pairs=6000, min_per_category=8).report
    rows = {r["category"]: r for r in report["per_category"]}
    assert rows["C > w"]["achieved_positives"] >= 4  # 5 products spread over splits: capacity bound
    assert rows["C > solo"]["achieved_positives"] == 0
    assert report["single_product_categories"] == ["C > solo"]


def test_category_level_coarsens_what_counts_as_same(catalog):
    pairs = _sample(catalog, level=1).pairs
    parent = catalog.set_index("product_id")["category"].str.split(" > ").str[0]
    same = parent.loc[pairs["product_id_0"]].to_numpy() == parent.loc[pairs["product_id_1"]].to_numpy()
    assert (same == (pairs["label"] == 1)).all()


def test_deterministic_for_a_seed_and_different_across_seeds(catalog):
    pd.testing.assert_frame_equal(_sample(catalog, seed=5).pairs, _sample(catalog, seed=5).pairs)
    assert not _sample(catalog, seed=5).pairs.equals(_sample(catalog, seed=6).pairs)


def test_split_is_stable_across_snapshots_and_order(catalog):
    spec = PairSpec(validation_share=0.1, test_share=0.2)
    split = pd.Series(split_products(catalog["product_id"], spec), index=catalog["product_id"])
    shuffled = catalog.sample(frac=1.0, random_state=1).iloc[50:]  # reordered, some products gone
    again = pd.Series(split_products(shuffled["product_id"], spec), index=shuffled["product_id"])
    assert (split.loc[again.index] == again).all()
    shares = split.value_counts(normalize=True)
    assert shares[2] == pytest.approx(0.2, abs=0.05) and shares[1] == pytest.approx(0.1, abs=0.05)


def test_stable_hash_is_fixed_and_seeded():
    ids = pd.Series(["15970", "a-much-longer-product-identifier-0001", ""])
    assert stable_hash(ids, 1).tolist() == stable_hash(ids.copy(), 1).tolist()
    assert len(set(stable_hash(ids, 1).tolist())) == 3
    assert stable_hash(ids, 1).tolist() != stable_hash(ids, 2).tolist()


def test_allocation_respects_capacity_and_budget():
    sizes = np.array([1000, 10, 3, 1])
    out = allocate(sizes, 500, "proportional", floor=5)
    assert out.sum() == 500 and out[3] == 0 and out[2] == 3  # 3 products: only 3 distinct pairs
    assert allocate(sizes, 2, "uniform", floor=5).sum() == 2


def test_bad_specs_are_rejected():
    for kwargs, message in [({"positive_share": 1.5}, "positive_share"), ({"pairs": 0}, "pairs"),
                            ({"allocation": "zipf"}, "allocation"), ({"level": 0}, "level"),
                            ({"hard_negative_share": -0.1}, "hard_negative_share")]:
        with pytest.raises(ValueError, match=message):
            PairSpec(**kwargs)
