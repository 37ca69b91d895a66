"""Safety metrics on a hand-written database; every expectation is counted by hand below.

Period: January 2026. Administered sessions in the period (7):

| id  | clinic | patient (condition) | route/modality | mg/kg | dur | no. | vitals            | AEs |
|-----|--------|---------------------|----------------|-------|-----|-----|-------------------|-----|
| S1  | C1     | P1 depression       | iv infusion    | 0.50 b| 40  | 1   | bp_sys 185 (exc.) | —   |
| S2  | C1     | P1 depression       | iv infusion    | 1.20 d| 40  | 2   | normal            | A1  |
| S4  | C1     | P2 ptsd             | intranasal kap | —     | 120 | 1   | spo2 90 (exc.)    | A2  |
| S5  | C1     | P2 ptsd             | iv infusion    | 0.40 a| 20  | 2   | normal            | A3* |
| S10 | C2     | P3 depression       | iv infusion    | 0.50 b| 40  | 4 m | 179/109/129/92    | A5  |
| S11 | C2     | P3 depression       | iv infusion    | 0.75 c| 120 | 5 m | hr 130 (exc.)     | A7  |
| S13 | C3     | P4 anxiety          | im infusion    | 0.30 a| 45  | 1   | bp_dia 110 (exc.) | —   |

(* serious; m = maintenance phase, the others induction) Bands: a = <0.50, b = 0.50-<0.75,
c = 0.75-<1.00, d = >=1.00. Plus, out of scope of the
period or not administered: S3 (no-show, Jan), S12 (cancelled, Jan, bp 200), S6 (Feb, A4
serious), S7–S9 (P3 at C2, Dec, numbers 1–3). AEs in the period (6): A1 A2 A3 A5 A7 and A6
(C2, P3, no session). A4 (Feb 2) and A8 (C3, Dec 31 23:59, no session) are outside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from scipy import stats

from dashboard.metrics import safety
from dashboard.metrics.control_charts import SpcOptions
from dashboard.metrics.filters import Filters
from dashboard.metrics.safety import AeFilters
from pipelines.model.config import MetricConfig

JAN = Filters(date(2026, 1, 1), date(2026, 1, 31), ("C1", "C2", "C3"))
CFG = MetricConfig()


def garwood_per_100(k: int, n: int) -> tuple[float, float]:
    """Exact Poisson CI straight from scipy's χ² quantiles, per 100 sessions."""
    lo = 0.0 if k == 0 else stats.chi2.ppf(0.025, 2 * k) / 2
    hi = stats.chi2.ppf(0.975, 2 * k + 2) / 2
    return 100 * lo / n, 100 * hi / n


def ts(day: str, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute)


def session(sid: str, patient: str, clinic: str, day: str, status: str = "completed", **kw: Any) -> dict:
    row = {
        "session_id": sid,
        "patient_key": patient,
        "clinic_id": clinic,
        "scheduled_at": ts(day),
        "status": status,
        "phase": "induction",
        "route": "iv",
        "modality": "infusion",
        "duration_min": 40,
    }
    return row | kw


def ae(aid: str, patient: str, clinic: str, when: datetime, category: str, **kw: Any) -> dict:
    row = {
        "ae_id": aid,
        "patient_key": patient,
        "clinic_id": clinic,
        "onset_at": when,
        "category": category,
        "severity_grade": 1,
        "serious": False,
        "action_taken": "monitored",
        "outcome": "resolved",
    }
    return row | kw


