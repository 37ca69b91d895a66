"""Sidebar filters shared by every page, kept in the URL.

Each widget is bound to a query parameter (``bind="query-params"``; the
widget key is the parameter name), so a view can be bookmarked, shared and
reloaded; ``persist_state="session"`` keeps values across page switches.
Periods are relative to the data's last date, not the wall clock, so a
demo or a late export still shows data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

import polars as pl
import streamlit as st

from dashboard import queries
from dashboard.access.current import current_viewer
from dashboard.access.scope import split_requested
from dashboard.metrics.filters import Filters
from pipelines.contract import CONDITIONS, MODALITIES, ROUTES

PERIODS: dict[str, str] = {
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "ytd": "Year to date",
    "12m": "Last 12 months",
    "custom": "Custom range",
}
DEFAULT_PERIOD = "90d"
# URL parameter names (= widget keys). Other pages must not reuse them.
PARAMS = ("period", "range", "region", "clinics", "condition", "route", "modality")


def label(value: str) -> str:
    """``bipolar_depression`` → ``Bipolar depression``; short codes (IV, PTSD, OCD, KAP) upper case.

    Bound widgets put this label in the URL, so it must stay stable.
    """
    if len(value) <= 4 and value not in ("pain", "other"):
        return value.upper()
    return value.replace("_", " ").capitalize()


def clinic_label(clinic_id: str, name: str | None) -> str:
    """How a clinic appears in pickers and in the URL (``clinic=Harbor (C1)``)."""
    return f"{name} ({clinic_id})" if name else clinic_id


def period_bounds(period: str, last: date, custom: Sequence[date] = ()) -> tuple[date, date]:
    """The closed date range of a period choice, anchored on the data's last date."""
    if period == "30d":
        return last - timedelta(days=29), last
    if period == "90d":
        return last - timedelta(days=89), last
    if period == "ytd":
        return date(last.year, 1, 1), last
    if period == "12m":
        try:
            year_ago = last.replace(year=last.year - 1)
        except ValueError:  # 29 February
            year_ago = last.replace(year=last.year - 1, day=28)
        return year_ago + timedelta(days=1), last
    if period == "custom" and custom:
        start = custom[0]
        end = custom[1] if len(custom) > 1 else custom[0]  # a half-picked range counts as one day
        return min(start, end), max(start, end)
    return period_bounds(DEFAULT_PERIOD, last)


def allowed_clinics() -> tuple[str, ...]:
    """The clinics the current viewer may see: their scope, resolved by the sign-in gate (a network
    viewer's from the clinics table, so a clinic a refresh added is in it at once)."""
    viewer = current_viewer()
    return network_clinics() if viewer.is_network else viewer.clinic_ids


def network_clinics() -> tuple[str, ...]:
    """Every clinic of the network: the population of the network benchmarks (funnel targets, network
    rates). A viewer of part of the network receives them as aggregates, the other clinics unnamed
    (``dashboard/queries.py`` anonymises them)."""
    return tuple(queries.clinic_regions())


_URL_CLINIC = re.compile(r"\(([^()]*)\)\s*$")


def url_clinic_id(value: str) -> str:
    """The clinic id in a ``clinics`` URL value (``Harbor (C1)`` → ``C1``; a bare id as it is)."""
    found = _URL_CLINIC.search(value)
    return found.group(1).strip() if found else value.strip()


def outside_scope_notice(allowed: Sequence[str], regions_allowed: Sequence[str]) -> str | None:
    """A notice naming the URL's clinics and regions outside the viewer's access (their ids only)."""
    params = st.query_params
    asked = [url_clinic_id(v) for v in params.get_all("clinics")]
    _, outside = split_requested(allowed, asked)
    regions = sorted(set(params.get_all("region")) - set(regions_allowed))
    named = [*outside, *(f"region {r}" for r in regions)]
    if not named:
        return None
    verb = "is" if len(named) == 1 else "are"
    return f"{', '.join(named)} {verb} outside your access: showing the clinics you can see."


