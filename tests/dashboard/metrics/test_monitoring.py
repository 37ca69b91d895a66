"""Monitoring compliance against the hand-worked fixture (``monitoring_fixture.py``'s table).

Expected counts are read off that table; intervals come from scipy (an independent method).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from scipy import stats

from dashboard.metrics import monitoring
from pipelines.model.config import MetricConfig
from tests.dashboard.metrics import monitoring_fixture as fx

CFG = MetricConfig()


@pytest.fixture
def con(make_db) -> duckdb.DuckDBPyConnection:
    db: Path = fx.build(make_db)
    c = duckdb.connect(str(db), read_only=True)
    yield c
    c.close()


def wilson(k: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(k, n).proportion_ci(method="wilson")
    return ci.low, ci.high


# measure -> failing/holding sessions, from the fixture's table
EXPECTED = {
    "vitals_complete": {"S1", "S6"},
    "observed_long_enough": {"S1", "S3", "S4"},
    "dosed_despite_elevated_bp": {"S3", "S4"},
    "discharged_with_excursion": {"S2", "S3", "S6"},
    "cadss_scored": {"S1", "S4"},
    "moaas_scored": {"S1", "S2"},
}
PERIOD_SESSIONS = {"S1", "S2", "S3", "S4", "S6"}


def test_summary_counts_each_rule_with_wilson_intervals(con) -> None:
    got = monitoring.summary(con, fx.FILTERS, CFG)
    assert got["administered_sessions"] == 5  # S5 a no-show, S7/S8 outside the period
    for measure, sessions in EXPECTED.items():
        assert got[measure] == len(sessions), measure
        assert got[f"{measure}_rate"] == pytest.approx(len(sessions) / 5)
        low, high = wilson(len(sessions), 5)
        assert got[f"{measure}_ci_low"] == pytest.approx(low)
        assert got[f"{measure}_ci_high"] == pytest.approx(high)


@pytest.mark.parametrize("measure", list(EXPECTED))
def test_review_list_holds_exactly_the_failing_sessions(con, measure: str) -> None:
    holds = EXPECTED[measure]
    fails = PERIOD_SESSIONS - holds if monitoring.MEASURES[measure].higher_is_better else holds
    listed = monitoring.review_list(con, fx.FILTERS, CFG, measure)
    assert set(listed["session_id"]) == fails


def test_pre_dose_reading_is_the_latest_else_the_sessions_own(con) -> None:
    rows = monitoring.review_list(con, fx.FILTERS, CFG, "observed_long_enough")  # holds S2 and S6
    s2 = rows.filter(rows["session_id"] == "S2").row(0, named=True)
    assert (s2["pre_bp_sys"], s2["pre_bp_dia"], s2["pre_from"]) == (140, 85, "vitals")  # the re-check
    s4 = monitoring.review_list(con, fx.FILTERS, CFG, "vitals_complete").filter(
        monitoring.pl.col("session_id") == "S4"
    )
    assert s4.select("pre_bp_sys", "pre_from", "vitals_rows").row(0) == (152, "session", 0)


def test_thresholds_come_from_the_config(con) -> None:
    # with a pre-dose limit of 140 systolic, S2's re-check (140/85) and S6 (130/85, dia 85 ≥ 85) count too
    cfg = replace(CFG, pre_dose_bp_sys=140, pre_dose_bp_dia=85)
    assert monitoring.summary(con, fx.FILTERS, cfg)["dosed_despite_elevated_bp"] == 4
    # intranasal minimum 90: S2 (30 + 60) is then observed long enough
    cfg = replace(CFG, min_observation_intranasal=90)
    assert monitoring.summary(con, fx.FILTERS, cfg)["observed_long_enough"] == 4


def test_by_clinic_and_provider(con) -> None:
    by = {r["level"]: r for r in monitoring.by(con, fx.FILTERS, CFG, "clinic").iter_rows(named=True)}
    assert by["C1"]["administered_sessions"] == 3 and by["C1"]["label"] == "Harbor"
    assert (by["C1"]["vitals_complete"], by["C1"]["discharged_with_excursion"]) == (1, 2)
    assert (by["C2"]["dosed_despite_elevated_bp"], by["C2"]["vitals_complete_rate"]) == (1, 0.0)
    assert by["C3"]["observed_long_enough_rate"] == 0.0
    prov = {r["level"]: r for r in monitoring.by(con, fx.FILTERS, CFG, "provider").iter_rows(named=True)}
    assert {k: v["administered_sessions"] for k, v in prov.items()} == {
        "PA": 2,
        "PB": 1,
        "PC": 1,
        monitoring.NO_PROVIDER: 1,
    }
    assert prov["PA"]["dosed_despite_elevated_bp"] == 1 and prov["PA"]["clinic_id"] == "C1"
    routes = {
        r["level"]: r["administered_sessions"]
        for r in monitoring.by(con, fx.FILTERS, CFG, "route").iter_rows(named=True)
    }
    assert routes == {"im": 1, "intranasal": 1, "iv": 3}


def test_scope_limits_every_figure(con) -> None:
    f = fx.FILTERS.with_clinics(("C2",))
    assert monitoring.summary(con, f, CFG)["administered_sessions"] == 1
    assert monitoring.vitals_timeline(con, f, "S2")["session"] is None  # S2 is C1's


def test_kpis_previous_period(con) -> None:
    got = monitoring.kpis(con, fx.FILTERS, CFG)
    prev = got["previous"]  # 29 Jan – 28 Feb: S7 only
    assert prev["administered_sessions"] == 1
    assert (prev["vitals_complete"], prev["observed_long_enough"]) == (0, 1)
    assert got["current"]["administered_sessions"] == 5


def test_binomial_funnel_against_scipy(con) -> None:
    frame = monitoring.funnel(con, fx.FILTERS, CFG, "vitals_complete")
    assert frame["target"][0] == pytest.approx(2 / 5)
    c1 = frame.filter(monitoring.pl.col("level") == "C1").row(0, named=True)
    # the 97.5% limit of Binomial(3, 0.4) interpolated as Spiegelhalter: r = 3, F(3) = 1, F(2) = 0.936
    f2 = stats.binom.cdf(2, 3, 0.4)
    upper = 3 - (1 - 0.975) / (1 - f2)
    assert c1["upper95"] == pytest.approx(upper / 3)
    assert c1["flag"] == "within"


def test_funnel_needs_three_units(con) -> None:
    frame = monitoring.funnel(con, fx.FILTERS.with_clinics(("C1", "C2")), CFG, "vitals_complete")
    assert frame["flag"].null_count() == frame.height


def test_vitals_timeline_minutes_from_start(con) -> None:
    got = monitoring.vitals_timeline(con, fx.FILTERS, "S2")
    assert got["session"]["clinic_id"] == "C1"
    assert got["readings"]["minute"].to_list() == [-5, -2, 25, 90, 120]
    assert got["readings"]["timepoint"].to_list()[-1] == "discharge"


def test_sedation_by_dose_band_and_route(con) -> None:
    rows = {
        (r["route"], r["dose_band"]): r
        for r in monitoring.sedation_by_dose(con, fx.FILTERS, CFG).iter_rows(named=True)
    }
    assert set(rows) == {("im", "0.50-<0.75"), ("intranasal", "not weight-based"), ("iv", "0.50-<0.75"),
                         ("iv", "0.75-<1.00")}  # fmt: skip
    nasal = rows[("intranasal", "not weight-based")]
    assert (nasal["moaas_scored"], nasal["deep_sedation"], nasal["deep_sedation_rate"]) == (1, 1, 1.0)
    iv = rows[("iv", "0.50-<0.75")]  # S1 and S6
    assert (iv["administered_sessions"], iv["cadss_scored"], iv["mean_cadss"], iv["deep_sedation"]) == (
        2,
        1,
        10.0,
        0,
    )
    assert rows[("im", "0.50-<0.75")]["mean_cadss"] == 20.0


def test_medications_at_day0(con) -> None:
    open_cfg = replace(CFG, suppression_k=0)
    got = {
        r["drug_class"]: r
        for r in monitoring.medications_at_day0(con, fx.FILTERS, open_cfg).iter_rows(named=True)
    }
    # cohort: first administered session in March: P1, P2, P3, P4, P6 (P7 started in February)
    assert got["benzodiazepine"]["cohort"] == 5
    assert (got["benzodiazepine"]["patients"], got["maoi"]["patients"], got["stimulant"]["patients"]) == (
        2,
        1,
        0,
    )
    assert got["benzodiazepine"]["share"] == pytest.approx(0.4)
    k3 = {
        r["drug_class"]: r
        for r in monitoring.medications_at_day0(con, fx.FILTERS, replace(CFG, suppression_k=3)).iter_rows(
            named=True
        )
    }
    assert k3["benzodiazepine"]["patients"] is None and k3["benzodiazepine"]["suppressed"]
    assert k3["stimulant"]["patients"] == 0 and not k3["stimulant"]["suppressed"]  # zero is shown
    assert k3["stimulant"]["cohort"] == 5


def test_safety_split_by_maoi_or_stimulant(con) -> None:
    got = {
        r["on_maoi_or_stimulant"]: r
        for r in monitoring.safety_by_medication(con, fx.FILTERS, CFG).iter_rows(named=True)
    }
    # on: S3 (P3's MAOI); P1's stimulant stopped on 1 March
    assert (got[True]["administered_sessions"], got[True]["ae_count"], got[True]["bp_excursions"]) == (
        1,
        1,
        1,
    )
    assert (got[False]["administered_sessions"], got[False]["ae_count"], got[False]["bp_excursions"]) == (
        4,
        1,
        1,
    )
    low, high = stats.chi2.ppf(0.025, 2) / 2, stats.chi2.ppf(0.975, 4) / 2  # Garwood for 1 event
    assert got[False]["ae_ci_low"] == pytest.approx(100 * low / 4)
    assert got[False]["ae_ci_high"] == pytest.approx(100 * high / 4)


def test_report_block_keys(con) -> None:
    block = monitoring.report_block(con, fx.FILTERS, CFG)
    assert set(block["network"]) == set(monitoring.REPORT_KEYS)
    assert block["network"]["dosed_despite_elevated_bp"] == 2
    assert block["network"]["vitals_complete_rate"] == pytest.approx(0.4)
    clinics = {c["clinic_id"]: c for c in block["clinics"]}
    assert clinics["C2"]["cadss_scored_rate"] == 1.0 and clinics["C3"]["cadss_scored_rate"] == 0.0


def test_v1_database_counts_incomplete_not_null(make_db) -> None:
    """A database without the v2 tables and provider column: every session incomplete and unscored."""
    db = make_db(
        {"clinics": [{"clinic_id": "C1", "clinic_name": "A", "region": "N"}], "sessions": [fx.SESSIONS[0]]}
    )
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = 'vitals'").fetchall()
        got = monitoring.summary(con, fx.FILTERS.with_clinics(("C1",)), CFG)
    finally:
        con.close()
    assert got["administered_sessions"] == 1
    assert (got["vitals_complete_rate"], got["cadss_scored_rate"], got["observed_long_enough"]) == (
        0.0,
        0.0,
        1,
    )