ROWS = {
    "clinics": [
        {
            "clinic_id": "C1",
            "clinic_name": "Harbor",
            "region": "North",
            "opened_on": date(2020, 1, 1),
            "chairs": 4,
        },
        {
            "clinic_id": "C2",
            "clinic_name": "Elm",
            "region": "North",
            "opened_on": date(2020, 1, 1),
            "chairs": 3,
        },
        {
            "clinic_id": "C3",
            "clinic_name": "Ridge",
            "region": "South",
            "opened_on": date(2020, 1, 1),
            "chairs": 2,
        },
    ],
    "patients": [
        {
            "patient_key": k,
            "home_clinic_id": c,
            "sex": "F",
            "age_band": "35-44",
            "primary_condition": cond,
            "enrolled_on": date(2025, 12, 1),
        }
        for k, c, cond in [
            ("P1", "C1", "depression"),
            ("P2", "C1", "ptsd"),
            ("P3", "C2", "depression"),
            ("P4", "C3", "anxiety"),
        ]
    ],
    "sessions": [
        session(
            "S1",
            "P1",
            "C1",
            "2026-01-05",
            dose_mg=35.0,
            weight_kg=70.0,
            dose_mg_per_kg=0.5,
            session_number=1,
            bp_sys_max=185,
        ),
        session(
            "S2",
            "P1",
            "C1",
            "2026-01-08",
            dose_mg=84.0,
            weight_kg=70.0,
            dose_mg_per_kg=1.2,
            session_number=2,
            bp_sys_max=150,
            spo2_min=97,
        ),
        session("S3", "P1", "C1", "2026-01-12", status="no_show", duration_min=None),
        session(
            "S4",
            "P2",
            "C1",
            "2026-01-06",
            route="intranasal",
            modality="kap",
            dose_mg=56.0,
            duration_min=120,
            session_number=1,
            spo2_min=90,
        ),
        session(
            "S5",
            "P2",
            "C1",
            "2026-01-09",
            status="stopped_early",
            dose_mg=28.0,
            weight_kg=70.0,
            dose_mg_per_kg=0.4,
            duration_min=20,
            session_number=2,
        ),
        session(
            "S6", "P1", "C1", "2026-02-02", dose_mg=35.0, weight_kg=70.0, dose_mg_per_kg=0.5, session_number=3
        ),
        session(
            "S7", "P3", "C2", "2025-12-20", dose_mg=35.0, weight_kg=70.0, dose_mg_per_kg=0.5, session_number=1
        ),
        session(
            "S8", "P3", "C2", "2025-12-22", dose_mg=35.0, weight_kg=70.0, dose_mg_per_kg=0.5, session_number=2
        ),
        session(
            "S9", "P3", "C2", "2025-12-27", dose_mg=35.0, weight_kg=70.0, dose_mg_per_kg=0.5, session_number=3
        ),
        session(
            "S10",
            "P3",
            "C2",
            "2026-01-10",
            dose_mg=35.0,
            weight_kg=70.0,
            dose_mg_per_kg=0.5,
            session_number=4,
            phase="maintenance",
            bp_sys_max=179,
            bp_dia_max=109,
            hr_max=129,
            spo2_min=92,
        ),
        session(
            "S11",
            "P3",
            "C2",
            "2026-01-15",
            dose_mg=52.5,
            weight_kg=70.0,
            dose_mg_per_kg=0.75,
            duration_min=120,
            session_number=5,
            phase="maintenance",
            hr_max=130,
        ),
        session("S12", "P4", "C3", "2026-01-07", status="cancelled", duration_min=None, bp_sys_max=200),
        session(
            "S13",
            "P4",
            "C3",
            "2026-01-14",
            route="im",
            dose_mg=15.0,
            weight_kg=50.0,
            dose_mg_per_kg=0.3,
            duration_min=45,
            session_number=1,
            bp_dia_max=110,
        ),
    ],
    "adverse_events": [
        ae(
            "A1",
            "P1",
            "C1",
            ts("2026-01-08", 11),
            "nausea_vomiting",
            session_id="S2",
            description="dizzyXspell",
        ),
        ae(
            "A2",
            "P2",
            "C1",
            ts("2026-01-06", 11),
            "sedation",
            session_id="S4",
            severity_grade=2,
            action_taken="medication_given",
            description="Drowsy after dose; 100% recovered",
        ),
        ae(
            "A3",
            "P2",
            "C1",
            ts("2026-01-09", 11),
            "hypertension",
            session_id="S5",
            severity_grade=3,
            serious=True,
            action_taken="infusion_stopped",
            outcome=None,
        ),
        ae(
            "A4",
            "P1",
            "C1",
            ts("2026-02-02", 11),
            "hypertension",
            session_id="S6",
            severity_grade=4,
            serious=True,
        ),
        ae(
            "A5",
            "P3",
            "C2",
            ts("2026-01-10", 11),
            "dissociation",
            session_id="S10",
            action_taken="none",
            outcome="resolving",
            description="felt floaty 1000 times",
        ),
        ae("A6", "P3", "C2", ts("2026-01-20", 9), "headache", outcome="unknown"),
        ae(
            "A7",
            "P3",
            "C2",
            ts("2026-01-31", 23, 30),
            "dizziness",
            session_id="S11",
            severity_grade=2,
            description="dizzy_spell",
        ),
        ae("A8", "P4", "C3", ts("2025-12-31", 23, 59), "other"),
    ],
}


# Each database is built once with ``make_db`` (its tmp dir lives for the session) and then
# opened read-only by every test, which keeps this module fast on a shared machine.
_BUILT: dict[str, Path] = {}


def _built(name: str, build: Callable[[], Path]) -> Path:
    if name not in _BUILT:
        _BUILT[name] = build()
    return _BUILT[name]


@pytest.fixture
def con(make_db: Callable[[dict], Path]) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect(str(_built("main", lambda: make_db(ROWS))), read_only=True)
    yield c
    c.close()


def by_level(frame: Any) -> dict[str, dict[str, Any]]:
    return {row["level"]: row for row in frame.iter_rows(named=True)}


# --- AE rate -------------------------------------------------------------------------------------


def test_network_ae_rate(con: duckdb.DuckDBPyConnection) -> None:
    got = safety.ae_rate(con, JAN)
    # 6 AEs (A1 A2 A3 A5 A6 A7) over 7 administered sessions; A3 is the only serious one in January
    assert got["ae_count"] == 6
    assert got["serious_ae_count"] == 1
    assert got["administered_sessions"] == 7
    assert got["ae_per_100"] == pytest.approx(600 / 7)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx(garwood_per_100(6, 7))


def test_period_edges(con: duckdb.DuckDBPyConnection) -> None:
    # A7 at 2026-01-31 23:30 is in January; A8 at 2025-12-31 23:59 is in December.
    last_day = Filters(date(2026, 1, 31), date(2026, 1, 31), ("C1", "C2", "C3"))
    assert safety.ae_rate(con, last_day)["ae_count"] == 1
    december = Filters(date(2025, 12, 1), date(2025, 12, 31), ("C1", "C2", "C3"))
    got = safety.ae_rate(con, december)
    assert (got["ae_count"], got["administered_sessions"]) == (1, 3)  # A8; S7 S8 S9


def test_empty_scope_gives_none_not_an_error(con: duckdb.DuckDBPyConnection) -> None:
    got = safety.ae_rate(con, JAN.with_clinics(()))
    assert got == {
        "ae_count": 0,
        "serious_ae_count": 0,
        "administered_sessions": 0,
        "ae_per_100": None,
        "ci_low": None,
        "ci_high": None,
    }


