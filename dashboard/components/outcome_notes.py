"""The words beside every outcome figure: who is not in it yet (maturing) and who never will be
(below caseness at baseline), a suppressed count said as such."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.components import tables
from dashboard.components.labels import label
from pipelines.model.outcome_rules import RULES


def side_counts(maturing: int | None, below_caseness: int | None, k: int) -> str:
    """ "+ 240 maturing, not yet evaluable · 12 below caseness" (a suppressed count: "suppressed")."""

    def count(n: int | None) -> str:
        return f"suppressed (n < {k})" if n is None else f"{n:,}"

    return f"+ {count(maturing)} maturing, not yet evaluable · {count(below_caseness)} below caseness"


def outcome_table(summary: pl.DataFrame, k: int, key: str) -> None:
    """Primary instruments' response and remission with who is not in them (``outcome_summary`` rows)."""
    if summary.is_empty() or "response" not in summary.columns:
        st.info("No new patients with an outcome instrument in the period.", icon=":material/info:")
        return
    hidden = f"suppressed (n < {k})"

    def shown(v: object, fmt: str, suppressed: bool = False) -> str:
        return hidden if suppressed else "–" if v is None else format(v, fmt)

    rows = []
    for r in summary.filter(pl.col("is_primary")).iter_rows(named=True):
        rows.append(
            {
                "Condition": label(r["condition"]),
                "Instrument": RULES[r["instrument"]].label,
                "Evaluable": shown(r.get("response_denominator"), ",", r["response_denominator"] is None),
                "Response": shown(r.get("response"), ".0%", bool(r.get("response_suppressed"))),
                "Remission": "no rule"
                if "remission" not in r or RULES[r["instrument"]].remission_op is None
                else shown(r.get("remission"), ".0%", bool(r.get("remission_suppressed"))),
                "Not yet evaluable": side_counts(r["maturing"], r["below_caseness"], k),
            }
        )
    st.caption(
        "Cohort = patients whose day 0 is in the period and at this clinic; evaluable = mature (day 0 "
        "≥ 42 days before the data's last date) with a baseline at or above caseness. The Outcomes page "
        "has the detail."
    )
    tables.table(pl.DataFrame(rows), key=key)
