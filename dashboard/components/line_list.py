"""The adverse-event line list: URL-bound filters, a sortable table, downloads, one event in detail.

The shared sidebar filters (period, region, clinics, condition, route,
modality) select the scope; the AE filters here narrow it. Every filter
claims a URL parameter (``url_state``, key = parameter name, all prefixed
``ae_`` so no other page's parameter is reused), so a review can be
bookmarked and shared. The table shows the newest ``MAX_TABLE_ROWS`` rows;
downloads hold every filtered row, after a header block naming the filters
and the data date (``dashboard/exports.py``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl
import streamlit as st

from dashboard import exports, queries
from dashboard.access import recorder
from dashboard.access.current import current_viewer
from dashboard.access.viewer import Permission
from dashboard.components import line_list_reviews, tables, url_state
from dashboard.components.labels import EARLIER, MISSING
from dashboard.components.labels import label as words
from dashboard.components.page import PageContext
from dashboard.components.safe_text import md
from dashboard.metrics.filters import Filters
from dashboard.metrics.safety import AeFilters, ae_filter_options
from pipelines.model.config import MetricConfig

MAX_TABLE_ROWS = 5_000
# URL parameter names (= widget keys) of the line-list filters.
PARAMS = (
    "ae_category",
    "ae_grade",
    "ae_serious",
    "ae_action",
    "ae_outcome",
    "ae_dose",
    "ae_session",
    "ae_q",
    "ae_review",
)
SERIOUS = {"any": "Any", "serious": "Serious only", "not_serious": "Not serious only"}
SESSION_BANDS = {"1-3": "first three (1-3)", "4+": "fourth or later (4+)"}  # others keep their own words
GRADES = {"1": "1 mild", "2": "2 moderate", "3": "3 severe", "4": "4 life-threatening", "5": "5 death"}
# Columns of the on-screen table (downloads carry every line-list column): when and where first,
# pinned, so a narrow screen keeps them in view while the rest scroll sideways.
TABLE_COLUMNS = (
    "onset_at",
    "clinic_name",
    "category",
    "severity_grade",
    "serious",
    "review_status",
    "action_taken",
    "outcome",
    "description",
    "primary_condition",
    "route",
    "modality",
    "dose_mg_per_kg",
    "session_number",
    "patient_key",
    "ae_id",
)


def scope_header(ctx: PageContext) -> list[tuple[str, str]]:
    """The shared filters and the data date, for a download's header block."""
    state = ctx.state
    assert state is not None
    f = state.filters
    names = state.clinic_names
    every = set(names) == set(f.clinic_ids)
    newest = ctx.as_of.get("newest_data_date")
    return [
        ("data as of", f"{newest:%Y-%m-%d}" if isinstance(newest, (date, datetime)) else str(newest or "")),
        ("period", f"{f.start:%Y-%m-%d} to {f.end:%Y-%m-%d}"),
        (
            "clinics",
            "all"
            if every and not f.regions
            else "; ".join(f"{names.get(c, c)} ({c})" for c in f.clinic_ids) or "none",
        ),
        ("region", ", ".join(f.regions) or "all"),
        ("condition", ", ".join(f.conditions) or "all"),
        ("route", ", ".join(f.routes) or "all"),
        ("modality", ", ".join(f.modalities) or "all"),
    ]


def ae_header(ae: AeFilters) -> list[tuple[str, str]]:
    """The AE filters of a line-list download, in the header block's words."""
    serious = "any" if ae.serious is None else ("serious" if ae.serious else "not serious")
    return [
        ("category", ", ".join(ae.categories) or "all"),
        ("severity grade", ", ".join(str(g) for g in ae.severity_grades) or "all"),
        ("serious", serious),
        ("action taken", ", ".join(ae.actions) or "all"),
        ("outcome", ", ".join(ae.outcomes) or "all"),
        ("dose band (mg/kg)", ", ".join(ae.dose_bands) or "all"),
        ("session number", ", ".join(ae.session_bands) or "all"),
        ("description contains", ae.search or "(no search)"),
    ]


def session_band(band: str) -> str:
    return SESSION_BANDS.get(band, band)