def test_filters_on_ae_rate(con: duckdb.DuckDBPyConnection) -> None:
    # route iv: sessions S1 S2 S5 S10 S11 = 5; AEs via an iv session A1 A3 A5 A7 = 4 (A6 has no session)
    iv = safety.ae_rate(con, Filters(JAN.start, JAN.end, JAN.clinic_ids, routes=("iv",)))
    assert (iv["ae_count"], iv["administered_sessions"]) == (4, 5)
    # condition ptsd (P2): S4 S5; A2 A3
    ptsd = safety.ae_rate(con, Filters(JAN.start, JAN.end, JAN.clinic_ids, conditions=("ptsd",)))
    assert (ptsd["ae_count"], ptsd["administered_sessions"]) == (2, 2)
    # region South (C3): S13; no January AE
    south = safety.ae_rate(con, Filters(JAN.start, JAN.end, JAN.clinic_ids, regions=("South",)))
    assert (south["ae_count"], south["administered_sessions"]) == (0, 1)
    assert south["ci_high"] == pytest.approx(garwood_per_100(0, 1)[1])  # 368.9 per 100
    # modality kap: S4; A2
    kap = safety.ae_rate(con, Filters(JAN.start, JAN.end, JAN.clinic_ids, modalities=("kap",)))
    assert (kap["ae_count"], kap["administered_sessions"]) == (1, 1)


@pytest.mark.parametrize(
    ("dimension", "expected"),
    [
        # level: (AEs, sessions)
        ("clinic", {"C1": (3, 4), "C2": (3, 2), "C3": (0, 1)}),
        ("region", {"North": (6, 6), "South": (0, 1)}),
        ("condition", {"depression": (4, 4), "ptsd": (2, 2), "anxiety": (0, 1)}),
        ("route", {"iv": (4, 5), "intranasal": (1, 1), "im": (0, 1), "no session": (1, 0)}),
        ("modality", {"infusion": (4, 6), "kap": (1, 1), "no session": (1, 0)}),
        (
            "dose_band",
            {
                "<0.50": (1, 2),
                "0.50-<0.75": (1, 2),
                "0.75-<1.00": (1, 1),
                ">=1.00": (1, 1),
                "not weight-based": (1, 1),
                "no session": (1, 0),
            },
        ),
        ("session_number", {"1-3": (3, 5), "4+": (2, 2), "no session": (1, 0)}),
        # S10 and S11 (A5, A7) are maintenance sessions, the rest induction
        ("phase", {"induction": (3, 5), "maintenance": (2, 2), "no session": (1, 0)}),
        ("severity_grade", {"1": (3, 7), "2": (2, 7), "3": (1, 7), "4": (0, 7), "5": (0, 7)}),
        ("serious", {"serious": (1, 7), "not serious": (5, 7)}),
    ],
)
def test_ae_rate_by_dimension(con: duckdb.DuckDBPyConnection, dimension: str, expected: dict) -> None:
    rows = by_level(safety.ae_rate_by(con, JAN, dimension))
    assert {level: (r["ae_count"], r["administered_sessions"]) for level, r in rows.items()} == expected
    for level, (k, n) in expected.items():
        row = rows[level]
        if n == 0:
            assert row["ae_per_100"] is None and row["ci_low"] is None
        else:
            assert row["ae_per_100"] == pytest.approx(100 * k / n)
            assert (row["ci_low"], row["ci_high"]) == pytest.approx(garwood_per_100(k, n))


def test_ae_rate_by_category_and_action_cover_every_level(con: duckdb.DuckDBPyConnection) -> None:
    category = by_level(safety.ae_rate_by(con, JAN, "category"))
    seen = {"nausea_vomiting", "sedation", "hypertension", "dissociation", "headache", "dizziness"}
    assert {lvl for lvl, r in category.items() if r["ae_count"] == 1} == seen
    assert all(r["ae_count"] == 0 for lvl, r in category.items() if lvl not in seen)
    assert len(category) == 15 and {r["administered_sessions"] for r in category.values()} == {7}
    action = by_level(safety.ae_rate_by(con, JAN, "action_taken"))
    assert action["monitored"]["ae_count"] == 3  # A1 A6 A7
    assert action["medication_given"]["ae_count"] == 1
    assert action["infusion_stopped"]["serious_ae_count"] == 1  # A3
    assert action["transferred_ed"]["ae_count"] == 0


def test_ae_rate_by_clinic_labels_and_unknown_dimension(con: duckdb.DuckDBPyConnection) -> None:
    frame = safety.ae_rate_by(con, JAN, "clinic")
    assert frame["label"].to_list() == ["Harbor", "Elm", "Ridge"]
    with pytest.raises(ValueError):
        safety.ae_rate_by(con, JAN, "clinic; DROP TABLE sessions")


def test_patients_with_ae(con: duckdb.DuckDBPyConnection) -> None:
    got = safety.patients_with_ae(con, JAN)
    # active: P1 P2 P3 P4; with an AE in January: P1 (A1), P2 (A2 A3), P3 (A5 A6 A7)
    assert (got["patients_with_ae"], got["active_patients"]) == (3, 4)
    ref = stats.binomtest(3, 4).proportion_ci(method="wilson")
    assert got["share"] == 0.75
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((ref.low, ref.high))


# --- Funnel -------------------------------------------------------------------------------------


def interpolated_quantile(mu: float, p: float, floor: bool = True) -> float:
    """Spiegelhalter (2005) A.1.1 by a plain loop over the Poisson pmf (floored at 0 for drawing)."""
    cdf, r = 0.0, 0
    while True:
        mass = stats.poisson.pmf(r, mu)
        cdf += mass
        if cdf >= p:
            limit = r - (cdf - p) / mass
            return max(limit, 0.0) if floor else limit
        r += 1


