import numpy as np
import pandas as pd
import pytest

from catalog_search.pairs import PairSpec, sample_pairs, split_products


@pytest.fixture(scope="module")
def catalog():
    rng = np.random.default_rng(0)
    sizes = [400, 200, 100, 50, 20, 5, 1]
    category = np.repeat([f"cat{i}" for i in range(len(sizes))], sizes)
    ids = rng.permutation(len(category)).astype(str)
    return pd.DataFrame({"product_id": ids, "category": category})


def _pairs(catalog, **kw):
    return sample_pairs(catalog, catalog["category"], PairSpec(**{"pairs": 3000, **kw}))


def test_no_self_pairs_and_no_duplicates_in_either_order(catalog):
    pairs = _pairs(catalog)
    assert (pairs["product_id_0"] != pairs["product_id_1"]).all()
    key = pairs[["product_id_0", "product_id_1"]].apply(lambda r: tuple(sorted(r)), axis=1)
    assert key.is_unique


def test_labels_match_categories(catalog):
    pairs = _pairs(catalog)
    cat = catalog.set_index("product_id")["category"]
    same = cat.loc[pairs["product_id_0"]].to_numpy() == cat.loc[pairs["product_id_1"]].to_numpy()
    assert (same == (pairs["label"] == 1)).all()


def test_budget_and_positive_share(catalog):
    pairs = _pairs(catalog, positive_share=0.3)
    assert abs(len(pairs) - 3000) <= 3
    assert pairs["label"].mean() == pytest.approx(0.3, abs=0.01)


def test_no_product_in_two_splits(catalog):
    pairs = _pairs(catalog)
    seen = {}
    for split, part in pairs.groupby("split"):
        seen[split] = set(part["product_id_0"]) | set(part["product_id_1"])
    assert not seen["train"] & seen["test"] and not seen["train"] & seen["validation"] and not seen["validation"] & seen["test"]


def test_positives_follow_category_sizes(catalog):
    pairs = _pairs(catalog, pairs=6000)
    train = pairs[(pairs["split"] == "train") & (pairs["label"] == 1)]
    cat = catalog.set_index("product_id")["category"]
    counts = cat.loc[train["product_id_0"]].value_counts()
    # cat0 holds twice the products of cat1, so about twice the positives
    assert counts["cat0"] / counts["cat1"] == pytest.approx(2.0, rel=0.2)
    assert "cat6" not in counts  # a one-product category cannot give positives


def test_deterministic_for_a_seed(catalog):
    pd.testing.assert_frame_equal(_pairs(catalog, seed=5), _pairs(catalog, seed=5))
    assert not _pairs(catalog, seed=5).equals(_pairs(catalog, seed=6))


def test_split_is_by_product_and_roughly_the_asked_shares(catalog):
    split = split_products(catalog["product_id"], PairSpec(validation_share=0.1, test_share=0.2))
    shares = split.value_counts(normalize=True)
    assert shares["test"] == pytest.approx(0.2, abs=0.05) and shares["validation"] == pytest.approx(0.1, abs=0.05)


def test_bad_specs_are_rejected():
    with pytest.raises(ValueError, match="positive_share"):
        PairSpec(positive_share=1.5)
    with pytest.raises(ValueError, match="pairs"):
        PairSpec(pairs=0)
