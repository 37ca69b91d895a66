"""Sidebar filters shared by every page, kept in the URL.

Each widget claims a query parameter (``url_state``; the widget key is the
parameter name), so a view can be bookmarked, shared and reloaded, and each
change is one browser-history entry.
Periods are relative to the data's last date, not the wall clock, so a
demo or a late export still shows data.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import partial

import polars as pl
import streamlit as st

from dashboard import queries
from dashboard.access.current import current_viewer
from dashboard.access.scope import split_requested
from dashboard.components import url_state
from dashboard.components.labels import label
from dashboard.metrics.filters import Filters
from pipelines.contract import CONDITIONS, MODALITIES, ROUTES

PERIODS: dict[str, str] = {
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "this_month": "This month",
    "last_month": "Last month",
    "this_quarter": "This quarter",
    "last_quarter": "Last quarter",
    "6m": "Last 6 months",
    "ytd": "Year to date",
    "12m": "Last 12 months",
    "custom": "Custom range",
}
DEFAULT_PERIOD = "90d"
COMPARISONS: dict[str, str] = {
    "previous": "Previous period",
    "last_year": "Same period last year",
}
DEFAULT_COMPARISON = "previous"
# URL parameter names (= widget keys). Other pages must not reuse them.
PARAMS = ("period", "range", "compare", "region", "clinics", "condition", "route", "modality")


def clinic_label(clinic_id: str, name: str | None) -> str:
    """How a clinic appears in pickers and in the URL (``clinic=Harbor (C1)``)."""
    return f"{name} ({clinic_id})" if name else clinic_id


def months_earlier(d: date, months: int) -> date:
    """The same day ``months`` calendar months before ``d`` (the month's last day when it is shorter)."""
    index = d.year * 12 + d.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    next_first = date(year + month // 12, month % 12 + 1, 1)
    return date(year, month, min(d.day, (next_first - timedelta(days=1)).day))


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def period_bounds(period: str, last: date, custom: Sequence[date] = ()) -> tuple[date, date]:
    """The closed date range of a period choice, anchored on the data's last date.

    Calendar presets take the month or quarter that holds the last date ("this month" runs
    from its first day to the last date; "last month" is the whole month before it).
    """
    if period == "30d":
        return last - timedelta(days=29), last
    if period == "90d":
        return last - timedelta(days=89), last
    if period == "this_month":
        return last.replace(day=1), last
    if period == "last_month":
        end = last.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    if period == "this_quarter":
        return _quarter_start(last), last
    if period == "last_quarter":
        end = _quarter_start(last) - timedelta(days=1)
        return _quarter_start(end), end
    if period == "6m":
        return months_earlier(last, 6) + timedelta(days=1), last
    if period == "ytd":
        return date(last.year, 1, 1), last
    if period == "12m":
        return months_earlier(last, 12) + timedelta(days=1), last
    if period == "custom" and custom:
        start = custom[0]
        end = custom[1] if len(custom) > 1 else custom[0]  # a half-picked range counts as one day
        return min(start, end), max(start, end)
    return period_bounds(DEFAULT_PERIOD, last)


RANGE_FORMAT = "YYYY-MM-DD – YYYY-MM-DD"
_DAY = r"(\d{4}-\d{2}-\d{2})"
# one day, or two with a dash, en dash, em dash, "to", "..", "," or "/" (or nothing) between them
_TYPED_RANGE = re.compile(rf"^\s*{_DAY}\s*(?:(?:–|—|-|to|\.\.|,|/)?\s*{_DAY})?\s*$", re.IGNORECASE)


def parse_range(text: str, lo: date, hi: date) -> tuple[date, date]:
    """A typed range (``2026-10-01 – 2026-10-31``; one day alone is that day), in order and clamped
    to the data's dates ``lo``–``hi``. ``ValueError`` says what to type."""
    found = _TYPED_RANGE.match(text or "")
    if not found:
        raise ValueError(f"Type the first and last day as {RANGE_FORMAT}.")
    days = []
    for value in found.groups():
        if value is None:
            continue
        try:
            days.append(date.fromisoformat(value))
        except ValueError:
            raise ValueError(f"{value} is not a date: type the range as {RANGE_FORMAT}.") from None
    first, last = min(days), max(days)
    return min(max(first, lo), hi), min(max(last, lo), hi)


def range_text(days: tuple[date, date]) -> str:
    return f"{days[0].isoformat()} – {days[1].isoformat()}"


def _custom_range(default: tuple[date, date], lo: date, hi: date) -> tuple[date, date]:
    """The typed custom range, applied on Enter (or leaving the box), as the box shows it after.

    A text box, not ``st.date_input``: the date input applies a typed range only when it loses
    focus, and Enter in it opens its calendar instead. Text that does not parse shows what to type
    and keeps the last range applied.
    """
    parse = partial(parse_range, lo=lo, hi=hi)
    key = url_state.typed_dates("range", default, lo, hi, parse)

    def tidy() -> None:  # the range as applied: ordered, clamped, one separator
        with contextlib.suppress(ValueError):
            st.session_state[key] = range_text(parse(st.session_state[key]))

    typed = st.sidebar.text_input(
        "Date range",
        key=key,
        placeholder=RANGE_FORMAT,
        on_change=tidy,
        help=f"Type the first and last day ({RANGE_FORMAT}) and press Enter. The data runs from "
        f"{lo.isoformat()} to {hi.isoformat()}; days outside it are moved to its ends.",
    )
    try:
        return parse(typed)
    except ValueError as error:
        written = url_state.last_written(key)
        kept = parse(" – ".join(written)) if written else default
        st.sidebar.error(f"{error} Showing {range_text(kept)}.", icon=":material/event_busy:")
        return kept


def comparison_filters(f: Filters, compare: str) -> Filters:
    """The period a page's tiles compare against: the equal-length period before, or a year earlier."""
    return f.same_period_last_year() if compare == "last_year" else f.previous_period()


def comparison_label(f: Filters, compare: str) -> str:
    """What a tile's change is measured against, in words and dates."""
    before = comparison_filters(f, compare)
    days = (f.end - f.start).days + 1
    what = "same period last year" if compare == "last_year" else f"previous {days} days"
    return f"vs {what} ({before.start:%d %b %Y} – {before.end:%d %b %Y})"


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
    compare: str = DEFAULT_COMPARISON
    picked_clinics: tuple[str, ...] = ()  # the Clinics picker's choice (empty = all), before regions

    def without(self, param: str, f: Filters | None = None) -> Filters:
        """The filters (``f``, by default this state's) with one sidebar filter (its URL parameter)
        back at its default: what an empty state counts to name the filter that emptied a page."""
        f = self.filters if f is None else f
        allowed = tuple(self.clinics["clinic_id"])
        region_of = dict(zip(self.clinics["clinic_id"], self.clinics["region"], strict=True))
        if param == "period":
            start, end = period_bounds(DEFAULT_PERIOD, self.last_date)
            return replace(f, start=start, end=end)
        if param == "region":
            return replace(
                f, regions=(), clinic_ids=resolve_scope(allowed, self.picked_clinics, (), region_of)
            )
        if param == "clinics":
            return replace(f, clinic_ids=resolve_scope(allowed, (), f.regions, region_of))
        field = {"condition": "conditions", "route": "routes", "modality": "modalities"}[param]
        return replace(f, **{field: ()})

    def set_filters(self) -> dict[str, str]:
        """The sidebar filters not at their default (URL parameter → how the filter reads)."""
        f = self.filters
        names = self.clinic_names
        out: dict[str, str] = {}
        if self.period != DEFAULT_PERIOD:
            out["period"] = f"{PERIODS.get(self.period, self.period)}, {self.period_label}"
        if f.regions:
            out["region"] = ", ".join(f.regions)
        if self.picked_clinics:
            out["clinics"] = ", ".join(names.get(c, c) for c in self.picked_clinics)
        for param, values in (("condition", f.conditions), ("route", f.routes), ("modality", f.modalities)):
            if values:
                out[param] = ", ".join(label(v) for v in values)
        return out

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

    @property
    def comparison(self) -> Filters:
        """The filters of the period the tiles compare against (``compare``)."""
        return comparison_filters(self.filters, self.compare)

    @property
    def comparison_label(self) -> str:
        return comparison_label(self.filters, self.compare)


def sidebar_filters(last_date: date, first_date: date) -> FilterState:
    """Render the shared filters in the sidebar and resolve them into one ``Filters``.

    Each control claims its URL parameter first (``url_state``): the URL holds the whole view.
    """
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
        format_func=PERIODS.__getitem__,
        key=url_state.choice("period", list(PERIODS), DEFAULT_PERIOD, PERIODS.__getitem__),
        help=f"Relative to the newest data ({last_date:%d %b %Y}), not today's date. "
        "Months and quarters are those that hold that date.",
    )
    custom: Sequence[date] = ()
    default_range = (max(first_date, last_date - timedelta(days=89)), last_date)
    if period == "custom":
        custom = _custom_range(default_range, first_date, last_date)
    else:  # the range keeps its value (and leaves the URL) while another period is picked
        url_state.typed_dates(
            "range",
            default_range,
            first_date,
            last_date,
            partial(parse_range, lo=first_date, hi=last_date),
            in_url=False,
        )
    start, end = period_bounds(period, last_date, custom)
    compare = sb.selectbox(
        "Compare with",
        list(COMPARISONS),
        format_func=COMPARISONS.__getitem__,
        key=url_state.choice("compare", list(COMPARISONS), DEFAULT_COMPARISON, COMPARISONS.__getitem__),
        help="What the change on each tile is measured against, as a difference and in per cent.",
    )
    region_options = sorted(set(region_of.values()))
    regions = sb.multiselect(
        "Region",
        region_options,
        key=url_state.choices("region", region_options),
        placeholder="All regions",
        select_all=False,  # typing 'West' + Enter must pick West, not every region containing it
    )
    selected = sb.multiselect(
        "Clinics",
        list(names),
        format_func=lambda cid: clinic_label(cid, names.get(cid)),
        key=url_state.choices("clinics", list(names), lambda cid: clinic_label(cid, names.get(cid))),
        placeholder="All clinics",
        select_all=False,
    )
    conditions = sb.multiselect(
        "Condition",
        list(CONDITIONS),
        format_func=label,
        key=url_state.choices("condition", list(CONDITIONS), label),
        placeholder="All conditions",
        select_all=False,
    )
    routes = sb.multiselect(
        "Route",
        list(ROUTES),
        format_func=label,
        key=url_state.choices("route", list(ROUTES), label),
        placeholder="All routes",
        select_all=False,
    )
    modalities = sb.multiselect(
        "Modality",
        list(MODALITIES),
        format_func=label,
        key=url_state.choices("modality", list(MODALITIES), label),
        placeholder="All modalities",
        select_all=False,
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
        compare=compare,
        picked_clinics=tuple(selected),
    )