def brute_flag(k: int, mu: float) -> str:
    """A count k is read as k − ½ against the (unfloored) interpolated limits (docs/metrics.md)."""
    if k - 0.5 > interpolated_quantile(mu, 0.999, floor=False):
        return "above_998"
    if k - 0.5 > interpolated_quantile(mu, 0.975, floor=False):
        return "above_95"
    if k - 0.5 < interpolated_quantile(mu, 0.001, floor=False):
        return "below_998"
    if k - 0.5 < interpolated_quantile(mu, 0.025, floor=False):
        return "below_95"
    return "within"


def funnel_rows() -> dict[str, list[dict[str, Any]]]:
    """Clinics F1–F3 with 100 administered January sessions each and 30, 2 and 8 AEs; F4 has none."""
    clinics = [
        {
            "clinic_id": f"F{i}",
            "clinic_name": f"Clinic {i}",
            "region": "R",
            "opened_on": date(2020, 1, 1),
            "chairs": 2,
        }
        for i in range(1, 5)
    ]
    patients = [
        {
            "patient_key": f"Q{i}",
            "home_clinic_id": f"F{i}",
            "sex": "M",
            "age_band": "25-34",
            "primary_condition": "depression",
            "enrolled_on": date(2025, 1, 1),
        }
        for i in range(1, 5)
    ]
    sessions, aes = [], []
    for i, n_ae in ((1, 30), (2, 2), (3, 8)):
        for j in range(100):
            sid = f"F{i}-{j}"
            sessions.append(
                session(
                    sid,
                    f"Q{i}",
                    f"F{i}",
                    f"2026-01-{j % 28 + 1:02d}",
                    dose_mg=35.0,
                    weight_kg=70.0,
                    dose_mg_per_kg=0.5,
                    session_number=j + 1,
                )
            )
            if j < n_ae:
                aes.append(
                    ae(
                        f"E{i}-{j}",
                        f"Q{i}",
                        f"F{i}",
                        ts(f"2026-01-{j % 28 + 1:02d}", 12),
                        "nausea_vomiting",
                        session_id=sid,
                    )
                )
    return {"clinics": clinics, "patients": patients, "sessions": sessions, "adverse_events": aes}


@pytest.fixture
def funnel_con(make_db: Callable[[dict], Path]) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect(str(_built("funnel", lambda: make_db(funnel_rows()))), read_only=True)
    yield c
    c.close()


FUNNEL_SCOPE = Filters(date(2026, 1, 1), date(2026, 1, 31), ("F1", "F2", "F3", "F4"))


def test_funnel_flags_the_outlier(funnel_con: duckdb.DuckDBPyConnection) -> None:
    frame = safety.funnel(funnel_con, FUNNEL_SCOPE)
    rows = {r["clinic_id"]: r for r in frame.iter_rows(named=True)}
    theta0 = 40 / 300  # (30 + 2 + 8) AEs over 300 sessions
    assert frame["target_per_100"][0] == pytest.approx(100 * theta0)
    mu = theta0 * 100  # expected 13.33 AEs per clinic
    for cid, k in (("F1", 30), ("F2", 2), ("F3", 8)):
        row = rows[cid]
        assert row["ae_count"] == k and row["administered_sessions"] == 100
        assert row["expected"] == pytest.approx(mu)
        assert row["flag"] == brute_flag(k, mu)
        # limits are drawn per 100 sessions: count-scale limit × 100 / n
        assert row["upper998"] == pytest.approx(interpolated_quantile(mu, 0.999))
        assert row["lower95"] == pytest.approx(interpolated_quantile(mu, 0.025))
    assert rows["F1"]["flag"] == "above_998"
    assert stats.poisson.sf(29, mu) < 0.001  # why F1 must be above the 99.8% limit
    assert rows["F4"]["administered_sessions"] == 0 and rows["F4"]["flag"] is None
    assert frame["overdispersion"].to_list() == [False] * 4


def test_funnel_needs_three_clinics(funnel_con: duckdb.DuckDBPyConnection) -> None:
    # F1 and F2 have sessions, F4 none: two clinics, each mostly its own target -> no funnel
    two = safety.funnel(funnel_con, FUNNEL_SCOPE.with_clinics(("F1", "F2", "F4")))
    assert two["flag"].is_null().all() and two["upper998"].is_null().all()
    # the rates and the target are still there: 32 AEs over 200 sessions
    assert two["target_per_100"][0] == pytest.approx(16.0)
    assert two.filter(two["clinic_id"] == "F1")["ae_per_100"][0] == pytest.approx(30.0)
    assert safety.funnel(funnel_con, FUNNEL_SCOPE.with_clinics(("F1",)))["flag"].to_list() == [None]


def test_funnel_overdispersion_toggle(funnel_con: duckdb.DuckDBPyConnection) -> None:
    plain = safety.funnel(funnel_con, FUNNEL_SCOPE)
    adjusted = safety.funnel(funnel_con, FUNNEL_SCOPE, overdispersion=True)
    tau2 = adjusted["tau2"][0]
    assert tau2 > 0 and plain["tau2"][0] == 0.0
    assert adjusted["overdispersion"].all()
    theta0 = 40 / 300
    row = adjusted.row(0, named=True)
    sd = (theta0 / 100 + tau2) ** 0.5
    assert row["upper95"] == pytest.approx(100 * (theta0 + 1.959964 * sd), rel=1e-6)
    assert row["upper998"] > plain.row(0, named=True)["upper998"]
    curve = safety.funnel_curve(adjusted, points=20)
    assert curve["target"].unique().to_list() == [pytest.approx(100 * theta0)]


# --- u-chart ------------------------------------------------------------------------------------


