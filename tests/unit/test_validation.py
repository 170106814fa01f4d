import pandas as pd
import pytest

from catalog_search.catalog import canonicalize
from catalog_search.validation import ValidationFailed, require, snapshot_expectations, validate


def _catalog(**overrides):
    frame = pd.DataFrame({"product_id": ["1", "2", "3"], "title": ["Red Shirt", "Blue Jeans", "Black Bag"],
                          "category": ["A > Shirts", "A > Jeans", "B > Bags"], "price": ["1", "2", "3"]})
    for column, values in overrides.items():
        frame[column] = values
    return canonicalize(frame)


def test_a_clean_snapshot_passes():
    report = validate(_catalog(), "catalog_snapshot", "test", snapshot_expectations)
    assert report.success, report.summary()
    assert require(report) is report


def test_duplicate_ids_fail_with_counts_and_examples():
    report = validate(_catalog(product_id=["1", "1", "3"]), "catalog_snapshot", "mem://dup", snapshot_expectations)
    assert not report.success
    with pytest.raises(ValidationFailed) as failure:
        require(report)
    message = str(failure.value)
    assert "mem://dup" in message
    assert "FAIL expect_column_values_to_be_unique(column=product_id): 2 row(s) break it" in message


def test_empty_titles_absurd_lengths_and_negative_prices_fail():
    frame = _catalog(title=["ok", None, "x" * 5000], price=["1", "-4", "2"])
    failed = {r.rule.split("(")[0] for r in validate(frame, "catalog_snapshot", "t", snapshot_expectations).results if not r.success}
    assert failed == {
        "expect_column_values_to_not_be_null",
        "expect_column_value_lengths_to_be_between",
        "expect_column_values_to_be_between",
    }
