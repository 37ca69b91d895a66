"""Write tables like real drops: monthly files for past months, daily files for the current month."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from pipelines.contract import TABLES_BY_NAME, Kind
from pipelines.demo.generate import DATE_COL

POLARS_TYPES: dict[Kind, pl.DataType] = {
    "text": pl.String(),
    "enum": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us"),
    "bool": pl.Boolean(),
}


def typed(table: str, df: pl.DataFrame) -> pl.DataFrame:
    """The contract's columns cast to their types (other columns kept)."""
    t = TABLES_BY_NAME[table]
    return df.with_columns(pl.col(c.name).cast(POLARS_TYPES[c.kind]) for c in t.columns)


def write_frame(df: pl.DataFrame, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        df.write_parquet(path, compression="zstd", statistics=False)
    else:
        df.write_csv(path, date_format="%Y-%m-%d", datetime_format="%Y-%m-%dT%H:%M")


def write_partitioned(
    table: str, df: pl.DataFrame, folder: Path, daily_from: date, fmt: str, drop: tuple[str, ...] = ()
) -> list[Path]:
    """``{table}_YYYY-MM`` before ``daily_from``, ``{table}_YYYY-MM-DD`` from it on.

    ``drop``: contract columns the files leave out (a clinic on an older contract version).
    """
    part = (
        pl.when(pl.col(DATE_COL) < daily_from)
        .then(pl.col(DATE_COL).dt.strftime("%Y-%m"))
        .otherwise(pl.col(DATE_COL).dt.strftime("%Y-%m-%d"))
    )
    key = TABLES_BY_NAME[table].key
    columns = [c for c in TABLES_BY_NAME[table].column_names if c not in drop]
    df = typed(table, df.sort(DATE_COL, key)).with_columns(part.alias("_part"))
    written = []
    for (label,), chunk in df.partition_by("_part", as_dict=True, maintain_order=True).items():
        path = folder / f"{table}_{label}.{fmt}"
        write_frame(chunk.select(columns), path, fmt)
        written.append(path)
    return written