def test_u_chart_monthly_network_and_one_clinic(con: duckdb.DuckDBPyConnection) -> None:
    f = Filters(date(2025, 12, 1), date(2026, 2, 28), ("C1", "C2", "C3"))
    chart = safety.u_chart(con, f, CFG, "month", options=SpcOptions(laney=False))
    # Dec: S7 S8 S9, A8 → 1/3; Jan: 6/7; Feb: S6, A4 → 1/1
    assert chart["period"].to_list() == [date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)]
    assert chart["count"].to_list() == [1, 6, 1]
    assert chart["n"].to_list() == [3, 7, 1]
    assert chart["trial"].all()  # 3 periods < 12
    ubar = 8 / 11
    assert chart["centre"][0] == pytest.approx(100 * ubar)
    assert chart["ucl"][2] == pytest.approx(100 * (ubar + 3 * (ubar / 1) ** 0.5))
    assert chart["lcl"][1] == pytest.approx(max(0.0, 100 * (ubar - 3 * (ubar / 7) ** 0.5)))
    assert chart["in_period"].all()
    # Laney's u′ (the default): z = (uᵢ − ū)/sqrt(ū/nᵢ) = −0.800095, 0.402911, 0.319801; moving ranges
    # 1.203006, 0.083110 → σz = 0.643058/1.128 = 0.570087; Feb's ucl = 100·(ū + 3·sqrt(ū)·σz) = 218.5789
    laney = safety.u_chart(con, f, CFG, "month")
    assert laney["sigma_z"][0] == pytest.approx(0.5700871, abs=1e-6)
    assert laney["ucl"][2] == pytest.approx(218.57886, abs=1e-4)
    assert laney["laney"].all() and not chart["laney"].any()
    c2 = safety.u_chart(con, f, CFG, "month", clinic_id="C2")
    # C2: Dec 0 AEs / 3 sessions; Jan A5 A6 A7 / S10 S11; Feb no sessions → no point
    assert c2["count"].to_list() == [0, 3] and c2["n"].to_list() == [3, 2]
    assert safety.u_chart(con, f, CFG, "month", clinic_id="C9").height == 0  # not in scope


def test_u_chart_weeks_start_on_monday(con: duckdb.DuckDBPyConnection) -> None:
    c1 = Filters(date(2026, 1, 1), date(2026, 1, 31), ("C1",))
    chart = safety.u_chart(con, c1, CFG, "week")
    # S1 (Mon 5th), S4, S2, S5 all in the week of Monday 2026-01-05; AEs A2 A1 A3
    assert chart["period"].to_list() == [date(2026, 1, 5)]
    assert (chart["count"][0], chart["n"][0]) == (3, 4)
    with pytest.raises(ValueError):
        safety.u_chart(con, c1, CFG, "day")  # type: ignore[arg-type]


def test_u_chart_reaches_back_before_a_short_period(con: duckdb.DuckDBPyConnection) -> None:
    # Period: February 2026 only. The weekly chart covers 26 weeks ending in the week of Mon 23 Feb,
    # i.e. from Mon 1 Sep 2025: December's sessions (S7 Sat 20 Dec in the week of 15 Dec, S8 and S9 in
    # the week of 22 Dec) are on it, outside the period; January's too.
    feb = Filters(date(2026, 2, 1), date(2026, 2, 28), ("C1", "C2", "C3"))
    chart = safety.u_chart(con, feb, CFG, "week")
    assert chart["period"].min() >= date(2025, 9, 1)
    assert chart.filter(chart["period"] < date(2026, 1, 1))["n"].sum() == 3  # S7 S8 S9
    assert chart["n"].sum() == 11  # Dec 3 + Jan 7 + Feb 1 (S6)
    in_period = chart.filter(chart["in_period"])["period"].to_list()
    assert in_period and min(in_period) >= date(2026, 1, 26)  # the week holding Sun 1 Feb starts 26 Jan
    # A picked baseline, December: the weeks of 15 and 22 Dec have sessions (the week of 29 Dec has A8
    # but no session, so no point): 0 AEs in 3 sessions; the week of 5 Jan (3 AEs, 4 sessions) is out.
    december = SpcOptions(laney=False, baseline=(date(2025, 12, 1), date(2025, 12, 31)))
    picked = safety.u_chart(con, feb, CFG, "week", options=december)
    assert picked["baseline_picked"][0] and picked["baseline_points"][0] == 2 and picked["trial"][0]
    assert picked["centre"][0] == 0.0


# --- Excursions, deviations, serious events ------------------------------------------------------


def test_excursions(con: duckdb.DuckDBPyConnection) -> None:
    # S1 bp_sys 185, S4 spo2 90, S11 hr 130, S13 bp_dia 110; S10 sits just inside every threshold
    # and S12 (bp 200) was cancelled.
    got = safety.excursion_rate(con, JAN, CFG)
    assert (got["excursion_sessions"], got["administered_sessions"]) == (4, 7)
    assert got["excursions_per_100"] == pytest.approx(400 / 7)
    ref = stats.binomtest(4, 7).proportion_ci(method="wilson")
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((100 * ref.low, 100 * ref.high))
    listed = safety.excursions(con, JAN, CFG)
    assert set(listed["session_id"]) == {"S1", "S4", "S11", "S13"}
    s4 = listed.filter(listed["session_id"] == "S4").row(0, named=True)
    assert s4["low_spo2"] and not s4["high_bp_sys"] and s4["ae_count"] == 1
    # without an AE of the matching kind: S1 and S13 have no AE; S4's A2 is sedation (not
    # respiratory depression) and S11's A7 is dizziness (not tachycardia)
    assert set(safety.excursions_without_ae(con, JAN, CFG)["session_id"]) == {"S1", "S4", "S11", "S13"}
    assert got["excursions_without_ae"] == 4