def ae_filter_widgets() -> AeFilters:
    """Render the AE filters (bound to the URL) and return them."""
    options = ae_filter_options()
    with st.container(border=True):
        c1, c2, c3, c4 = st.columns(4)
        categories = c1.multiselect(
            "Category",
            list(options["categories"]),
            format_func=words,
            key=url_state.choices("ae_category", list(options["categories"]), words),
            placeholder="All categories",
        )
        grades = c2.multiselect(
            "Severity grade",
            list(options["severity_grades"]),
            format_func=GRADES.__getitem__,
            key=url_state.choices("ae_grade", list(options["severity_grades"]), GRADES.__getitem__),
            placeholder="All grades",
        )
        serious = c3.selectbox(
            "Serious",
            list(SERIOUS),
            format_func=SERIOUS.__getitem__,
            key=url_state.choice("ae_serious", list(SERIOUS), next(iter(SERIOUS)), SERIOUS.__getitem__),
        )
        actions = c4.multiselect(
            "Action taken",
            list(options["actions"]),
            format_func=words,
            key=url_state.choices("ae_action", list(options["actions"]), words, EARLIER),
            placeholder="All actions",
        )
        c1, c2, c3, c4 = st.columns(4)
        outcomes = c1.multiselect(
            "Outcome",
            list(options["outcomes"]),
            format_func=words,
            key=url_state.choices("ae_outcome", list(options["outcomes"]), words),
            placeholder="All outcomes",
            help="'Unknown' also matches an event with no outcome recorded.",
        )
        doses = c2.multiselect(
            "Dose band (mg/kg)",
            list(options["dose_bands"]),
            key=url_state.choices("ae_dose", list(options["dose_bands"])),
            placeholder="All doses",
            help="Dose per kg of the event's session; intranasal doses are not weight-based.",
        )
        sessions = c3.multiselect(
            "Session number",
            list(options["session_bands"]),
            format_func=session_band,
            key=url_state.choices("ae_session", list(options["session_bands"]), session_band),
            placeholder="All sessions",
            help="The patient's administered session number, network-wide.",
        )
        search = c4.text_input(
            "Description contains",
            key=url_state.text("ae_q"),
            placeholder="e.g. headache, 185/112",
            help="Case-insensitive search in the (redacted) free-text description. Press Enter to apply.",
        )
    return AeFilters(
        categories=tuple(categories),
        severity_grades=tuple(int(g) for g in grades),
        serious=None if serious in (None, "any") else serious == "serious",
        actions=tuple(actions),
        outcomes=tuple(outcomes),
        dose_bands=tuple(doses),
        session_bands=tuple(sessions),
        search=(search or "").strip(),
    )


def render(ctx: PageContext, f: Filters) -> None:
    """The whole line-list section."""
    ae = ae_filter_widgets()
    wanted = line_list_reviews.review_filter()
    rows = line_list_reviews.with_review_status(queries.line_list(f, ae), f.clinic_ids, wanted)
    total = rows.height
    shown = rows.head(MAX_TABLE_ROWS)
    if total > MAX_TABLE_ROWS:
        st.warning(
            f"**{total:,} adverse events match.** The table shows the newest {MAX_TABLE_ROWS:,}; "
            "the downloads hold all of them. Narrow the filters to browse the rest.",
            icon=":material/filter_list:",
        )
    else:
        st.markdown(f"**{total:,} adverse event(s) match** these filters.")
    header = scope_header(ctx) + ae_header(ae) + line_list_reviews.header(wanted)
    if current_viewer().can(Permission.ROW_DOWNLOADS):
        _downloads(rows, f, ae, header)
    else:
        st.caption(":material/lock: Downloading the line list needs the quality role.")
    if total == 0:
        st.caption("No adverse events match. Clear some of the filters above or in the sidebar.")
        return
    event = tables.grid(
        shown.select(TABLE_COLUMNS),
        key="ae_table",
        on_select="rerun",
        selection_mode="single-row",
        height=420,
        column_config={
            "onset_at": st.column_config.DatetimeColumn("Onset", format="YYYY-MM-DD HH:mm", pinned=True),
            "clinic_name": st.column_config.TextColumn("Clinic", pinned=True),
            "category": "Category",
            "severity_grade": st.column_config.NumberColumn("Grade", format="%d"),
            "serious": st.column_config.CheckboxColumn("Serious"),
            "review_status": "Review",
            "action_taken": "Action",
            "outcome": "Outcome",
            "description": st.column_config.TextColumn("Description", width="large"),
            "primary_condition": "Condition",
            "route": "Route",
            "modality": "Modality",
            "dose_mg_per_kg": st.column_config.NumberColumn("mg/kg", format="%.2f"),
            "session_number": st.column_config.NumberColumn("Session no.", format="%d"),
            "patient_key": "Patient (pseudonym)",
            "ae_id": "AE id",
        },
    )
    st.caption("Click a column header to sort the shown rows; **select a row** to see the event in detail.")
    picked = event.selection.rows if event is not None else []
    if picked and picked[0] < shown.height:
        if not current_viewer().can(Permission.ROW_DETAIL):
            st.info("Opening an event in detail needs the quality role.", icon=":material/lock:")
            return
        row = shown.row(picked[0], named=True)
        recorder.event_opened(recorder.current_page(), str(row["ae_id"]), f)
        event_detail(f, ctx.cfg, row)


