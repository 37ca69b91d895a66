"""The suicidal-ideation safety signal for the quality team: patients whose C-SSRS ideation rose
to 3 or more after day 0 (``dashboard.metrics.outcomes.ideation``). A line list, shown in full."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import queries
from dashboard.components import tables
from dashboard.components.labels import label
from dashboard.metrics.filters import Filters
from pipelines.model.outcome_rules import IDEATION_SIGNAL


def render(f: Filters) -> None:
    st.subheader("Suicidal ideation signal")
    st.caption(
        f"Depression and bipolar-depression patients whose C-SSRS ideation rose to {IDEATION_SIGNAL} or "
        "more after day 0 (above their baseline, or with none), by the date of that score; the clinic is "
        "the patient's day-0 clinic. For review with the treating team."
    )
    signals = queries.ideation_signals(f)
    if signals.is_empty():
        st.info("No patient's ideation rose to the signal level in the period.", icon=":material/check:")
        return
    st.markdown(f"**{signals.height:,} patient(s)**")
    shown = signals.with_columns(pl.col("condition").map_elements(label, return_dtype=pl.String))
    tables.table(
        shown.select(
            "rose_at", "clinic_name", "patient_key", "condition", "day0", "baseline", "rose_to", "peak_after"
        ),
        key="ideation_signal",
        rose_at=st.column_config.DatetimeColumn("Rose on", format="YYYY-MM-DD HH:mm"),
        clinic_name="Clinic",
        patient_key="Patient (pseudonym)",
        condition="Condition",
        day0=st.column_config.DatetimeColumn("Day 0", format="YYYY-MM-DD"),
        baseline=tables.number("Baseline", "%g"),
        rose_to=tables.number("Rose to", "%g"),
        peak_after=tables.number("Highest after day 0", "%g"),
    )
    tables.csv_download(
        signals,
        label="Download ideation signal (CSV)",
        file_name=f"ketaops-ideation-signal-{f.start:%Y%m%d}-{f.end:%Y%m%d}.csv",
        key="ideation_signal_download",
    )