# Excursion sessions at C3 in February, each with the AEs recorded for it:
#   E1 BP 190/115            hypertension          → matched
#   E2 SpO₂ 86               dissociation          → without (the example)
#   E3 HR 140 + SpO₂ 88      tachycardia           → without (SpO₂ unmatched)
#   E4 BP 185 + HR 135       hypertension, tachy.  → matched
#   E5 BP dia 112            respiratory_depression → without (BP unmatched)
#   E6 SpO₂ 89               respiratory_depression (onset the next day) → matched
KINDS = {
    "E1": ({"bp_sys_max": 190, "bp_dia_max": 115}, ["hypertension"]),
    "E2": ({"spo2_min": 86}, ["dissociation"]),
    "E3": ({"hr_max": 140, "spo2_min": 88}, ["tachycardia"]),
    "E4": ({"bp_sys_max": 185, "hr_max": 135}, ["hypertension", "tachycardia"]),
    "E5": ({"bp_dia_max": 112}, ["respiratory_depression"]),
    "E6": ({"spo2_min": 89}, ["respiratory_depression"]),
}


def test_excursions_need_an_ae_of_their_own_kind(make_db: Callable[[dict], Path]) -> None:
    rows = {**ROWS, "sessions": list(ROWS["sessions"]), "adverse_events": list(ROWS["adverse_events"])}
    for i, (sid, (vitals, categories)) in enumerate(KINDS.items()):
        day = f"2026-02-{10 + i}"
        rows["sessions"].append(session(sid, "P4", "C3", day, session_number=10 + i, **vitals))
        for j, category in enumerate(categories):
            onset = ts(f"2026-02-{11 + i}" if sid == "E6" else day, 12)
            rows["adverse_events"].append(ae(f"K{i}{j}", "P4", "C3", onset, category, session_id=sid))
    c = duckdb.connect(str(_built("kinds", lambda: make_db(rows))), read_only=True)
    try:
        feb = Filters(date(2026, 2, 9), date(2026, 2, 28), ("C3",))
        review = safety.excursions_without_ae(c, feb, CFG)
        assert review["session_id"].sort().to_list() == ["E2", "E3", "E5"]
        kinds = {r["session_id"]: r for r in review.iter_rows(named=True)}
        assert (kinds["E2"]["spo2_without_ae"], kinds["E2"]["ae_count"]) == (True, 1)
        assert kinds["E3"]["spo2_without_ae"] and not kinds["E3"]["hr_without_ae"]
        assert kinds["E5"]["bp_without_ae"] and not kinds["E5"]["spo2_without_ae"]
        assert safety.excursion_rate(c, feb, CFG)["excursions_without_ae"] == 3
        assert safety.kpis(c, feb, CFG)["excursion"]["excursions_without_ae"] == 3
        everything = safety.excursions(c, feb, CFG)
        assert everything.filter(~everything["without_matching_ae"])["session_id"].sort().to_list() == [
            "E1",
            "E4",
            "E6",
        ]
    finally:
        c.close()


def test_excursion_thresholds_are_configurable(con: duckdb.DuckDBPyConnection) -> None:
    strict = MetricConfig(bp_sys_max=179, hr_max=200, bp_dia_max=200, spo2_min=0)
    # bp_sys ≥ 179 only: S1 (185) and S10 (179)
    assert set(safety.excursions(con, JAN, strict)["session_id"]) == {"S1", "S10"}


def test_protocol_deviations(con: duckdb.DuckDBPyConnection) -> None:
    # iv administered: S1 0.5/40, S2 1.2/40 (dose), S5 0.4/20 (duration; 0.4 is the inclusive minimum),
    # S10 0.5/40, S11 0.75/120 (120 is the inclusive maximum). S13 (im, 0.3) is not iv.
    frame = safety.protocol_deviations(con, JAN, CFG)
    rows = {r["session_id"]: r for r in frame.iter_rows(named=True)}
    assert set(rows) == {"S2", "S5"}
    assert rows["S2"]["dose_deviation"] and not rows["S2"]["duration_deviation"]
    assert rows["S5"]["duration_deviation"] and not rows["S5"]["dose_deviation"]
    assert safety.protocol_summary(con, JAN, CFG) == {
        "deviations": 2,
        "dose_deviations": 1,
        "duration_deviations": 1,
        "iv_sessions": 5,
    }
    narrow = MetricConfig(protocol_dose_min=0.6, protocol_duration_max=119)
    # now also S1 and S10 (0.5 < 0.6) and S11 (120 > 119)
    assert set(safety.protocol_deviations(con, JAN, narrow)["session_id"]) == {"S1", "S2", "S5", "S10", "S11"}


def test_kpis_give_the_page_headline_in_one_call(con: duckdb.DuckDBPyConnection) -> None:
    got = safety.kpis(con, JAN, CFG)
    # January: 6 AEs (A3 serious) over 7 administered sessions, as in test_network_ae_rate
    assert (got["rate"]["ae_count"], got["rate"]["serious_ae_count"]) == (6, 1)
    assert got["rate"]["administered_sessions"] == 7
    assert got["rate"]["ae_per_100"] == pytest.approx(600 / 7)
    assert (got["rate"]["ci_low"], got["rate"]["ci_high"]) == pytest.approx(garwood_per_100(6, 7))
    # the 31 days before: December 2025, A8 over S7 S8 S9
    prev = got["previous_rate"]
    assert (prev["ae_count"], prev["administered_sessions"]) == (1, 3)
    assert (prev["ci_low"], prev["ci_high"]) == pytest.approx(garwood_per_100(1, 3))
    # P1 P2 P3 of the 4 active patients had an AE
    assert (got["patients"]["patients_with_ae"], got["patients"]["active_patients"]) == (3, 4)
    # excursions S1 S4 S11 S13, none with an AE of its kind (see test_excursions)
    exc = got["excursion"]
    assert (exc["excursion_sessions"], exc["excursions_without_ae"], exc["administered_sessions"]) == (
        4,
        4,
        7,
    )
    ref = stats.binomtest(4, 7).proportion_ci(method="wilson")
    assert (exc["ci_low"], exc["ci_high"]) == pytest.approx((100 * ref.low, 100 * ref.high))
    # S2 (dose) and S5 (duration) among the 5 iv sessions
    assert got["protocol"] == {
        "deviations": 2,
        "dose_deviations": 1,
        "duration_deviations": 1,
        "iv_sessions": 5,
    }


