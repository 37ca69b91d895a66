"""Configurable thresholds of metrics.md, in one place.

Defaults are the spec's; a deployment overrides them in ``ketaops.toml``
(``[metrics]`` table) next to the database or at ``$KETAOPS_CONFIG``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path


@dataclass(frozen=True)
class MetricConfig:
    # vital-sign excursion thresholds (metrics.md "Safety")
    bp_sys_max: int = 180
    bp_dia_max: int = 110
    hr_max: int = 130
    spo2_min: int = 92
    # protocol range for administered iv sessions
    protocol_dose_min: float = 0.4
    protocol_dose_max: float = 1.0
    protocol_duration_min: int = 30
    protocol_duration_max: int = 120
    # small-cell suppression: figures from fewer than k evaluable patients are hidden; 0 disables
    suppression_k: int = 11
    # days without new data before a clinic counts as stale
    stale_days: int = 3
    # SPC: periods used to fix the control limits
    spc_baseline_periods: int = 12
    # monitoring compliance (metrics.md "Monitoring compliance")
    pre_dose_bp_sys: int = 150  # dosed despite elevated pre-dose BP: systolic at or above
    pre_dose_bp_dia: int = 95  # … or diastolic at or above
    peak_check_from_min: int = 30  # the BP after the start (the ~40-minute peak) counts in this window
    peak_check_to_min: int = 60
    min_observation_iv: int = 30  # duration + recovery, minutes, per route
    min_observation_im: int = 60
    min_observation_intranasal: int = 120  # esketamine REMS: at least 2 hours
    deep_sedation_moaas: int = 3  # MOAA/S at or below: moderate sedation or deeper
    # caseness thresholds overriding the rule table's, as (instrument, baseline ≥) pairs
    # (``[metrics.caseness]`` in ketaops.toml: ``phq9 = 12``)
    caseness: tuple[tuple[str, float], ...] = ()


def load_config(path: str | os.PathLike[str] | None = None) -> MetricConfig:
    """Defaults, overridden by the ``[metrics]`` table of a TOML file if one exists."""
    candidate = path or os.environ.get("KETAOPS_CONFIG") or "ketaops.toml"
    p = Path(candidate)
    if not p.is_file():
        return MetricConfig()
    with p.open("rb") as fh:
        raw = tomllib.load(fh).get("metrics", {})
    known = {f.name for f in fields(MetricConfig)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{p}: unknown [metrics] settings: {', '.join(sorted(unknown))}")
    if isinstance(raw.get("caseness"), dict):  # a TOML table; kept as sorted pairs (hashable, one repr)
        raw["caseness"] = tuple(sorted((str(k), float(v)) for k, v in raw["caseness"].items()))
    return replace(MetricConfig(), **raw)
