"""The DuckDB SQL of include/sql/, run over DataFrames registered as views.

The folder comes from the settings (``CATALOG_SEARCH_INCLUDE_DIR``), so an installed package
reads the deployment's include/ wherever it is."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def run(name: str, include_dir: Path, **views: pd.DataFrame) -> pd.DataFrame:
    import duckdb

    with duckdb.connect() as con:
        for view, frame in views.items():
            con.register(view, frame)
        return con.execute((Path(include_dir) / "sql" / f"{name}.sql").read_text()).df()


def catalog_diff(current: pd.DataFrame, previous: pd.DataFrame, include_dir: Path) -> dict:
    """Counts of added, removed, retitled, recategorised products and of new/vanished categories."""
    row = run("catalog_diff", include_dir, current_snapshot=current, previous_snapshot=previous).iloc[0]
    return {k: (float(v) if k.startswith("share") else int(v)) for k, v in row.items()}