def test_kpis_of_an_empty_scope(con: duckdb.DuckDBPyConnection) -> None:
    got = safety.kpis(con, JAN.with_clinics(()), CFG)
    assert got["rate"]["ae_per_100"] is None and got["previous_rate"]["administered_sessions"] == 0
    assert got["patients"]["share"] is None and got["excursion"]["excursions_per_100"] is None
    assert got["protocol"] == {
        "deviations": 0,
        "dose_deviations": 0,
        "duration_deviations": 0,
        "iv_sessions": 0,
    }


def test_aes_reported_long_after_their_session_keep_its_attributes(make_db: Callable[[dict], Path]) -> None:
    # Late reports (onset in March, weeks after the session) must find their session outside the
    # window looked at first: L1 -> S1 (iv infusion, 0.50 mg/kg, no. 1, Jan 5), L2 -> S13 (im, Jan).
    rows = {k: v for k, v in ROWS.items() if k != "adverse_events"} | {
        "adverse_events": [
            ae("L1", "P1", "C1", ts("2026-03-20"), "headache", session_id="S1"),
            ae("L2", "P4", "C3", ts("2026-03-21"), "dizziness", session_id="S13"),
        ]
    }
    late = duckdb.connect(str(make_db(rows)), read_only=True)
    march = Filters(date(2026, 3, 1), date(2026, 3, 31), ("C1", "C2", "C3"))
    try:
        iv = safety.ae_rate(late, Filters(march.start, march.end, march.clinic_ids, routes=("iv",)))
        assert (iv["ae_count"], iv["administered_sessions"]) == (1, 0)  # L1; no session in March
        kap = safety.ae_rate(late, Filters(march.start, march.end, march.clinic_ids, modalities=("kap",)))
        assert kap["ae_count"] == 0
        by_route = by_level(safety.ae_rate_by(late, march, "route"))
        assert {lvl: (r["ae_count"], r["administered_sessions"]) for lvl, r in by_route.items()} == {
            "iv": (1, 0),
            "im": (1, 0),
        }
        rows_out = {r["ae_id"]: r for r in safety.line_list(late, march).iter_rows(named=True)}
        l1 = rows_out["L1"]
        assert (l1["scheduled_at"], l1["route"], l1["dose_band"], l1["session_band"]) == (
            ts("2026-01-05"),
            "iv",
            "0.50-<0.75",
            "1-3",
        )
        assert (rows_out["L2"]["route"], rows_out["L2"]["session_number"]) == ("im", 1)
    finally:
        late.close()


def test_serious_events(con: duckdb.DuckDBPyConnection) -> None:
    frame = safety.serious_events(con, JAN)
    assert frame["ae_id"].to_list() == ["A3"]  # A4 (serious) is in February
    row = frame.row(0, named=True)
    assert (row["clinic_name"], row["category"], row["severity_grade"], row["action_taken"]) == (
        "Harbor",
        "hypertension",
        3,
        "infusion_stopped",
    )
    assert row["outcome"] is None
    feb = Filters(date(2026, 2, 1), date(2026, 2, 28), ("C1", "C2", "C3"))
    assert safety.serious_events(con, feb)["ae_id"].to_list() == ["A4"]


# --- Line list -----------------------------------------------------------------------------------


def ids(con: duckdb.DuckDBPyConnection, f: Filters = JAN, **kw: Any) -> set[str]:
    return set(safety.line_list(con, f, AeFilters(**kw))["ae_id"])


def test_line_list_rows_and_joined_columns(con: duckdb.DuckDBPyConnection) -> None:
    frame = safety.line_list(con, JAN)
    assert frame["ae_id"].to_list() == ["A7", "A6", "A5", "A3", "A1", "A2"]  # newest onset first
    a1 = frame.filter(frame["ae_id"] == "A1").row(0, named=True)
    assert a1["dose_mg_per_kg"] == 1.2 and a1["dose_band"] == ">=1.00"
    assert (a1["session_number"], a1["session_band"]) == (2, "1-3")
    assert (a1["clinic_name"], a1["region"], a1["primary_condition"]) == ("Harbor", "North", "depression")
    assert (a1["route"], a1["modality"], a1["duration_min"], a1["bp_sys_max"]) == ("iv", "infusion", 40, 150)
    a6 = frame.filter(frame["ae_id"] == "A6").row(0, named=True)
    assert a6["session_id"] is None and a6["dose_band"] == "no session" and a6["session_band"] == "no session"


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"categories": ("sedation",)}, {"A2"}),
        ({"severity_grades": (1,)}, {"A1", "A5", "A6"}),
        ({"serious": True}, {"A3"}),
        ({"serious": False}, {"A1", "A2", "A5", "A6", "A7"}),
        ({"actions": ("monitored",)}, {"A1", "A6", "A7"}),
        ({"outcomes": ("unknown",)}, {"A3", "A6"}),  # A3 has no outcome recorded
        ({"outcomes": ("resolving", "resolved")}, {"A1", "A2", "A5", "A7"}),
        ({"dose_bands": (">=1.00",)}, {"A1"}),
        ({"dose_bands": ("<0.50", "not weight-based")}, {"A2", "A3"}),
        ({"session_bands": ("4+",)}, {"A5", "A7"}),
        ({"session_bands": ("no session",)}, {"A6"}),
        ({"search": "DROWSY"}, {"A2"}),
        ({"search": "100%"}, {"A2"}),  # % is literal: "1000 times" must not match
        ({"search": "dizzy_spell"}, {"A7"}),  # _ is literal: "dizzyXspell" must not match
        ({"search": "'; DROP TABLE adverse_events; --"}, set()),
        ({"categories": ("dizziness", "sedation"), "severity_grades": (2,), "serious": False}, {"A2", "A7"}),
    ],
)
def test_line_list_ae_filters(con: duckdb.DuckDBPyConnection, kw: dict, expected: set[str]) -> None:
    assert ids(con, **kw) == expected


