import pandas as pd
import pytest

from catalog_search.training.catalog import canonicalize
from catalog_search.training.pairs import PairSpec, sample_pairs
from catalog_search.validation import (
    ValidationFailed,
    pairs_expectations,
    pairs_frame,
    require,
    snapshot_expectations,
    validate,
)


def _catalog(**overrides):
    frame = pd.DataFrame({"product_id": ["1", "2", "3"], "title": ["Red Shirt", "Blue Jeans", "Black Bag"],
                          "category": ["A > Shirts", "A > Jeans", "B > Bags"], "price": ["1", "2", "3"]})
    for column, values in overrides.items():
        frame[column] = values
    return canonicalize(frame)


def _failed(report):
    return {r.rule.split("(")[0] for r in report.results if not r.success}


def test_a_clean_snapshot_passes_and_writes_data_docs(tmp_path):
    report = validate(_catalog(), "catalog_snapshot", "test", snapshot_expectations(), docs_dir=tmp_path / "docs")
    assert report.success, report.summary()
    assert require(report) is report
    assert (tmp_path / "docs" / "index.html").is_file()
    assert list((tmp_path / "docs" / "validations").rglob("*.html"))
    assert "Data Docs: " in report.summary()


def test_duplicate_ids_fail_with_counts_and_examples():
    report = validate(_catalog(product_id=["1", "1", "3"]), "catalog_snapshot", "mem://dup", snapshot_expectations())
    with pytest.raises(ValidationFailed) as failure:
        require(report)
    message = str(failure.value)
    assert "mem://dup" in message
    assert "FAIL expect_column_values_to_be_unique(column=product_id): 2 row(s) break it, e.g. ['1', '1']" in message


def test_empty_titles_absurd_lengths_negative_prices_and_empty_levels_fail():
    frame = _catalog(title=["ok", None, "x" * 5000], price=["1", "-4", "2"], category=["A > B", "A >  > C", "B"])
    assert _failed(validate(frame, "catalog_snapshot", "t", snapshot_expectations())) == {
        "expect_column_values_to_not_be_null",
        "expect_column_value_lengths_to_be_between",
        "expect_column_values_to_be_between",
        "expect_column_values_to_not_match_regex",
    }


def test_row_count_must_stay_within_tolerance_of_the_previous_snapshot():
    frame = _catalog()
    assert validate(frame, "s", "t", snapshot_expectations(previous_rows=3, row_tolerance=0.1)).success
    report = validate(frame, "s", "t", snapshot_expectations(previous_rows=10, row_tolerance=0.1))
    assert _failed(report) == {"expect_table_row_count_to_be_between"}
    assert "observed 3" in report.summary()


@pytest.fixture(scope="module")
def sampled():
    category = ["A > x"] * 60 + ["A > y"] * 40 + ["B > z"] * 30
    catalog = pd.DataFrame({"product_id": [str(i) for i in range(130)], "category": category})
    return sample_pairs(catalog, PairSpec(pairs=400, hard_negative_share=0.3)).pairs, catalog.set_index("product_id")["category"]


def test_sampled_pairs_pass_the_pairs_suite(sampled):
    pairs, category = sampled
    report = validate(pairs_frame(pairs, category), "pairs", "t", pairs_expectations(0.5))
    assert report.success, report.summary()


def test_pairs_suite_catches_every_defect(sampled):
    pairs, category = sampled
    bad = pairs.copy()
    bad.loc[0, "product_id_1"] = bad.loc[0, "product_id_0"]                # a self-pair
    bad.loc[1, "label"] = 1 - bad.loc[1, "label"]                          # a label that lies
    bad = pd.concat([bad, bad.iloc[[5]].rename(columns={"product_id_0": "product_id_1", "product_id_1": "product_id_0"})])  # duplicate, swapped
    leaked = bad.iloc[[6]].assign(split="test" if bad.iloc[6]["split"] != "test" else "train")
    bad = pd.concat([bad, leaked], ignore_index=True)                      # a product in two splits
    failed = _failed(validate(pairs_frame(bad, category), "pairs", "t", pairs_expectations(0.9)))
    assert failed == {
        "expect_column_mean_to_be_between", "expect_column_values_to_be_in_set",
        "expect_column_pair_values_to_be_equal", "expect_compound_columns_to_be_unique",
    }
    report = validate(pairs_frame(bad, category), "pairs", "t", pairs_expectations(0.9))
    broken_sets = [r.rule for r in report.results if not r.success and r.rule.startswith("expect_column_values_to_be_in_set")]
    assert any("self_pair" in r for r in broken_sets) and any("leaks_across_splits" in r for r in broken_sets)