def resolve_scope(
    allowed: Sequence[str],
    selected: Sequence[str],
    regions: Sequence[str],
    region_of: Mapping[str, str],
) -> tuple[str, ...]:
    """allowed ∩ selection (empty = all) ∩ clinics in the chosen regions (empty = all), sorted."""
    scope = set(allowed)
    if selected:
        scope &= set(selected)
    if regions:
        scope = {c for c in scope if region_of.get(c) in set(regions)}
    return tuple(sorted(scope))


@dataclass(frozen=True)
class FilterState:
    filters: Filters
    period: str
    period_label: str
    last_date: date
    clinics: pl.DataFrame  # clinic_id, clinic_name, region, … of the allowed clinics

    @property
    def clinic_names(self) -> dict[str, str]:
        return dict(zip(self.clinics["clinic_id"], self.clinics["clinic_name"], strict=True))

    @property
    def network_filters(self) -> Filters:
        """The filters over the whole network, in every region: the population a funnel target is
        taken from, whatever clinics or region are picked, so a clinic is never its own target. For
        a viewer of part of the network the query layer returns these figures as aggregates, other
        clinics unnamed."""
        return replace(self.filters.with_clinics(network_clinics()), regions=())


def sidebar_filters(last_date: date, first_date: date) -> FilterState:
    """Render the shared filters in the sidebar and resolve them into one ``Filters``."""
    allowed = allowed_clinics()
    all_clinics = queries.clinics()
    visible = all_clinics.filter(pl.col("clinic_id").is_in(allowed))
    names = dict(zip(visible["clinic_id"], visible["clinic_name"], strict=True))
    region_of = dict(zip(visible["clinic_id"], visible["region"], strict=True))
    sb = st.sidebar
    notice = outside_scope_notice(allowed, sorted({r for r in region_of.values() if r}))
    if notice:
        st.warning(notice, icon=":material/lock:")
    sb.markdown("### Filters")
    period = sb.selectbox(
        "Period",
        list(PERIODS),
        index=list(PERIODS).index(DEFAULT_PERIOD),
        format_func=PERIODS.__getitem__,
        key="period",
        bind="query-params",
        persist_state="session",
        help=f"Relative to the newest data ({last_date:%d %b %Y}), not today's date.",
    )
    custom: Sequence[date] = ()
    if period == "custom":
        picked = sb.date_input(
            "Date range",
            value=(max(first_date, last_date - timedelta(days=89)), last_date),
            min_value=first_date,
            max_value=last_date,
            key="range",
            bind="query-params",
            persist_state="session",
            format="YYYY-MM-DD",
        )
        custom = tuple(picked) if isinstance(picked, (tuple, list)) else (picked,)
    start, end = period_bounds(period, last_date, custom)
    regions = sb.multiselect(
        "Region",
        sorted(set(region_of.values())),
        key="region",
        bind="query-params",
        persist_state="session",
        placeholder="All regions",
    )
    selected = sb.multiselect(
        "Clinics",
        list(names),
        format_func=lambda cid: clinic_label(cid, names.get(cid)),
        key="clinics",
        bind="query-params",
        persist_state="session",
        placeholder="All clinics",
    )
    conditions = sb.multiselect(
        "Condition",
        list(CONDITIONS),
        format_func=label,
        key="condition",
        bind="query-params",
        persist_state="session",
        placeholder="All conditions",
    )
    routes = sb.multiselect(
        "Route",
        list(ROUTES),
        format_func=label,
        key="route",
        bind="query-params",
        persist_state="session",
        placeholder="All routes",
    )
    modalities = sb.multiselect(
        "Modality",
        list(MODALITIES),
        format_func=label,
        key="modality",
        bind="query-params",
        persist_state="session",
        placeholder="All modalities",
    )
    sb.caption(f"{start:%d %b %Y} – {end:%d %b %Y}. The URL keeps these filters: copy it to share this view.")
    filters = Filters(
        start=start,
        end=end,
        clinic_ids=resolve_scope(allowed, selected, regions, region_of),
        regions=tuple(regions),
        conditions=tuple(conditions),
        routes=tuple(routes),
        modalities=tuple(modalities),
    )
    return FilterState(
        filters=filters,
        period=period,
        period_label=f"{start:%d %b %Y} – {end:%d %b %Y}",
        last_date=last_date,
        clinics=visible,
    )
