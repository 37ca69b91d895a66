"""The order ``scores_for`` hands the per-patient functions (``patient_outcomes._in_score_order``).

They take "first" and "latest" within one patient's scores on one instrument, ties on the time
broken by assessment id (metrics.md "Outcomes"). The fast sort must give every such sequence
exactly as the plain sort by ``SCORE_ORDER`` does; the reference here is that plain sort.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.model.patient_outcomes import _ALL_INSTRUMENTS, SCORE_ORDER, _in_score_order

T0 = datetime(2024, 5, 1, 8, 30)


def _frame(rows: list[tuple[int, int, int, str]], micros: int) -> pl.DataFrame:
    """(pid, second, instrument index, id) rows; ``micros`` is added to every other row's time."""
    return pl.DataFrame(
        {
            "pid": [r[0] for r in rows],
            "instrument": [_ALL_INSTRUMENTS[r[2]] for r in rows],
            "score": list(range(len(rows))),
            "assessed_at": [
                T0 + timedelta(seconds=r[1], microseconds=micros * (i % 2)) for i, r in enumerate(rows)
            ],
            "assessment_id": [r[3] for r in rows],
        },
        schema_overrides={"pid": pl.Int64},
    )


def _sequences(frame: pl.DataFrame) -> dict[tuple[int, str], list[str]]:
    """Each (patient, instrument)'s assessment ids in frame order."""
    return {
        (pid, inst): ids
        for pid, inst, ids in frame.group_by("pid", "instrument", maintain_order=True)
        .agg("assessment_id")
        .iter_rows()
    }


# few patients, seconds and instruments, so that ties on time (and on time and instrument) are common
_ROWS = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.sampled_from([0, 1, 59, 86_400, 40 * 86_400]),
        st.integers(0, len(_ALL_INSTRUMENTS) - 1),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(rows=_ROWS, ids=st.randoms(use_true_random=False), micros=st.sampled_from([0, 0, 250]))
def test_each_patients_instrument_in_time_then_id_order(rows, ids, micros) -> None:
    names = [f"A{n:03d}" for n in range(len(rows))]
    ids.shuffle(names)  # ids in no relation to file order
    frame = _frame([(*r, name) for r, name in zip(rows, names, strict=True)], micros)
    got = _in_score_order(frame)
    expected = frame.sort(*SCORE_ORDER)
    assert sorted(got.rows()) == sorted(frame.rows())  # the same rows
    assert got.select("pid", "assessed_at").equals(expected.select("pid", "assessed_at"))  # in time order
    assert _sequences(got) == _sequences(expected)
    if micros and len(rows) > 1:  # times not in whole seconds: the plain sort itself
        assert got.equals(expected)


def test_a_tie_on_time_and_instrument_goes_by_id_whatever_the_file_order() -> None:
    # patient 0: three scores on one instrument at one instant, ids in reverse file order, and
    # another instrument's between them
    rows = [(0, 60, 0, "C"), (0, 60, 1, "Z"), (0, 60, 0, "B"), (0, 0, 0, "D"), (0, 60, 0, "A")]
    got = _in_score_order(_frame(rows, 0))
    first = got.filter(pl.col("instrument") == _ALL_INSTRUMENTS[0])["assessment_id"].to_list()
    assert first == ["D", "A", "B", "C"]


def test_no_scores() -> None:
    assert _in_score_order(_frame([], 0)).height == 0
