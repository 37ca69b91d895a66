"""AppTest of the Outcomes page, with and without small-cell suppression."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.dashboard.metrics.outcomes.outcome_rows import (  # the hand-written fixture
    JUST_MATURE,
    Builder,
    add_cohort,
)

PAGE = "views/outcomes.py"
HIDDEN = "suppressed (n < 11)"


@pytest.fixture(autouse=True)
def fresh_caches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The config is a cached resource: clear it so each test sees its own KETAOPS_CONFIG."""
    monkeypatch.delenv("KETAOPS_CONFIG", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _all_text(at: AppTest) -> str:
    parts = []
    for kind in ("title", "subheader", "markdown", "caption", "info", "warning"):
        parts += [str(el.value) for el in at.get(kind)]
    return "\n".join(parts)


def test_complementary_suppression_on_the_page(
    app_at: Callable[..., AppTest], make_db: Callable[[dict], Path]
) -> None:
    b = Builder(last_date=JUST_MATURE)
    add_cohort(b, "A", 15, 11, "a")  # every responder count 0 or ≥ k: only C's evaluable is small
    add_cohort(b, "B", 12, 0, "b")
    add_cohort(b, "C", 4, 0, "c")
    at = app_at(make_db(b.rows), page=PAGE)
    assert not at.exception
    m = _metrics(at)
    # network: 31 evaluable, 11 responders → 11/31 = 35.5%
    assert m["Evaluable"] == "31"
    assert m["Response"] == "35%"
    assert m["Remission"] == "0%"  # every endpoint is 5 or 18, and remission needs < 5
    text = _all_text(at)
    assert f"Not shown, {HIDDEN}: Clinic B, Clinic C" in text
    assert "of 31 new patients · + 0 maturing, not yet evaluable · 0 below caseness" in text
    table = at.dataframe[1].value
    rows = {r["Clinic"]: r for r in table.to_dict("records")}
    assert rows["Clinic A"]["Evaluable"] == 15 and rows["Clinic A"]["Responders"] == 11
    for clinic in ("Clinic B", "Clinic C"):
        assert rows[clinic]["Funnel"] == HIDDEN
        assert pd.isna(rows[clinic]["Evaluable"]) and pd.isna(rows[clinic]["Responders"])
    assert len(at.get("plotly_chart")) == 3  # KM, trajectory, clinic funnel


def test_everything_suppressed_below_k(
    app_at: Callable[..., AppTest], make_db: Callable[[dict], Path]
) -> None:
    b = Builder(last_date=JUST_MATURE)
    add_cohort(b, "A", 10, 6, "a")  # k − 1 evaluable patients
    at = app_at(make_db(b.rows), page=PAGE)
    assert not at.exception
    values = _metrics(at)
    over_evaluable = ("Evaluable", "Response", "Remission", "Mean change", "Worsening (reliable change)")
    assert [values[t] for t in over_evaluable] == ["suppressed"] * len(over_evaluable)
    # rapid response and durability have their own denominators: nobody scored then, so "–"
    assert values["Rapid response (≤ 7 days)"] == "–"
    overview = at.dataframe[0].value.to_dict("records")
    assert overview[0]["Evaluable"] == HIDDEN and overview[0]["Response"] == HIDDEN
    assert not at.get("plotly_chart")
    text = _all_text(at)
    assert f"Time to response: {HIDDEN}" in text and f"Trajectory: {HIDDEN}" in text
    assert "10 of" not in text and "6/10" not in text


def test_without_suppression(
    app_at: Callable[..., AppTest],
    make_db: Callable[[dict], Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    config = tmp_path / "ketaops.toml"
    config.write_text("[metrics]\nsuppression_k = 0\n", encoding="utf-8")
    monkeypatch.setenv("KETAOPS_CONFIG", str(config))
    b = Builder(last_date=JUST_MATURE)
    add_cohort(b, "A", 3, 2, "a")
    add_cohort(b, "B", 1, 1, "b")
    at = app_at(make_db(b.rows), page=PAGE)
    assert not at.exception
    m = _metrics(at)
    # 4 evaluable, 3 responders; remission: endpoint 5 is not < 5 → 0
    # mean change: (5−20)·3 + (18−20) = −47 over 4 → −11.75
    assert (m["Evaluable"], m["Response"], m["Remission"]) == ("4", "75%", "0%")
    assert m["Mean change"] == "-11.8 pts"
    assert "suppressed" not in _all_text(at)
    assert len(at.get("plotly_chart")) == 3
    rows = {r["Clinic"]: r for r in at.dataframe[1].value.to_dict("records")}
    assert (rows["Clinic B"]["Evaluable"], rows["Clinic B"]["Responders"]) == (1, 1)


def test_caterpillar_and_condition_switch(
    app_at: Callable[..., AppTest], make_db: Callable[[dict], Path]
) -> None:
    b = Builder(last_date=JUST_MATURE)
    add_cohort(b, "A", 12, 11, "a")
    add_cohort(b, "B", 11, 0, "b")
    for i in range(3):  # a second condition: 3 patients (hidden), none evaluable (0 is shown)
        b.patient(f"t{i}", "ptsd")
        b.score(f"t{i}", "pcl5", b.rows["sessions"][-1]["scheduled_at"], 50)
    at = app_at(make_db(b.rows), page=PAGE)
    at.segmented_control(key="outcome_chart").set_value("caterpillar").run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 3
    at.selectbox(key="outcome_condition").set_value("ptsd").run()
    assert not at.exception
    m = _metrics(at)
    assert (m["Evaluable"], m["Response"]) == ("0", "–")
    assert "of 3 new patients" not in _all_text(at)
