"""ketaops demo-data: determinism, contract conformance, planted signals, incremental drops, dirty input.

Expected values are computed here from the written files with independent
code (Polars aggregations, scipy's Poisson quantiles), never by calling the
generator's own statistics.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from scipy.stats import poisson

from pipelines.cli import main
from pipelines.contract import (
    ADMINISTERED_STATUSES,
    FILE_LEVEL_REASONS,
    INSTRUMENTS,
    MAX_DOSE_MG_PER_KG,
    REASONS,
    TABLES,
    TABLES_BY_NAME,
    UNREAD_REASONS,
    table_for_file,
)
from pipelines.model.config import MetricConfig

END = date(2026, 11, 24)
SMALL = ["--clinics", "4", "--years", "0.5", "--end", END.isoformat(), "--seed", "11"]
DATA_TABLES = ("patients", "sessions", "assessments", "adverse_events")


def _run(out: Path, *args: str) -> dict:
    assert main(["demo-data", "--out", str(out), *args]) == 0
    return json.loads((out / "MANIFEST.json").read_text())


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _clean_files(root: Path) -> Iterator[Path]:
    for p in sorted(root.rglob("*.csv")):
        if p.relative_to(root).parts[0] != "dirty":
            yield p


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo")
    return out, _run(out, *SMALL, "--dirty")


@pytest.fixture(scope="module")
def tables(demo: tuple[Path, dict]) -> dict[str, pl.DataFrame]:
    """Every clean file read as text (so the checks below do their own parsing), by table."""
    root, _ = demo
    parts: dict[str, list[pl.DataFrame]] = {t.name: [] for t in TABLES}
    for p in _clean_files(root):
        table = table_for_file(p.name)
        assert table is not None, p
        df = pl.read_csv(p, infer_schema=False).with_columns(_file=pl.lit(p.relative_to(root).as_posix()))
        parts[table.name].append(df)
    return {name: pl.concat(dfs) for name, dfs in parts.items()}


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    args = ["--clinics", "3", "--years", "0.25", "--end", "2026-03-10", "--seed", "3", "--dirty"]
    _run(tmp_path / "a", *args)
    _run(tmp_path / "b", *args)
    a, b = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert len(a) > 30 and a == b
    _run(tmp_path / "c", *args[:-1], "--seed", "4")
    assert _hashes(tmp_path / "c")["clinics.csv"] != a["clinics.csv"]  # the seed matters


def test_parquet_is_deterministic_and_typed(tmp_path: Path) -> None:
    args = ["--clinics", "2", "--years", "0.2", "--end", "2026-03-10", "--format", "parquet"]
    _run(tmp_path / "a", *args)
    _run(tmp_path / "b", *args)
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    sessions = pl.read_parquet(next((tmp_path / "a").glob("CLN-*/sessions_*.parquet")))
    assert sessions.columns == TABLES_BY_NAME["sessions"].column_names
    assert sessions.schema["scheduled_at"] == pl.Datetime("us") and sessions.schema["dose_mg"] == pl.Float64


def test_layout_monthly_then_daily_files(demo: tuple[Path, dict]) -> None:
    root, manifest = demo
    assert (root / "clinics.csv").is_file()
    fresh = next(c["clinic_id"] for c in manifest["clinics"] if c["role"] != "silent")
    names = {p.name for p in (root / fresh).iterdir()}
    # Months before November 2026 are monthly files; November 2026 (the month of --end) is daily.
    assert "sessions_2026-10.csv" in names and "sessions_2026-11-24.csv" in names
    assert not any(n.startswith("sessions_2026-11.") for n in names)
    assert manifest["arguments"]["end"] == END.isoformat()


def test_every_clean_file_follows_the_contract(tables: dict[str, pl.DataFrame]) -> None:
    for table in TABLES:
        df = tables[table.name]
        assert df.height > 0, table.name
        assert [c for c in df.columns if c != "_file"] == table.column_names
        assert df[table.key].n_unique() == df.height, f"{table.name}: duplicate keys"
        administered = (
            df["status"].is_in(ADMINISTERED_STATUSES)
            if table.name == "sessions"
            else pl.repeat(False, df.height)
        )
        iv_im = administered & df["route"].is_in(["iv", "im"]) if table.name == "sessions" else administered
        for col in table.columns:
            s = df[col.name]
            need = {"always": True, "administered": administered, "administered_iv_im": iv_im}.get(
                col.required
            )
            if need is True:
                assert s.null_count() == 0, (table.name, col.name)
            elif need is not None:
                assert s.filter(need).null_count() == 0, (table.name, col.name)
            given = s.drop_nulls()
            if col.enum:
                assert set(given.unique()) <= set(col.enum), (table.name, col.name)
            if col.kind in ("int", "float"):
                num = given.cast(pl.Float64)  # strict: raises on anything unparsable
                if col.kind == "int":
                    assert (num == num.floor()).all(), (table.name, col.name)
                if col.minimum is not None:
                    assert num.min() >= col.minimum, (table.name, col.name)
                if col.maximum is not None:
                    assert num.max() <= col.maximum, (table.name, col.name)
            if col.kind == "date":
                given.str.strptime(pl.Date, "%Y-%m-%d", strict=True)
            if col.kind == "timestamp":
                given.str.strptime(pl.Datetime, "%Y-%m-%dT%H:%M", strict=True)
            if col.kind == "bool":
                assert set(given.unique()) <= {"true", "false"}


def test_cross_column_rules_and_foreign_keys(tables: dict[str, pl.DataFrame]) -> None:
    s, a, e = tables["sessions"], tables["assessments"], tables["adverse_events"]
    assert (s["dose_mg"].drop_nulls().cast(pl.Float64) > 0).all()
    iv_im = s.filter(pl.col("weight_kg").is_not_null())
    per_kg = iv_im["dose_mg"].cast(pl.Float64) / iv_im["weight_kg"].cast(pl.Float64)
    assert per_kg.max() <= MAX_DOSE_MG_PER_KG
    scored = a.with_columns(pl.col("score").cast(pl.Float64))
    for inst, (lo, hi) in INSTRUMENTS.items():
        sc = scored.filter(pl.col("instrument") == inst)["score"]
        assert sc.len() > 0, inst  # every instrument is used
        assert lo <= sc.min() and sc.max() <= hi, inst
    grade = e["severity_grade"].cast(pl.Int64)
    assert (e.filter(grade >= 4)["serious"] == "true").all()
    # seriousness follows what happened: grade 4 or a transfer to the ED, never a mild or settled event
    serious = (grade >= 4) | (e["action_taken"] == "transferred_ed")
    assert (e["serious"] == "true").to_list() == serious.to_list()
    assert (e.filter(grade <= 2)["serious"] == "false").all()
    assert (e.filter(pl.col("description").str.contains("(?i)mild|settled"))["serious"] == "false").all()
    assert e.filter(pl.col("description") == "Mild nausea, settled").height > 0
    # diastolic below systolic, before dosing and at the peak
    bp = s.select(pl.col("bp_sys_pre", "bp_sys_max", "bp_dia_pre", "bp_dia_max").cast(pl.Int64)).drop_nulls()
    assert bp.height > 0
    assert (bp["bp_dia_pre"] < bp["bp_sys_pre"]).all() and (bp["bp_dia_max"] < bp["bp_sys_max"]).all()
    clinics = set(tables["clinics"]["clinic_id"])
    patients = set(tables["patients"]["patient_key"])
    sessions = set(s["session_id"])
    assert set(tables["patients"]["home_clinic_id"]) <= clinics
    for df in (s, a, e):
        assert set(df["patient_key"]) <= patients and set(df["clinic_id"]) <= clinics
    assert set(a["session_id"].drop_nulls()) <= sessions
    assert set(e["session_id"].drop_nulls()) <= sessions
    # Records sit in the file of their own date: monthly label = YYYY-MM prefix, daily = the date.
    for df, col in ((s, "scheduled_at"), (a, "assessed_at"), (e, "onset_at")):
        label = df["_file"].str.extract(r"_(\d{4}-\d{2}(?:-\d{2})?)\.csv$")
        assert (df[col].str.starts_with(label)).all()


def test_realistic_operations(tables: dict[str, pl.DataFrame]) -> None:
    s = tables["sessions"].with_columns(at=pl.col("scheduled_at").str.strptime(pl.Datetime, "%Y-%m-%dT%H:%M"))
    assert (s["at"].dt.weekday() != 7).all()  # closed on Sundays
    no_show = (s["status"] == "no_show").mean()
    assert 0.05 <= no_show <= 0.12
    assert 0.02 <= (s["status"] == "cancelled").mean() <= 0.06
    adm = s.filter(pl.col("status").is_in(ADMINISTERED_STATUSES))
    mix = adm["route"].value_counts(normalize=True)
    assert set(mix["route"]) == {"iv", "im", "intranasal"} and set(adm["modality"]) == {"infusion", "kap"}
    nasal = adm.filter(pl.col("route") == "intranasal")
    assert (
        set(nasal["dose_mg"].cast(pl.Float64)) <= {56.0, 84.0}
        and nasal["weight_kg"].null_count() == nasal.height
    )
    iv = adm.filter((pl.col("route") == "iv") & (pl.col("status") == "completed"))
    per_kg = iv["dose_mg"].cast(pl.Float64) / iv["weight_kg"].cast(pl.Float64)
    assert 0.45 <= per_kg.median() <= 0.8 and per_kg.quantile(0.99) <= 1.05
    assert 0 < ((per_kg < 0.4) | (per_kg > 1.0)).mean() < 0.05  # some iv doses outside protocol
    vit = adm.select(
        pl.col(c).cast(pl.Float64) for c in ("bp_sys_pre", "bp_sys_max", "bp_dia_pre", "bp_dia_max")
    )
    rise_sys = (vit["bp_sys_max"] - vit["bp_sys_pre"]).mean()
    rise_dia = (vit["bp_dia_max"] - vit["bp_dia_pre"]).mean()
    assert 13 <= rise_sys <= 20 and 8 <= rise_dia <= 14  # domain.md: mean peak +16/+11 mmHg
    # Induction: of patients whose first administered session is >= 42 days before the end,
    # about 20% stop after the first and almost half do not reach 6 within 42 days.
    first = adm.group_by("patient_key").agg(first=pl.col("at").min())
    ind = (
        adm.filter(pl.col("phase") == "induction")
        .join(first, on="patient_key")
        .filter(pl.col("first") <= pl.lit(END - timedelta(days=42)).cast(pl.Datetime))
        .filter(pl.col("at") <= pl.col("first") + pl.duration(days=42))
        .group_by("patient_key")
        .len()
    )
    assert 0.15 <= (ind["len"] == 1).mean() <= 0.32
    assert 0.35 <= (ind["len"] < 6).mean() <= 0.6
    assert (adm["phase"] == "maintenance").mean() > 0.1
    e = tables["adverse_events"]
    per_100 = 100 * e.height / adm.height
    assert 8 <= per_100 <= 30
    assert (e["severity_grade"].cast(pl.Int64) <= 2).mean() > 0.85 and (e["serious"] == "true").mean() < 0.05
    assert e["description"].null_count() == 0 and e["description"].str.len_chars().max() < 80


def test_outcomes_near_registry_figures(tables: dict[str, pl.DataFrame]) -> None:
    """PHQ-9 response/remission per metrics.md windows ≈ ORKA-1 (53.6% / 28.9%)."""
    s = tables["sessions"].filter(pl.col("status").is_in(ADMINISTERED_STATUSES))
    ts = pl.col("at")
    first = (
        s.with_columns(at=pl.col("scheduled_at").str.strptime(pl.Datetime, "%Y-%m-%dT%H:%M"))
        .group_by("patient_key")
        .agg(day0=ts.min())
    )
    depressed = tables["patients"].filter(
        pl.col("primary_condition").is_in(["depression", "bipolar_depression"])
    )
    q = (
        tables["assessments"]
        .filter(pl.col("instrument") == "phq9")
        .with_columns(
            at=pl.col("assessed_at").str.strptime(pl.Datetime, "%Y-%m-%dT%H:%M"),
            score=pl.col("score").cast(pl.Float64),
        )
        .join(first, on="patient_key")
        .join(depressed.select("patient_key"), on="patient_key")
    )
    base = (
        q.filter((ts <= pl.col("day0")) & (ts >= pl.col("day0") - pl.duration(days=30)))
        .sort("at")
        .group_by("patient_key")
        .agg(b=pl.col("score").last())
    )
    endp = (
        q.filter((ts > pl.col("day0")) & (ts <= pl.col("day0") + pl.duration(days=42)))
        .sort("at")
        .group_by("patient_key")
        .agg(e=pl.col("score").last())
    )
    ev = base.join(endp, on="patient_key").filter(pl.col("b") > 0)
    assert ev.height > 300
    response = (ev["e"] <= 0.5 * ev["b"]).mean()
    remission = (ev["e"] < 5).mean()
    assert 0.46 <= response <= 0.62, response
    assert 0.21 <= remission <= 0.37, remission
    # Every condition with a primary instrument has patients scored on it; follow-ups reach 60–120 days.
    late = q.filter(ts >= pl.col("day0") + pl.duration(days=60))
    assert late.height > 0
    assert set(tables["patients"]["primary_condition"]) == set(
        TABLES_BY_NAME["patients"].by_name["primary_condition"].enum or ()
    )


def test_planted_ae_outlier_is_above_the_998_funnel(
    tables: dict[str, pl.DataFrame], demo: tuple[Path, dict]
) -> None:
    _, manifest = demo
    adm = (
        tables["sessions"]
        .filter(pl.col("status").is_in(ADMINISTERED_STATUSES))
        .group_by("clinic_id")
        .len("n")
    )
    ae = tables["adverse_events"].group_by("clinic_id").len("ae")
    per = adm.join(ae, on="clinic_id")
    theta = per["ae"].sum() / per["n"].sum()  # network target θ0
    per = per.with_columns(expected=pl.col("n") * theta)
    per = per.with_columns(
        upper998=pl.col("expected").map_elements(
            lambda m: float(poisson.ppf(0.999, m)), return_dtype=pl.Float64
        )
    )
    outlier = manifest["signals"]["ae_outlier"]["clinic_id"]
    row = per.filter(pl.col("clinic_id") == outlier).row(0, named=True)
    assert row["ae"] > row["upper998"]
    rest = per.filter(pl.col("clinic_id") != outlier)
    assert (row["ae"] / row["n"]) / (rest["ae"].sum() / rest["n"].sum()) > 1.6


def test_planted_no_show_shift_is_an_spc_run(
    tables: dict[str, pl.DataFrame], demo: tuple[Path, dict]
) -> None:
    _, manifest = demo
    clinic = manifest["signals"]["no_show_shift"]["clinic_id"]
    weekly = (
        tables["sessions"]
        .filter(pl.col("clinic_id") == clinic)
        .with_columns(
            week=pl.col("scheduled_at").str.strptime(pl.Datetime, "%Y-%m-%dT%H:%M").dt.truncate("1w")
        )
        .group_by("week")
        .agg(n=pl.len(), ns=(pl.col("status") == "no_show").sum())
        .sort("week")
    )
    base = weekly.head(12)
    p_bar = base["ns"].sum() / base["n"].sum()  # centre line from the first 12 weeks
    above = (weekly["ns"] / weekly["n"] > p_bar).to_list()
    run = 0
    for flag in reversed(above[:-1]):  # the last (partial) week is ignored
        if not flag:
            break
        run += 1
    assert run >= 7, (p_bar, weekly.tail(14))
    recent = weekly.filter(pl.col("week") >= pl.lit(END - timedelta(days=84)).cast(pl.Datetime))
    assert recent["ns"].sum() / recent["n"].sum() > p_bar + 0.05


def test_planted_silent_clinic_and_fresh_others(
    tables: dict[str, pl.DataFrame], demo: tuple[Path, dict]
) -> None:
    root, manifest = demo
    silent = manifest["signals"]["silent"]["clinic_id"]
    for folder in sorted(root.glob("CLN-*")):
        newest = max(p.stem.split("_")[-1] for p in folder.iterdir())
        if folder.name == silent:
            assert date.fromisoformat(newest) in (END - timedelta(days=14), END - timedelta(days=15))
        else:
            assert date.fromisoformat(newest) >= END - timedelta(days=2)  # Mon–Sat clinics
    last = tables["sessions"].filter(pl.col("clinic_id") == silent)["scheduled_at"].max()
    assert last is not None and last[:10] == manifest["signals"]["silent"]["last_data_date"]


def test_planted_excursions_without_ae(tables: dict[str, pl.DataFrame], demo: tuple[Path, dict]) -> None:
    _, manifest = demo
    cfg = MetricConfig()
    s = tables["sessions"].filter(pl.col("status").is_in(ADMINISTERED_STATUSES))
    v = {c: pl.col(c).cast(pl.Int64) for c in ("bp_sys_max", "bp_dia_max", "hr_max", "spo2_min")}
    exc = s.filter(
        (v["bp_sys_max"] >= cfg.bp_sys_max)
        | (v["bp_dia_max"] >= cfg.bp_dia_max)
        | (v["hr_max"] >= cfg.hr_max)
        | (v["spo2_min"] < cfg.spo2_min)
    )
    # an excursion is reported only by an AE of its own kind (metrics.md "Safety")
    aes = tables["adverse_events"].filter(pl.col("session_id").is_not_null())

    def reported(category: str) -> set[str]:
        return set(aes.filter(pl.col("category") == category)["session_id"])

    kinds = {
        "hypertension": (v["bp_sys_max"] >= cfg.bp_sys_max) | (v["bp_dia_max"] >= cfg.bp_dia_max),
        "tachycardia": v["hr_max"] >= cfg.hr_max,
        "respiratory_depression": v["spo2_min"] < cfg.spo2_min,
    }
    without = sorted(
        {
            sid
            for category, crossed in kinds.items()
            for sid in set(exc.filter(crossed)["session_id"]) - reported(category)
        }
    )
    assert len(without) > 5
    assert without == manifest["signals"]["excursions_without_ae"]["session_ids"]
    assert 0.005 < exc.height / s.height < 0.04  # ~1% severe hypertension plus rarer HR/SpO2 excursions


def test_incremental_end_plus_one_only_adds_files(tmp_path: Path) -> None:
    common = ["--clinics", "3", "--years", "0.3", "--start", "2026-07-01", "--seed", "5", "--dirty"]
    _run(tmp_path / "a", *common, "--end", "2026-10-20")
    _run(tmp_path / "b", *common, "--end", "2026-10-21")
    a, b = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    a.pop("MANIFEST.json"), b.pop("MANIFEST.json")
    changed = [k for k in a if a[k] != b.get(k)]
    assert changed == []
    added = sorted(set(b) - set(a))
    assert added and all(k.endswith("_2026-10-21.csv") for k in added)
    assert {k.split("/")[1].rsplit("_", 1)[0] for k in added} >= {"sessions", "assessments"}


def test_dirty_manifest_covers_every_reason(demo: tuple[Path, dict]) -> None:
    root, manifest = demo
    dirty = manifest["dirty"]
    row_reasons = {r for per_table in dirty["row_rejects"].values() for r in per_table}
    file_reasons = {f["reason"] for f in dirty["file_rejects"]}
    # files that are never read (links, special files, read errors) are about the file system,
    # not a file's content: tests/pipelines/test_unread_files.py plants them
    assert row_reasons | file_reasons == set(REASONS) - UNREAD_REASONS
    assert file_reasons == FILE_LEVEL_REASONS - UNREAD_REASONS
    for f in dirty["file_rejects"]:
        assert (root / f["path"]).is_file()
    raw = b"".join(p.read_bytes() for p in (root / "dirty").iterdir())
    for value in dirty["identifier_values"]:
        assert value.encode() in raw
    assert dirty["duplicates_collapsed"] == {"patients": 1} and dirty["redactions"] == 2
    # No identifier leaks into the clean exports.
    clean = b"".join(p.read_bytes() for p in _clean_files(root))
    assert not any(v.encode() in clean for v in dirty["identifier_values"])


def test_clean_demo_passes_the_validator(demo: tuple[Path, dict]) -> None:
    validate = pytest.importorskip("pipelines.validate")
    root, _ = demo
    rows = 0
    for p in _clean_files(root):
        rel = p.relative_to(root).as_posix()
        r = validate.validate_file(p, rel)
        assert r.file_error is None and r.rows_rejected == 0 and r.rejects.height == 0, (rel, r.rejects)
        assert r.unknown_columns == [] and r.duplicates_collapsed == 0
        rows += r.accepted.height
    assert rows > 10_000


def test_cli_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-data", "--out", str(tmp_path), "--years", "0"]) == 2
    assert "--years" in capsys.readouterr().err
    assert main(["demo-data", "--out", str(tmp_path), "--start", "2026-01-02", "--end", "2026-01-01"]) == 2


def test_dirty_expectations_match_the_validator(demo: tuple[Path, dict]) -> None:
    """The manifest's expected rejects (FK checks aside: they happen on load) are what validate_file finds."""
    validate = pytest.importorskip("pipelines.validate")
    root, manifest = demo
    dirty = manifest["dirty"]
    found_rows: dict[str, dict[str, int]] = {}
    found_files: dict[str, str] = {}
    collapsed: dict[str, int] = {}
    redactions = 0
    for p in sorted((root / "dirty").iterdir()):
        rel = p.relative_to(root).as_posix()
        r = validate.validate_file(p, rel)
        assert r.rows_read == r.accepted.height + r.rows_rejected + r.duplicates_collapsed, rel
        if r.file_error:
            found_files[rel] = r.file_error
            continue
        for reason, n in r.rejects.group_by("reason").len().iter_rows():
            found_rows.setdefault(r.table, {}).setdefault(reason, 0)
            found_rows[r.table][reason] += n
        if r.duplicates_collapsed:
            collapsed[r.table] = collapsed.get(r.table, 0) + r.duplicates_collapsed
        redactions += r.redactions
    expected_rows = {
        t: {k: v for k, v in reasons.items() if k != "unknown_fk"}
        for t, reasons in dirty["row_rejects"].items()
    }
    assert found_rows == expected_rows
    assert found_files == {f["path"]: f["reason"] for f in dirty["file_rejects"]}
    assert collapsed == dirty["duplicates_collapsed"] and redactions == dirty["redactions"]
