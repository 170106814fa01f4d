import json

import pandas as pd
import pytest

from catalog_search.training.catalog import CatalogError, canonicalize, category_levels, fashion_catalog, read_catalog, split_rejects


def test_fashion_adapter_maps_the_real_catalog(fashion_dir):
    catalog = fashion_catalog(fashion_dir)
    assert len(catalog) == 44_446
    assert catalog["product_id"].is_unique
    first = catalog.iloc[0]
    assert first["title"] == "Turtle Check Men Navy Blue Shirt"
    assert first["category"] == "Apparel > Topwear > Shirts"
    assert json.loads(first["attributes"]) == {
        "colour": "Navy Blue", "gender": "Men", "season": "Fall", "usage": "Casual", "year": "2011",
    }
    # The source's "NA" markers are missing values, not colours or usages.
    assert not any('"NA"' in a for a in catalog["attributes"])


def test_products_without_title_are_set_aside_with_a_reason(fashion_dir):
    accepted, rejected = split_rejects(fashion_catalog(fashion_dir))
    assert len(rejected) == 7 and set(rejected["reason"]) == {"empty title"}
    assert len(accepted) == 44_446 - 7 and accepted["title"].notna().all()


def test_unknown_columns_become_attributes():
    frame = pd.DataFrame({"product_id": ["1"], "title": ["Red Shirt"], "category": ["A > B"], "colour": ["Red"]})
    out = canonicalize(frame)
    assert json.loads(out.loc[0, "attributes"]) == {"colour": "Red"}
    assert "colour" not in out.columns


def test_missing_required_column_names_the_fix():
    with pytest.raises(CatalogError, match=r"missing required column\(s\) \['category'\]"):
        canonicalize(pd.DataFrame({"product_id": ["1"], "title": ["x"]}))


def test_non_numeric_price_is_reported_with_its_row():
    frame = pd.DataFrame({"product_id": ["1", "2"], "title": ["a", "b"], "category": ["c", "c"], "price": ["3.5", "cheap"]})
    with pytest.raises(CatalogError, match="1 price value"):
        canonicalize(frame)


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_every_accepted_format_reads_to_the_same_rows(tmp_path, suffix):
    frame = pd.DataFrame({"product_id": ["1", "2"], "title": ["Red Shirt", "Blue Jeans"],
                          "category": ["Apparel > Topwear", "Apparel > Bottomwear"], "price": [10.0, 20.5]})
    path = tmp_path / f"catalog.{suffix}"
    {"csv": lambda: frame.to_csv(path, index=False), "jsonl": lambda: frame.to_json(path, orient="records", lines=True),
     "parquet": lambda: frame.to_parquet(path)}[suffix]()
    out = read_catalog(path)
    assert out["product_id"].tolist() == ["1", "2"]
    assert out["price"].tolist() == [10.0, 20.5]


def test_bad_encoding_and_unknown_format_get_clear_errors(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("product_id,title,category\n1,Caf\xe9,A\n".encode("latin-1"))
    with pytest.raises(CatalogError, match="not valid UTF-8"):
        read_catalog(latin)
    spreadsheet = tmp_path / "c.xlsx"
    spreadsheet.touch()
    with pytest.raises(CatalogError, match="unsupported format"):
        read_catalog(spreadsheet)
    with pytest.raises(CatalogError, match="no such file"):
        read_catalog(tmp_path / "missing.csv")


def test_category_levels_cut_the_path():
    paths = pd.Series(["Apparel > Topwear > Shirts", "Footwear > Shoes"])
    assert category_levels(paths, 1).tolist() == ["Apparel", "Footwear"]
    assert category_levels(paths, 2).tolist() == ["Apparel > Topwear", "Footwear > Shoes"]