def _downloads(rows: pl.DataFrame, f: Filters, ae: AeFilters, header: list[tuple[str, str]]) -> None:
    """CSV and Excel of every filtered row; each download is audited (rows, filters)."""
    total = rows.height
    # Callables: the file is built only when a button is clicked, not on every rerun of a 1M-row list.
    title = "KetaOps adverse-event line list"
    stamp = f"{f.start:%Y%m%d}-{f.end:%Y%m%d}"
    d1, d2, _ = st.columns([1, 1, 3])
    with d1:
        st.download_button(
            "Download CSV",
            data=lambda: exports.to_csv(rows, title=title, header=header),
            file_name=f"ketaops-ae-line-list-{stamp}.csv",
            mime="text/csv",
            key="ae_download_csv",
            icon=":material/download:",
            disabled=total == 0,
            on_click=recorder.download,
            args=(recorder.current_page(), f"ketaops-ae-line-list-{stamp}.csv", total, f),
            kwargs={"ae_filters": dict(ae_header(ae))},
            help="Every filtered row; '# ' lines at the top name the filters and the data date.",
        )
    with d2:
        too_big = total > exports.EXCEL_MAX_ROWS
        st.download_button(
            "Download Excel",
            data=lambda: exports.to_excel(rows, title=title, header=header, sheet="line list"),
            file_name=f"ketaops-ae-line-list-{stamp}.xlsx",
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            key="ae_download_xlsx",
            icon=":material/table:",
            disabled=total == 0 or too_big,
            on_click=recorder.download,
            args=(recorder.current_page(), f"ketaops-ae-line-list-{stamp}.xlsx", total, f),
            kwargs={"ae_filters": dict(ae_header(ae))},
            help=f"More than {exports.EXCEL_MAX_ROWS:,} rows: use the CSV (Excel would take minutes)."
            if too_big
            else "Every filtered row; the filters and data date in the first rows.",
        )


def _height(rows: int) -> int:
    """Fit a short table, scroll a long one."""
    return min(36 * (rows + 1) + 3, 320)


def _value(v: Any, fmt: str = "{}", unit: str = "") -> str:
    return "–" if v is None else fmt.format(v) + unit


def _word(code: str | None) -> str:
    """A code's label in a sentence; an en dash when it is missing."""
    return MISSING if code is None else words(code)


def _flag(crossed: bool) -> str:
    return " ⚠️" if crossed else ""