def test_line_list_viewer_filters(con: duckdb.DuckDBPyConnection) -> None:
    assert ids(con, JAN.with_clinics(("C2",))) == {"A5", "A6", "A7"}
    assert ids(con, Filters(JAN.start, JAN.end, JAN.clinic_ids, regions=("South",))) == set()
    assert ids(con, Filters(JAN.start, JAN.end, JAN.clinic_ids, conditions=("ptsd",))) == {"A2", "A3"}
    # a route filter drops A6, which has no session
    assert ids(con, Filters(JAN.start, JAN.end, JAN.clinic_ids, routes=("iv",))) == {"A1", "A3", "A5", "A7"}
    assert ids(con, Filters(JAN.start, JAN.end, JAN.clinic_ids, modalities=("kap",))) == {"A2"}
    assert ids(con, JAN.with_clinics(("C1",)), serious=False) == {"A1", "A2"}


def test_patient_history_respects_clinic_scope_only(con: duckdb.DuckDBPyConnection) -> None:
    history = safety.patient_history(con, JAN, "P1")
    # every P1 session and AE at any date: S1 S2 S3 (no-show) S6 (February); A1 A4
    assert history["sessions"]["session_id"].to_list() == ["S1", "S2", "S3", "S6"]
    assert history["adverse_events"]["ae_id"].to_list() == ["A1", "A4"]
    assert history["sessions"].filter(history["sessions"]["session_id"] == "S2")["ae_count"].to_list() == [1]
    hidden = safety.patient_history(con, JAN.with_clinics(("C2",)), "P1")
    assert hidden["sessions"].height == 0 and hidden["adverse_events"].height == 0


def test_filter_options_cover_the_bands() -> None:
    options = safety.ae_filter_options()
    assert set(options["dose_bands"]) >= {"<0.50", "0.50-<0.75", "0.75-<1.00", ">=1.00", "no session"}
    assert "4+" in options["session_bands"]


# --- On the demo database: planted signals are found ----------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A small demo network (6 clinics, 1 year) generated and refreshed by the real CLI."""
    from pipelines.cli import main

    root = tmp_path_factory.mktemp("safety-demo")
    exports, db = root / "exports", root / "ketaops.duckdb"
    args = ["--clinics", "6", "--years", "1", "--end", "2026-06-30", "--seed", "7"]
    assert main(["demo-data", "--out", str(exports), *args]) == 0
    assert main(["refresh", "--exports", str(exports), "--db", str(db)]) == 0
    return db, json.loads((exports / "MANIFEST.json").read_text())


def _everything(con: duckdb.DuckDBPyConnection) -> Filters:
    clinic_ids = tuple(r[0] for r in con.execute("SELECT clinic_id FROM clinics").fetchall())
    return Filters(date(2000, 1, 1), date(2100, 1, 1), clinic_ids)


@pytest.mark.slow
def test_demo_outlier_clinic_is_above_998(demo: tuple[Path, dict]) -> None:
    db, manifest = demo
    outlier = manifest["signals"]["ae_outlier"]["clinic_id"]
    with duckdb.connect(str(db), read_only=True) as c:
        frame = safety.funnel(c, _everything(c))
    flags = dict(zip(frame["clinic_id"], frame["flag"], strict=True))
    assert flags[outlier] == "above_998"
    assert [cid for cid, flag in flags.items() if flag == "above_998"] == [outlier]


@pytest.mark.slow
def test_demo_planted_excursions_without_ae_are_listed(demo: tuple[Path, dict]) -> None:
    db, manifest = demo
    planted = set(manifest["signals"]["excursions_without_ae"]["session_ids"])
    with duckdb.connect(str(db), read_only=True) as c:
        listed = set(safety.excursions_without_ae(c, _everything(c), MetricConfig())["session_id"])
    assert planted and planted <= listed


@pytest.mark.slow
def test_demo_serious_panel_equals_direct_sql(demo: tuple[Path, dict]) -> None:
    db, _ = demo
    with duckdb.connect(str(db), read_only=True) as c:
        f = Filters(date(2026, 1, 1), date(2026, 3, 31), _everything(c).clinic_ids)
        (direct,) = c.execute(
            "SELECT count(*) FROM adverse_events WHERE serious AND CAST(onset_at AS DATE) "
            "BETWEEN DATE '2026-01-01' AND DATE '2026-03-31'"
        ).fetchall()[0]
        assert safety.serious_events(c, f).height == direct > 0
        assert safety.ae_rate(c, f)["serious_ae_count"] == direct
