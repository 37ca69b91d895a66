"""The clinic network: size, opening dates, regions, and which clinics carry planted signals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.contract import CLINICS
from pipelines.demo.params import DemoSpec, from_day, to_day

# (city, region): names are fictional-sounding but plausible.
CITIES: tuple[tuple[str, str], ...] = (
    ("Boston", "Northeast"), ("Hartford", "Northeast"), ("Providence", "Northeast"),
    ("Albany", "Northeast"), ("Portland ME", "Northeast"), ("Newark", "Northeast"),
    ("Atlanta", "Southeast"), ("Charlotte", "Southeast"), ("Nashville", "Southeast"),
    ("Tampa", "Southeast"), ("Raleigh", "Southeast"), ("Savannah", "Southeast"),
    ("Chicago", "Midwest"), ("Columbus", "Midwest"), ("Madison", "Midwest"),
    ("Omaha", "Midwest"), ("Detroit", "Midwest"), ("Minneapolis", "Midwest"),
    ("Austin", "Southwest"), ("Phoenix", "Southwest"), ("Albuquerque", "Southwest"),
    ("Tucson", "Southwest"), ("El Paso", "Southwest"), ("Dallas", "Southwest"),
    ("Denver", "West"), ("Seattle", "West"), ("Sacramento", "West"),
    ("Boise", "West"), ("Salt Lake City", "West"), ("San Diego", "West"),
)  # fmt: skip
SUFFIXES = ("Ketamine Clinic", "Infusion Center", "Wellness Infusions", "Mood Clinic")
CHAIR_CHOICES = np.arange(2, 13)
CHAIR_WEIGHTS = np.array([4, 6, 9, 10, 10, 9, 7, 5, 4, 3, 2], dtype=float)
HOURS_CHOICES = np.array([8.0, 9.0, 10.0, 10.0, 11.0, 12.0])
ESTABLISHED_SHARE = 0.65  # the rest open during the period
# Planted signals.
OUTLIER_AE_FACTOR = 2.5
SHIFT_NO_SHOW_DELTA = 0.09
PLANTED_ROLES = ("ae_outlier", "no_show_shift", "silent")
# Contract v2 roles, drawn apart from those above (a clinic may carry one of each): the clinic
# that still sends v1 exports, and the monitoring signals of docs/demo-data.md.
V2_ROLES = ("v1_only", "skips_40min_bp", "short_nasal_observation", "bp_dosing_provider")


@dataclass(frozen=True)
class Clinic:
    index: int  # 0-based, part of every random stream's seed
    clinic_id: str
    name: str
    region: str
    opened_day: int
    chairs: int
    hours_per_day: float
    open_hour: int
    utilisation: float  # target share of chair time used once ramped up
    p_no_show: float
    p_cancel: float
    role: str | None  # one of PLANTED_ROLES or None
    v2_role: str | None = None  # one of V2_ROLES or None

    @property
    def sends_v2(self) -> bool:
        return self.v2_role != "v1_only"

    @property
    def slots_per_day(self) -> int:
        return max(1, int(self.hours_per_day * 60 // 90))


def make_clinics(spec: DemoSpec) -> list[Clinic]:
    """Clinic parameters from the seed alone (not from --end), so incremental runs agree."""
    rng = np.random.default_rng([spec.seed, 0xC11])
    n = spec.n_clinics
    established = rng.random(n) < ESTABLISHED_SHARE
    roles: dict[int, str] = {}
    order = rng.permutation(n)
    for role, idx in zip(PLANTED_ROLES, order, strict=False):
        roles[int(idx)] = role
    v2_order = np.random.default_rng([spec.seed, 0xC12]).permutation(n)  # own stream: v1 roles unchanged
    v2_roles = {int(idx): role for role, idx in zip(V2_ROLES, v2_order, strict=False)}
    chairs = rng.choice(CHAIR_CHOICES, size=n, p=CHAIR_WEIGHTS / CHAIR_WEIGHTS.sum())
    hours = rng.choice(HOURS_CHOICES, size=n)
    open_hour = rng.choice(np.array([7, 8, 8, 9]), size=n)
    util = rng.uniform(0.5, 0.7, size=n)
    p_ns = rng.uniform(0.05, 0.08, size=n)
    p_c = rng.uniform(0.03, 0.05, size=n)
    before = rng.integers(120, 2200, size=n)
    during = rng.uniform(0.05, 0.7, size=n)
    city = rng.permutation(np.resize(np.arange(len(CITIES)), max(n, len(CITIES))))[:n]
    start = to_day(spec.start)
    clinics = []
    seen: dict[str, int] = {}
    for i in range(n):
        planted = i in roles or v2_roles.get(i, "v1_only") != "v1_only"
        if planted:  # signals need a full baseline period and enough volume
            chairs[i] = max(int(chairs[i]), 5)
        if roles.get(i) == "ae_outlier":  # small, so it barely moves the network's funnel target
            chairs[i], hours[i] = 2, 8.0
        opened = (
            start - int(before[i]) if established[i] or planted else start + int(during[i] * spec.span_days)
        )
        cname, region = CITIES[int(city[i])]
        base = f"{cname} {SUFFIXES[i % len(SUFFIXES)]}"
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base} {seen[base]}"
        clinics.append(
            Clinic(
                index=i,
                clinic_id=f"CLN-{i + 1:03d}",
                name=name,
                region=region,
                opened_day=opened,
                chairs=int(chairs[i]),
                hours_per_day=float(hours[i]),
                open_hour=int(open_hour[i]),
                utilisation=float(util[i]),
                p_no_show=float(p_ns[i]),
                p_cancel=float(p_c[i]),
                role=roles.get(i),
                v2_role=v2_roles.get(i),
            )
        )
    return clinics


def clinics_frame(clinics: list[Clinic]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "clinic_id": [c.clinic_id for c in clinics],
            "clinic_name": [c.name for c in clinics],
            "region": [c.region for c in clinics],
            "opened_on": [from_day(c.opened_day) for c in clinics],
            "closed_on": pl.Series([None] * len(clinics), dtype=pl.Date),
            "chairs": [c.chairs for c in clinics],
            "hours_per_day": [c.hours_per_day for c in clinics],
        }
    ).select(CLINICS.column_names)