def event_detail(f: Filters, cfg: MetricConfig, row: dict[str, Any]) -> None:
    """One event with its session's dose, duration and vitals, and the same patient's course."""
    with st.container(border=True, key="ae_detail"):
        serious = " · **serious**" if row["serious"] else ""
        st.markdown(
            f"#### {words(row['category'])} · grade {row['severity_grade']}{serious}\n"
            f"{md(row['ae_id'])} at **{md(row['clinic_name'])}** on {row['onset_at']:%Y-%m-%d %H:%M} · "
            f"patient {md(row['patient_key'])} ({words(row['primary_condition'] or 'unknown condition')})"
        )
        c1, c2, c3 = st.columns(3)
        c1.markdown(
            "**Event**\n\n"
            f"- action: {words(row['action_taken'])}\n"
            f"- outcome: {words(row['outcome'] or 'not recorded')}\n"
            f"- description: {md(row['description'])}"
        )
        if row["session_id"] is None:
            c2.markdown("**Session**\n\nNo session recorded for this event.")
        else:
            c2.markdown(
                "**Session**\n\n"
                f"- {md(row['session_id'])}, {row['scheduled_at']:%Y-%m-%d %H:%M}, {_word(row['status'])}\n"
                f"- {_word(row['phase'])}, session no. {_value(row['session_number'])}, "
                f"{_word(row['route'])}, {_word(row['modality'])}\n"
                f"- dose {_value(row['dose_mg'], '{:g}', ' mg')}"
                f" ({_value(row['dose_mg_per_kg'], '{:.2f}', ' mg/kg')}, weight "
                f"{_value(row['weight_kg'], '{:g}', ' kg')})\n"
                f"- duration {_value(row['duration_min'], '{}', ' min')}"
            )
            sys_, dia, hr, spo2 = row["bp_sys_max"], row["bp_dia_max"], row["hr_max"], row["spo2_min"]
            high_bp = (sys_ is not None and sys_ >= cfg.bp_sys_max) or (
                dia is not None and dia >= cfg.bp_dia_max
            )
            low_spo2 = spo2 is not None and spo2 < cfg.spo2_min
            c3.markdown(
                "**Vitals (session maxima)**\n\n"
                f"- BP {_value(sys_)}/{_value(dia)} mmHg{_flag(high_bp)}\n"
                f"- heart rate {_value(hr, '{}', ' /min')}{_flag(hr is not None and hr >= cfg.hr_max)}\n"
                f"- lowest SpO₂ {_value(spo2, '{}', '%')}{_flag(low_spo2)}\n\n"
                f"⚠️ = excursion (BP ≥ {cfg.bp_sys_max}/{cfg.bp_dia_max}, HR ≥ {cfg.hr_max}, "
                f"SpO₂ < {cfg.spo2_min})"
            )
        history = queries.patient_history(f, row["patient_key"])
        sessions = history["sessions"].with_columns(
            this=pl.when(pl.col("session_id") == (row["session_id"] or ""))
            .then(pl.lit("●"))
            .otherwise(pl.lit(""))
        )
        events = history["adverse_events"].with_columns(
            this=pl.when(pl.col("ae_id") == row["ae_id"]).then(pl.lit("●")).otherwise(pl.lit(""))
        )
        st.markdown(
            f"**This patient's course** at clinics you can see, all dates: "
            f"{sessions.height} session(s), {events.height} adverse event(s). ● marks this event."
        )
        with st.container():
            tables.grid(
                sessions.select(
                    "this",
                    "scheduled_at",
                    "clinic_id",
                    "status",
                    "phase",
                    "session_number",
                    "route",
                    "dose_mg_per_kg",
                    "duration_min",
                    "bp_sys_max",
                    "bp_dia_max",
                    "hr_max",
                    "spo2_min",
                    "ae_count",
                ),
                key="ae_patient_sessions",
                height=_height(sessions.height),
                column_config={
                    "this": st.column_config.TextColumn("", width="small", pinned=True),
                    "scheduled_at": st.column_config.DatetimeColumn(
                        "Scheduled", format="YYYY-MM-DD HH:mm", pinned=True
                    ),
                    "clinic_id": "Clinic",
                    "status": "Status",
                    "phase": "Phase",
                    "session_number": st.column_config.NumberColumn("No.", format="%d"),
                    "route": "Route",
                    "dose_mg_per_kg": st.column_config.NumberColumn("mg/kg", format="%.2f"),
                    "duration_min": st.column_config.NumberColumn("Min", format="%d"),
                    "bp_sys_max": st.column_config.NumberColumn("BP sys", format="%d"),
                    "bp_dia_max": st.column_config.NumberColumn("BP dia", format="%d"),
                    "hr_max": st.column_config.NumberColumn("HR", format="%d"),
                    "spo2_min": st.column_config.NumberColumn("SpO₂", format="%d"),
                    "ae_count": st.column_config.NumberColumn("AEs", format="%d"),
                },
            )
        with st.container():
            tables.grid(
                events.select(
                    "this",
                    "onset_at",
                    "category",
                    "severity_grade",
                    "serious",
                    "action_taken",
                    "outcome",
                    "description",
                ),
                key="ae_patient_events",
                height=_height(events.height),
                column_config={
                    "this": st.column_config.TextColumn("", width="small", pinned=True),
                    "onset_at": st.column_config.DatetimeColumn(
                        "Onset", format="YYYY-MM-DD HH:mm", pinned=True
                    ),
                    "category": "Category",
                    "severity_grade": st.column_config.NumberColumn("Grade", format="%d"),
                    "serious": st.column_config.CheckboxColumn("Serious"),
                    "action_taken": "Action",
                    "outcome": "Outcome",
                    "description": "Description",
                },
            )
