"""The DuckDB SQL of include/sql/, run over DataFrames registered as views."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

SQL_DIR = Path(__file__).resolve().parents[2] / "include" / "sql"


def run(name: str, **views: pd.DataFrame) -> pd.DataFrame:
    import duckdb

    with duckdb.connect() as con:
        for view, frame in views.items():
            con.register(view, frame)
        return con.execute((SQL_DIR / f"{name}.sql").read_text()).df()


def catalog_diff(current: pd.DataFrame, previous: pd.DataFrame) -> dict:
    """Counts of added, removed, retitled, recategorised products and of new/vanished categories."""
    row = run("catalog_diff", current_snapshot=current, previous_snapshot=previous).iloc[0]
    return {k: (float(v) if k.startswith("share") else int(v)) for k, v in row.items()}
