"""Dashboard test fixtures: a small demo-like database and AppTest utilities.

The demo-like database is synthetic but shaped like the real demo (several
clinics and regions, induction + maintenance, no-shows, AEs, a silent clinic,
rejected rows, a clinic without sessions) and is built in well under a second
so every AppTest can use it. Figures are never asserted from it by calling the
code under test; page tests assert structure, empty states and that filters
change what is shown.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.access.current import use_viewer
from dashboard.access.scope import Scope
from dashboard.access.viewer import Viewer
from pipelines.contract import CONDITION_COPIES, TABLES_BY_NAME, schema_ddl
from tests.conftest import number_patients

NETWORK_VIEWER = Viewer("tests@network.example", "Tests", "quality", Scope("network"), ())


@pytest.fixture(autouse=True)
def _network_viewer() -> Iterator[Viewer]:
    """Query functions called outside a Streamlit run see the network (a page run has its own viewer)."""
    with use_viewer(NETWORK_VIEWER) as viewer:
        yield viewer


APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
# The data's last date is yesterday, so freshness (judged against the wall clock, like `ketaops status`) sees
# every clinic fresh except the silent one; periods are relative to the data's last date.
LAST_DATE = date.today() - timedelta(days=1)
CLINICS = [
    # clinic_id, name, region, chairs; C4 has no sessions at all
    ("C1", "Harbor", "North", 4),
    ("C2", "Elm Street", "North", 3),
    ("C3", "Ridge", "South", 5),
    ("C4", "Bayside", "South", 2),
]
SILENT_CLINIC = "C3"  # its newest export is 12 days older than the rest


def _schema_frame(table: str, rows: list[dict]) -> pl.DataFrame:
    cols = TABLES_BY_NAME[table].published_columns
    return pl.DataFrame(
        {name: [r.get(name) for r in rows] for name, _ in cols},
        schema={name: _pl_type(typ) for name, typ in cols},
    )


def _pl_type(duck: str) -> pl.DataType:
    return {
        "VARCHAR": pl.String(),
        "INTEGER": pl.Int32(),
        "DOUBLE": pl.Float64(),
        "DATE": pl.Date(),
        "TIMESTAMP": pl.Datetime("us"),
        "BOOLEAN": pl.Boolean(),
    }[duck]


def build_demo_like_db(path: Path, *, seed: int = 11, days: int = 420) -> Path:
    """Write a deterministic demo-like database at ``path``."""
    rng = random.Random(seed)
    first = LAST_DATE - timedelta(days=days - 1)
    clinics = [
        {
            "clinic_id": cid,
            "clinic_name": name,
            "region": region,
            "opened_on": first - timedelta(days=365),
            "chairs": chairs,
            "hours_per_day": 10.0,
        }
        for cid, name, region, chairs in CLINICS
    ]
    conditions = ["depression", "depression", "ptsd", "anxiety", "chronic_pain"]
    patients, sessions, aes, assessments = [], [], [], []
    for i in range(160):
        cid = rng.choice(["C1", "C1", "C2", "C3", "C3"])
        start = first + timedelta(days=rng.randrange(days - 20))
        key = f"P{i:04d}"
        cond = rng.choice(conditions)
        patients.append(
            {
                "patient_key": key,
                "home_clinic_id": cid,
                "sex": rng.choice("FMX"),
                "age_band": rng.choice(["25-34", "35-44", "45-54"]),
                "primary_condition": cond,
                "enrolled_on": start - timedelta(days=3),
            }
        )
        route = rng.choice(["iv", "iv", "iv", "intranasal"])
        modality = rng.choice(["infusion", "infusion", "kap"])
        n_induction = rng.choice([1, 3, 6, 6, 6])
        offsets = [k * 3 for k in range(n_induction)] + [
            21 + 28 * k for k in range(rng.randrange(0, 8)) if n_induction == 6
        ]
        for j, off in enumerate(offsets):
            day = start + timedelta(days=off)
            if day > LAST_DATE or (cid == SILENT_CLINIC and day > LAST_DATE - timedelta(days=12)):
                break
            if day.weekday() == 6:
                day += timedelta(days=1)
            # C2 "shifts": its no-shows jump in the last four months (a p-chart signal)
            p_no_show = 0.25 if cid == "C2" and day > LAST_DATE - timedelta(days=120) else 0.05
            u = rng.random()
            status = (
                "no_show"
                if u < p_no_show
                else "cancelled"
                if u < p_no_show + 0.05
                else "stopped_early"
                if u < p_no_show + 0.07
                else "completed"
            )
            at = datetime.combine(day, datetime.min.time()) + timedelta(hours=rng.randrange(8, 17))
            sid = f"S{i:04d}-{j:02d}"
            administered = status in ("completed", "stopped_early")
            weight = round(rng.uniform(55, 110), 1)
            dose = round(weight * 0.5, 1) if route == "iv" else 56.0
            sessions.append(
                {
                    "session_id": sid,
                    "patient_key": key,
                    "clinic_id": cid,
                    "scheduled_at": at,
                    "status": status,
                    "phase": "induction" if j < n_induction else "maintenance",
                    "route": route,
                    "modality": modality,
                    "dose_mg": dose if administered else None,
                    "weight_kg": weight if administered and route == "iv" else None,
                    "duration_min": 40 if administered else None,
                    "recovery_min": 45 if administered else None,
                    "bp_sys_max": rng.randrange(120, 185) if administered else None,
                    "spo2_min": rng.randrange(93, 100) if administered else None,
                    "dose_mg_per_kg": round(dose / weight, 3) if administered and route == "iv" else None,
                }
            )
            if administered and rng.random() < 0.08:
                grade = rng.choice([1, 1, 1, 2, 3])
                aes.append(
                    {
                        "ae_id": f"AE-{sid}",
                        "patient_key": key,
                        "clinic_id": cid,
                        "session_id": sid,
                        "onset_at": at + timedelta(minutes=30),
                        "category": rng.choice(["dissociation", "nausea_vomiting", "hypertension"]),
                        "severity_grade": grade,
                        "serious": grade >= 3,
                        "action_taken": "monitored",
                        "outcome": "resolved",
                    }
                )
            if j in (0, 5) and cond == "depression":
                assessments.append(
                    {
                        "assessment_id": f"A-{sid}",
                        "patient_key": key,
                        "clinic_id": cid,
                        "instrument": "phq9",
                        "score": float(rng.randrange(14, 24) if j == 0 else rng.randrange(3, 18)),
                        "assessed_at": at - timedelta(minutes=20),
                        "session_id": sid,
                    }
                )
    sess = _schema_frame("sessions", sessions)
    administered = pl.col("status").is_in(["completed", "stopped_early"])
    # session_number: 1, 2, … over each patient's administered sessions in time order
    numbers = (
        sess.filter(administered)
        .with_columns(pl.col("scheduled_at").rank("ordinal").over("patient_key").cast(pl.Int32).alias("n"))
        .select("session_id", "n")
    )
    sess = (
        sess.drop("session_number").join(numbers, on="session_id", how="left").rename({"n": "session_number"})
    )
    frames = {
        "clinics": _schema_frame("clinics", clinics),
        "patients": _schema_frame("patients", patients),
        "sessions": sess.select([c for c, _ in TABLES_BY_NAME["sessions"].published_columns]),
        "assessments": _schema_frame("assessments", assessments),
        "adverse_events": _schema_frame("adverse_events", aes),
    }
    # the loader copies each patient's condition onto their sessions and AEs
    conditions = frames["patients"].select("patient_key", "primary_condition")
    for table in CONDITION_COPIES:
        frames[table] = (
            frames[table]
            .drop("primary_condition")
            .join(conditions, on="patient_key", how="left")
            .select([c for c, _ in TABLES_BY_NAME[table].published_columns])
        )
    refreshed = datetime.combine(LAST_DATE + timedelta(days=1), datetime.min.time()) + timedelta(hours=6)
    runs = pl.DataFrame(
        {
            "run_id": ["r1", "r2", "r3"],
            "started_at": [refreshed - timedelta(days=2), refreshed - timedelta(days=1), refreshed],
            "finished_at": [
                refreshed - timedelta(days=2, minutes=-1),
                refreshed - timedelta(days=1),
                refreshed,
            ],
            "status": ["succeeded", "failed", "succeeded"],
            "files_read": [10, 2, 3],
            "files_skipped": [0, 8, 9],
            "rows_loaded": [len(sessions), 0, 40],
            "rows_rejected": [5, 0, 2],
            "redactions": [1, 0, 0],
            "message": ["first load", "exports folder unreadable", "ok"],
        }
    )
    freshness = pl.DataFrame(
        {
            "clinic_id": ["C1", "C2", "C3", "C4"],
            "newest_data_date": [LAST_DATE, LAST_DATE, LAST_DATE - timedelta(days=12), None],
            "last_file_at": [refreshed, refreshed, refreshed - timedelta(days=12), None],
            "last_file": ["C1/sessions.csv", "C2/sessions.csv", "C3/sessions.csv", None],
        },
        schema_overrides={"newest_data_date": pl.Date, "last_file_at": pl.Datetime("us")},
    )
    rejected = pl.DataFrame(
        {
            "run_id": ["r1"] * 5 + ["r3"] * 2,
            "table_name": ["sessions"] * 4 + [None, "adverse_events", "sessions"],
            "source_file": ["C1/sessions.csv"] * 3
            + ["C2/sessions.csv", "C2/notes.csv"]
            + ["C1/ae.csv", "C3/s.csv"],
            "row_number": [4, 9, 12, 2, None, 7, 3],
            "reason": [
                "out_of_range",
                "invalid_enum",
                "out_of_range",
                "unknown_fk",
                "identifier_column",
                "grade_not_serious",
                "missing_required",
            ],
            "column_name": [
                "weight_kg",
                "status",
                "dose_mg",
                "patient_key",
                "email",
                "serious",
                "scheduled_at",
            ],
            "value": ["900", "done", "5000", "PX", None, "false", ""],
            "raw_record": ["…", "…", "…", "…", None, "…", "…"],
            "message": ["weight_kg 900 outside 25..350"] * 7,
        },
        schema_overrides={"row_number": pl.Int64},
    )
    files = pl.DataFrame(
        {
            "path": ["C1/sessions.csv", "C2/sessions.csv", "C3/s.csv"],
            "content_hash": ["a", "b", "c"],
            "table_name": ["sessions"] * 3,
            "rows_read": [100, 80, 60],
            "rows_loaded": [97, 79, 59],
            "rows_rejected": [3, 1, 1],
            "duplicates_collapsed": [0, 0, 0],
            "unknown_columns": ["", "", ""],
            "status": ["loaded"] * 3,
            "run_id": ["r1", "r1", "r3"],
            "seen_at": [refreshed] * 3,
            "file_mtime": [refreshed] * 3,
        }
    )
    con = duckdb.connect(str(path))
    try:
        for ddl in schema_ddl():
            con.execute(ddl)
        for name, frame in {
            **frames,
            "refresh_runs": runs,
            "clinic_freshness": freshness,
            "rejected_rows": rejected,
            "source_files": files,
        }.items():
            con.register("frame", frame)
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM frame")
            con.unregister("frame")
        number_patients(con)
    finally:
        con.close()
    return path


def build_empty_db(path: Path) -> Path:
    """The published schema with no data rows and one refresh run (a refresh over an empty folder)."""
    con = duckdb.connect(str(path))
    try:
        for ddl in schema_ddl():
            con.execute(ddl)
        con.execute(
            "INSERT INTO refresh_runs VALUES ('r0', TIMESTAMP '2026-07-01 06:00', "
            "TIMESTAMP '2026-07-01 06:01', 'succeeded', 0, 0, 0, 0, 0, 'empty exports folder')"
        )
    finally:
        con.close()
    return path


@pytest.fixture
def deferred(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], bytes]]:
    """file name → the callable a download button runs on click (Streamlit builds big files lazily)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    seen: dict[str, Callable[[], bytes]] = {}
    original = MediaFileManager.add_deferred

    def spy(self, data_callable, mimetype, coordinates, file_name=None, **kw):  # type: ignore[no-untyped-def]
        seen[file_name or ""] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name=file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    return seen


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    """Streamlit's caches live in the process: a test reading another database or config must
    not be served the previous test's results (use with ``pytest.mark.usefixtures``)."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(scope="session")
def demo_like_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_like_db(tmp_path_factory.mktemp("demo-like") / "ketaops.duckdb")


@pytest.fixture(scope="session")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_empty_db(tmp_path_factory.mktemp("empty") / "ketaops.duckdb")


@pytest.fixture
def absent_db(tmp_path: Path) -> Path:
    return tmp_path / "not-yet.duckdb"


@pytest.fixture
def app_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., AppTest]]:
    """``app_at(db, page=None, **query)`` → an AppTest of the whole app, already run once."""

    def _open(db: Path, page: str | None = None, **query: str | list[str]) -> AppTest:
        monkeypatch.setenv("KETAOPS_DB", str(db))
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.query_params.update(query)
        at.run()
        if page:
            at.switch_page(page).run()
        return at

    yield _open


def texts(at: AppTest) -> str:
    """All visible text of a run (markdown, captions, alerts, titles) for content assertions."""
    parts: list[str] = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "info",
        "warning",
        "error",
        "success",
    ):
        parts += [str(getattr(el, "value", "")) for el in at.get(kind)]
    parts += [str(el.value) for el in at.sidebar.get("markdown")]
    return "\n".join(parts)


def chart_specs(at: AppTest) -> list[dict]:
    """The Plotly figures of a run, as JSON specs."""
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def own_title(spec: dict) -> str:
    """A figure's title without the period/scope lines ``show_figure`` writes under it."""
    return spec["layout"].get("title", {}).get("text", "").split("<br><span ")[0]


def chart_titles(at: AppTest) -> list[str]:
    return [own_title(spec) for spec in chart_specs(at)]


def metric_values(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def sql_value(db: Path, sql: str, params: list | None = None) -> object:
    """An independent answer straight from the database, to compare with what a page shows."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchone()[0]
    finally:
        con.close()


def frame_with(at: AppTest, *columns: str):  # -> pandas.DataFrame
    """The first table shown whose columns include ``columns`` (plain tables have no key in AppTest)."""
    for el in at.dataframe:
        value = el.value
        if all(c in value.columns for c in columns):
            return value
    raise AssertionError(f"no table with columns {columns}")
