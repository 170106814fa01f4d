"""The catalog snapshot contract: canonical columns, readers for every accepted format,
and the adapter that turns the fashion catalog into snapshots.

A snapshot is an immutable Parquet file of canonical rows under
``catalog/snapshots/{snapshot_id}/`` with a ``manifest.json`` beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from catalog_search.errors import BadInput
from catalog_search.naming import short_hash

REQUIRED_COLUMNS = ("product_id", "title", "category")
OPTIONAL_COLUMNS = ("description", "brand", "price", "currency", "vendor", "attributes")
CANONICAL_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
CATEGORY_SEPARATOR = " > "
READERS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}


class CatalogError(BadInput):
    """The input does not meet the snapshot contract; the message says what, where and how to fix."""


def read_catalog(path: str | Path) -> pd.DataFrame:
    """Read one catalog file, or every accepted file of a folder, into canonical columns."""
    path = Path(path)
    if not path.exists():
        raise CatalogError(f"{path}: no such file or folder")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in READERS) if path.is_dir() else [path]
    if not files:
        raise CatalogError(f"{path}: no catalog files in it (accepted: {', '.join(READERS)})")
    frames = [canonicalize(_read_file(f), source=str(f)) for f in files]
    catalog = pd.concat(frames, ignore_index=True)
    if catalog.empty:
        raise CatalogError(f"{path}: holds no products (an empty snapshot would empty the search index)")
    return catalog


def load_source(path: str | Path) -> pd.DataFrame:
    """The fashion dataset's folder through its adapter, anything else through read_catalog."""
    path = Path(path)
    if (path / "styles.csv").is_file() and (path / "styles_text.csv").is_file():
        return fashion_catalog(path)
    return read_catalog(path)


def _read_file(path: Path) -> pd.DataFrame:
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise CatalogError(f"{path}: unsupported format {path.suffix!r} (accepted: {', '.join(READERS)})")
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        if kind == "csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        return pd.read_json(path, lines=True, dtype=False)
    except UnicodeDecodeError as err:
        raise CatalogError(f"{path}: not valid UTF-8 at byte {err.start}; re-export the file as UTF-8") from None
    except Exception as err:  # pandas/pyarrow raise many types for unreadable input
        raise CatalogError(f"{path}: cannot be read as {kind}: {err}") from None


def canonicalize(frame: pd.DataFrame, source: str = "input") -> pd.DataFrame:
    """Canonical columns in canonical order; unknown columns move into ``attributes``."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise CatalogError(
            f"{source}: missing required column(s) {missing}; found {list(frame.columns)}. "
            f"Rename or map them to the canonical names {list(REQUIRED_COLUMNS)}."
        )
    extras = [c for c in frame.columns if c not in CANONICAL_COLUMNS]
    out = pd.DataFrame(index=frame.index)
    for column in ("product_id", "title", "category", "description", "brand", "currency", "vendor"):
        out[column] = frame[column].map(_as_text) if column in frame.columns else None
    out["price"] = _prices(frame["price"], source) if "price" in frame.columns else float("nan")
    base = frame["attributes"].map(_as_mapping) if "attributes" in frame.columns else [{}] * len(frame)
    attributes = [dict(b) for b in base]
    for column in extras:
        for attrs, value in zip(attributes, frame[column].tolist()):
            if not _blank(value):
                attrs.setdefault(column, value if isinstance(value, (int, float, bool)) else str(value))
    out["attributes"] = [json.dumps(a, sort_keys=True, ensure_ascii=False) for a in attributes]
    return out.reset_index(drop=True)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value == ""


def _as_text(value: object) -> str | None:
    return None if _blank(value) else str(value).strip()


def _as_mapping(value: object) -> dict:
    if _blank(value):
        return {}
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value) if isinstance(value, str) else None
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise CatalogError(f"attributes must be a JSON object, got {str(value)[:80]!r}")
    return parsed


def _prices(column: pd.Series, source: str) -> pd.Series:
    prices = pd.to_numeric(column.replace("", None), errors="coerce")
    bad = column[prices.isna() & ~column.map(_blank)]
    if len(bad):
        raise CatalogError(
            f"{source}: {len(bad)} price value(s) are not numbers, e.g. row {bad.index[0]}: {bad.iloc[0]!r}"
        )
    return prices.astype("float64")


def category_levels(category: pd.Series, level: int | None = None) -> pd.Series:
    """The category path cut to its first ``level`` levels (None: the full path)."""
    if level is None:
        return category
    return category.str.split(CATEGORY_SEPARATOR, regex=False).str[:level].str.join(CATEGORY_SEPARATOR)


def taxonomy_id(category: pd.Series) -> str:
    """A short fingerprint of the set of category paths: the same taxonomy, the same id."""
    return short_hash(*sorted(category.dropna().astype(str).unique()), length=10)


def fashion_catalog(source_dir: str | Path) -> pd.DataFrame:
    """The fashion catalog (styles.csv + row-aligned styles_text.csv) in canonical columns."""
    source_dir = Path(source_dir)
    styles_path, titles_path = source_dir / "styles.csv", source_dir / "styles_text.csv"
    for p in (styles_path, titles_path):
        if not p.is_file():
            raise CatalogError(f"{p}: not found; set CATALOG_SEARCH_SOURCE_DIR to the fashion data folder")
    # The source writes some missing values as the literal "NA", others as empty fields.
    styles = pd.read_csv(styles_path, dtype=str, keep_default_na=False).replace({"NA": ""})
    titles = pd.read_csv(titles_path, dtype=str, keep_default_na=False).replace({"NA": ""})
    if len(styles) != len(titles):
        raise CatalogError(
            f"{titles_path} has {len(titles)} rows but {styles_path} has {len(styles)}: they must be row-aligned"
        )
    frame = pd.DataFrame(
        {
            "product_id": styles["id"],
            "title": titles["productDisplayName"],
            "category": styles["masterCategory"] + CATEGORY_SEPARATOR + styles["subCategory"]
            + CATEGORY_SEPARATOR + styles["articleType"],
            "gender": styles["gender"],
            "colour": styles["baseColour"],
            "season": styles["season"],
            "year": styles["year"],
            "usage": styles["usage"],
        }
    )
    return canonicalize(frame, source=str(source_dir))


def split_rejects(catalog: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows that cannot be searched (no title) are set aside with a reason, not dropped silently."""
    no_title = catalog["title"].isna()
    rejects = catalog[no_title].assign(reason="empty title")
    return catalog[~no_title].reset_index(drop=True), rejects.reset_index(drop=True)
