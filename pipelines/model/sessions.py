"""Which sessions count, and the per-patient session SQL (metrics.md "Throughput" and "Outcomes").

Administered sessions are the ones the loader numbers; a patient's first one is their day 0
(new starts, the induction funnel and the outcomes cohort). The refresh stores the rows of
``first_sessions_sql`` and ``maintenance_sessions_sql`` (``pipelines.marts``); a page reads
those tables, or the same SQL inline on a database without them (``pipelines.compat``).
"""

from __future__ import annotations

from pipelines.contract import ADMINISTERED_STATUSES, SESSIONS

INDUCTION_WINDOW_DAYS = 42  # metrics.md: induction completion window and maturity rule


def _sql_literals(values: tuple[str, ...]) -> str:
    """Contract constants (never user input) as a SQL list; asserted to be plain words."""
    assert all(v.replace("_", "").isalnum() for v in values), values
    return ", ".join(f"'{v}'" for v in values)


ADMINISTERED = f"status IN ({_sql_literals(ADMINISTERED_STATUSES)})"


def induction_sessions_sql(firsts: str, key: str = "patient_key") -> str:
    """Per patient of ``firsts`` (SQL with ``key`` and day0): administered induction
    sessions from day 0 to the end of its 42nd day, in any clinic (metrics.md).

    The count the funnel and completion compare with 3 and 6. The refresh stores it with each
    first session (``patient_first_sessions``, ``pipelines.marts``), so a page counts a
    year's new starts without joining their sessions (0.26 s at 365 days on the large network).
    ``key`` names the patient: ``patient_no`` where ``firsts`` has it (an integer join: the
    refresh's rebuild, 1.1 → 0.6 s at 6M sessions).
    """
    return f"""
        SELECT f.{key}, count(*) AS induction_sessions
        FROM ({firsts}) f JOIN sessions s ON s.{key} = f.{key}
        WHERE s.{ADMINISTERED} AND s.phase = 'induction' AND s.scheduled_at >= f.day0
          -- "within 42 days": the session's date is at most day0's date + 42, i.e. before midnight of day 43
          AND s.scheduled_at < CAST(CAST(f.day0 AS DATE) + {INDUCTION_WINDOW_DAYS + 1} AS TIMESTAMP)
        GROUP BY f.{key}"""


def first_sessions_sql(patients: str = "TRUE", numbered: bool = False) -> str:
    """Each patient's first administered session: the one the loader numbers 1 (by
    ``scheduled_at``, ties by ``session_id``, over all clinics), as new starts count it,
    with the patient's ``induction_sessions`` (``induction_sessions_sql``).
    ``patients`` restricts the patients (a condition on ``patient_key``; SQL of the refresh,
    never input). Reading the loader's number is an integer filter; re-deriving the first
    session with a GROUP BY over every history took 1.4 s for a day's patients at 6M sessions.
    ``numbered`` adds ``patient_no`` (the refresh's table; a database of an older version read
    inline may lack the column)."""
    firsts = f"""
        SELECT patient_key, {"patient_no, " if numbered else ""}session_id, scheduled_at AS day0, clinic_id,
               route, modality, primary_condition
        FROM {SESSIONS.name} WHERE session_number = 1 AND ({patients})"""
    key = "patient_no" if numbered else "patient_key"  # the integer where there is one
    return f"""
    SELECT f.*, coalesce(n.induction_sessions, 0) AS induction_sessions
    FROM ({firsts}) f LEFT JOIN ({induction_sessions_sql(firsts, key)}) n USING ({key})"""


def maintenance_sessions_sql(patients: str = "TRUE", numbered: bool = False) -> str:
    """Each administered maintenance session with the patient's previous one anywhere in the
    network (time, clinic, route, modality; null for the first): the steps of the cadence.

    ``patients`` restricts the patients (SQL of the refresh, never input). The refresh stores
    it as ``maintenance_sessions``. Ties in time are ordered by session id, so two sessions at
    the same time are each other's neighbours (a 0-day gap). ``numbered`` adds ``patient_no``
    (as ``first_sessions_sql``).
    """
    key = "patient_no" if numbered else "patient_key"  # the integer where there is one
    return f"""
        SELECT patient_key, {"patient_no, " if numbered else ""}
               session_id, scheduled_at, clinic_id, route, modality, primary_condition,
               lag(session_id) OVER w AS prev_session_id, lag(scheduled_at) OVER w AS prev_at,
               lag(clinic_id) OVER w AS prev_clinic_id, lag(route) OVER w AS prev_route,
               lag(modality) OVER w AS prev_modality
        FROM sessions WHERE {ADMINISTERED} AND phase = 'maintenance' AND ({patients})
        WINDOW w AS (PARTITION BY {key} ORDER BY scheduled_at, session_id)"""
