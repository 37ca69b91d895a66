"""Per-clinic data freshness and the stale rule, shared by ``ketaops status`` and the dashboard.

One definition, so the monitor's exit code, the Data page's table and the header's stale list
always agree. A clinic is open on ``today`` unless closed_on ≤ today. An open clinic is stale
when its newest data (or, without data, its opening date) is more than ``stale_days`` days
before ``today``. Closed clinics are never stale.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from pipelines.model.config import MetricConfig


def clinic_freshness(
    con: duckdb.DuckDBPyConnection, today: date, stale_days: int = MetricConfig.stale_days
) -> pl.DataFrame:
    """Per clinic: newest data date, last file arrival, days since data and the stale flag.

    Stale clinics first, then by clinic_id.
    """
    return con.sql(
        _FRESHNESS_SQL + " ORDER BY stale DESC, c.clinic_id", params=_params(today, stale_days)
    ).pl()


_FRESHNESS_SQL = """
        SELECT c.clinic_id, c.clinic_name, c.region, c.opened_on, c.closed_on,
               (c.closed_on IS NULL OR c.closed_on > CAST(? AS DATE)) AS is_open,
               f.newest_data_date,
               date_diff('day', f.newest_data_date, CAST(? AS DATE)) AS days_since_data,
               f.last_file_at, f.last_file,
               coalesce((c.closed_on IS NULL OR c.closed_on > CAST(? AS DATE))
                        AND coalesce(f.newest_data_date, c.opened_on) < CAST(? AS DATE) - CAST(? AS INTEGER),
                        FALSE) AS stale
        FROM clinics c LEFT JOIN clinic_freshness f USING (clinic_id)"""


def _params(today: date, stale_days: int) -> list[object]:
    return [today, today, today, today, stale_days]
