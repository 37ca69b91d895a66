"""The board pack as one HTML document with print CSS (A4 pages, running header, page numbers).

Every export value (clinic names, regions, categories) is escaped as text; charts are the
Kaleido SVGs of the pages' figures. Numbers are formatted here and nowhere else, so the
PDF's text can be checked against ``ketaops metrics``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from dashboard.boardpack.content import PERIOD_KEYS, BoardPackData, compared_months
from dashboard.components.safety_figures import FLAG_LABELS
from dashboard.stats.intervals import wilson

MISSING = "–"


def count(v: Any) -> str:
    return MISSING if v is None else f"{int(v):,}"


def pct(v: Any) -> str:
    return MISSING if v is None else f"{100 * float(v):.1f}%"


def per100(v: Any) -> str:
    return MISSING if v is None else f"{float(v):.2f}"


def ci(pair: Sequence[Any], fmt: Callable[[Any], str]) -> str:
    lo, hi = (pair[0], pair[1]) if pair else (None, None)
    return "" if lo is None or hi is None else f"({fmt(lo)}–{fmt(hi)})"


# Network KPIs, in the order of the summary table: (label, key of report["network"], format).
NETWORK_ROWS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("Scheduled sessions", "scheduled_sessions", count),
    ("Administered sessions", "administered_sessions", count),
    ("Active patients", "active_patients", count),
    ("New starts", "new_starts", count),
    ("No-show rate", "no_show_rate", pct),
    ("Cancellation rate", "cancellation_rate", pct),
    ("Chair utilisation", "chair_utilisation", pct),
    ("Induction eligible patients", "induction_eligible_patients", count),
    ("Induction completion", "induction_completion_rate", pct),
    ("AEs", "ae_count", count),
    ("AEs per 100 sessions", "ae_per_100_sessions", per100),
    ("Serious AEs", "serious_ae_count", count),
)
# Per clinic: (header, key of a report["clinics"] row, format).
THROUGHPUT_COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("Scheduled", "scheduled_sessions", count),
    ("Administered", "administered_sessions", count),
    ("Active patients", "active_patients", count),
    ("New starts", "new_starts", count),
    ("Utilisation", "chair_utilisation", pct),
    ("No-show", "no_show_rate", pct),
    ("Cancelled", "cancellation_rate", pct),
)

CSS = """
@page { size: A4; margin: 20mm 14mm 16mm 14mm;
  @top-left { content: "HEADER"; font: 8pt "DejaVu Sans", sans-serif; color: #5b6670; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font: 8pt "DejaVu Sans", sans-serif;
    color: #5b6670; } }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Liberation Sans", sans-serif; font-size: 9pt; color: #1b2730; margin: 0; }
section { break-before: page; }
section:first-of-type { break-before: auto; }
h1 { font-size: 18pt; margin: 0 0 2mm; color: #123a5a; }
h2 { font-size: 13pt; margin: 0 0 3mm; color: #123a5a; border-bottom: 1.5pt solid #123a5a;
  padding-bottom: 1mm; }
h3 { font-size: 10.5pt; margin: 5mm 0 2mm; break-after: avoid; }
p.meta { color: #5b6670; margin: 0 0 4mm; }
p.note { color: #5b6670; font-size: 8pt; margin: 1.5mm 0; }
.alert { border-left: 3pt solid #c0392b; background: #fbeceb; padding: 2mm 3mm; margin: 3mm 0; }
.ok { border-left: 3pt solid #2e7d32; background: #edf6ee; padding: 2mm 3mm; margin: 3mm 0; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 2mm; }
th, td { padding: 1.2mm 2mm; border-bottom: 0.5pt solid #d4dae0; text-align: right; vertical-align: top; }
th { background: #eef2f5; font-weight: bold; font-size: 8pt; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
tr { break-inside: avoid; }
tr.total td { font-weight: bold; border-top: 1pt solid #1b2730; }
td .ci { color: #5b6670; font-size: 7.5pt; white-space: nowrap; }
.flag-above_998 { color: #c0392b; font-weight: bold; }
.flag-above_95 { color: #b9770e; font-weight: bold; }
figure { margin: 2mm 0; break-inside: avoid; }
figure svg { width: 100%; height: auto; }
dl { margin: 0; } dt { font-weight: bold; margin-top: 2mm; } dd { margin: 0.5mm 0 0 0; }
"""


def _css_string(text: str) -> str:
    """Text safe inside a CSS string in a style element (the running header)."""
    return re.sub(r"[^\w .,:()/+·-]", "", text)


def _td(text: str, cls: str = "") -> str:
    return f'<td class="{cls}">{escape(text)}</td>' if cls else f"<td>{escape(text)}</td>"


def _value_ci(value: str, interval: str) -> str:
    if not interval:
        return _td(value)
    return f'<td>{escape(value)}<br><span class="ci">{escape(interval)}</span></td>'


def _table(headers: Sequence[str], rows: Sequence[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _figure(svg: str | None, empty: str) -> str:
    return f"<figure>{svg}</figure>" if svg else f'<p class="note">{escape(empty)}</p>'


def _clinic_names(data: BoardPackData) -> dict[str, str]:
    return {c["clinic_id"]: c["clinic_name"] or c["clinic_id"] for c in data.reports["month"]["clinics"]}


def summary_section(data: BoardPackData) -> str:
    months = compared_months(data.month)
    stale = data.stale_clinics
    if stale:
        names = ", ".join(f"{name} ({cid})" for cid, name in stale)
        fresh = (
            f'<div class="alert"><b>Stale data:</b> {escape(names)} — newest data more than '
            f"{data.cfg.stale_days} days before {data.today:%d %b %Y}; their figures are incomplete.</div>"
        )
    else:
        fresh = f'<div class="ok">Every clinic in scope has data within {data.cfg.stale_days} days.</div>'
    headers = ["Network", *(months[k].label for k in PERIOD_KEYS)]
    rows = []
    for label, key, fmt in NETWORK_ROWS:
        cells = []
        for k in PERIOD_KEYS:
            net = data.reports[k]["network"]
            if key == "ae_per_100_sessions":
                cells.append(_value_ci(fmt(net[key]), ci(net["ae_per_100_ci95"], per100)))
            else:
                cells.append(_td(fmt(net[key])))
        rows.append(f"<tr>{_td(label)}{''.join(cells)}</tr>")
    return (
        "<section>"
        f"<h1>Board pack: {escape(data.month.label)}</h1>"
        f'<p class="meta">Scope: {escape(data.scope_label)} ({len(data.clinic_ids)} clinics) · '
        f"compared with {escape(months['previous'].label)} and {escape(months['year_before'].label)} · "
        f"generated {data.generated_at:%d %b %Y %H:%M %Z}</p>"
        f"{fresh}<h3>Network figures</h3>{_table(headers, rows)}"
        '<p class="note">AE rate with its exact Poisson 95% CI. Definitions on the last page.</p>'
        "</section>"
    )


def throughput_section(data: BoardPackData, svgs: Mapping[str, str]) -> str:
    rows = []
    for c in data.reports["month"]["clinics"]:
        cells = "".join(_td(fmt(c[key])) for _, key, fmt in THROUGHPUT_COLUMNS)
        name = _td(c["clinic_name"] or c["clinic_id"])
        rows.append(f"<tr>{name}{_td(c['region'] or '', 'text')}{cells}</tr>")
    net = data.reports["month"]["network"]
    total = "".join(_td(fmt(net.get(key))) for _, key, fmt in THROUGHPUT_COLUMNS)
    rows.append(f'<tr class="total">{_td("All clinics in scope")}{_td("", "text")}{total}</tr>')
    headers = ["Clinic", "Region", *(h for h, _, _ in THROUGHPUT_COLUMNS)]
    return (
        f"<section><h2>Throughput and utilisation by clinic, {escape(data.month.label)}</h2>"
        f"{_table(headers, rows)}"
        f"{_figure(svgs.get('utilisation'), 'No open clinic in scope: no utilisation to draw.')}"
        "</section>"
    )


def safety_section(data: BoardPackData, svgs: Mapping[str, str]) -> str:
    rows = []
    for c in data.reports["month"]["clinics"]:
        flag = c["funnel"]
        flag_text = FLAG_LABELS.get(flag, MISSING) if flag else MISSING
        rows.append(
            "<tr>"
            f"{_td(c['clinic_name'] or c['clinic_id'])}"
            f"{_td(count(c['administered_sessions']))}{_td(count(c['ae_count']))}"
            f"{_value_ci(per100(c['ae_per_100_sessions']), ci(c['ae_per_100_ci95'], per100))}"
            f"{_td(count(c['serious_ae_count']))}"
            f'<td class="flag-{escape(flag or "none")}">{escape(flag_text)}</td>'
            "</tr>"
        )
    headers = ["Clinic", "Administered", "AEs", "AEs per 100", "Serious AEs", "Funnel position"]
    return (
        f"<section><h2>Adverse events, {escape(data.month.label)}</h2>"
        f"{_table(headers, rows)}"
        f"{_figure(svgs.get('funnel'), 'No administered sessions in scope: no funnel.')}"
        f"<h3>Over time</h3>{_figure(svgs.get('u_chart'), 'No administered sessions: no control chart.')}"
        '<p class="note">Monthly u-chart from the same month a year earlier; limits from the first '
        f"{data.cfg.spc_baseline_periods} months (marked trial while fewer exist).</p>"
        "</section>"
    )


def serious_section(data: BoardPackData) -> str:
    months = compared_months(data.month)
    frame = data.serious_by_category
    shown = frame.filter(sum(frame[k] for k in PERIOD_KEYS) > 0)
    rows = [
        f"<tr>{_td(r['label'] or r['category'])}{''.join(_td(count(r[k])) for k in PERIOD_KEYS)}</tr>"
        for r in shown.iter_rows(named=True)
    ]
    totals = "".join(_td(count(data.reports[k]["network"]["serious_ae_count"])) for k in PERIOD_KEYS)
    rows.append(f'<tr class="total">{_td("All serious AEs")}{totals}</tr>')
    return (
        "<section><h2>Serious adverse events</h2>"
        f"{_table(['Category', *(months[k].label for k in PERIOD_KEYS)], rows)}"
        '<p class="note">Counts by category only; descriptions stay on the Safety page\'s line list.</p>'
        "</section>"
    )


def _rate_ci(k: Any, n: Any, rate: Any) -> tuple[str, str]:
    if rate is None or not n:
        return MISSING, ""
    lo, hi = wilson(int(k), int(n))
    return pct(rate), ci((lo, hi), pct)


def outcomes_section(data: BoardPackData) -> str:
    """Per condition and instrument: the network row, then each clinic whose figure is shown.

    Suppressed clinic rows are counted in one line (which clinics they are is no secret: the
    metrics command lists them; their figures are).
    """
    k = data.cfg.suppression_k
    names = _clinic_names(data)
    rows: list[str] = []
    hidden: dict[tuple[str, str], int] = {}
    for o in data.reports["month"]["outcomes"]:
        pair = (o["condition"], o["instrument"])
        if o["clinic_id"] is not None and o["suppressed"]:
            hidden[pair] = hidden.get(pair, 0) + 1
            continue
        network = o["clinic_id"] is None
        if network and rows:
            rows.append(_hidden_row(hidden.pop(_last_pair(data, o), 0), k))
        who = "Network" if network else names.get(o["clinic_id"], o["clinic_id"])
        cls = ' class="total"' if network else ""
        head = (
            f"{_td(o['condition'].replace('_', ' ') if network else '', 'text')}"
            f"{_td(o['instrument'] if network else '', 'text')}{_td(who, 'text')}"
        )
        if o["suppressed"]:
            rows.append(f'<tr{cls}>{head}<td colspan="3">suppressed (n &lt; {k})</td></tr>')
            continue
        resp = _rate_ci(o["responders"], o["evaluable"], o["response_rate"])
        rem = _rate_ci(o["remitters"], o["evaluable"], o["remission_rate"])
        rows.append(f"<tr{cls}>{head}{_td(count(o['evaluable']))}{_value_ci(*resp)}{_value_ci(*rem)}</tr>")
    if rows:
        rows.append(_hidden_row(sum(hidden.values()), k))
    rows = [r for r in rows if r]
    table = (
        _table(["Condition", "Instrument", "Clinic", "Evaluable", "Response", "Remission"], rows)
        if rows
        else '<p class="note">No patient started treatment in scope this month.</p>'
    )
    return (
        f"<section><h2>Outcomes of patients starting in {escape(data.month.label)}</h2>{table}"
        f'<p class="note">Response and remission at the end of induction (day 42) with Wilson 95% CIs. '
        f"Figures from fewer than {k} evaluable patients are suppressed, with the complementary rule "
        "across clinics (metrics.md). A recent month's cohort has not reached day 42 yet.</p>"
        "</section>"
    )


def _last_pair(data: BoardPackData, current: dict[str, Any]) -> tuple[str, str]:
    """The (condition, instrument) of the network row before ``current`` in the outcomes list."""
    previous = None
    for o in data.reports["month"]["outcomes"]:
        if o is current:
            break
        if o["clinic_id"] is None:
            previous = (o["condition"], o["instrument"])
    return previous or ("", "")


def _hidden_row(n: int, k: int) -> str:
    if not n:
        return ""
    text = f"{n} clinic(s): suppressed (n &lt; {k})"
    return f'<tr><td></td><td></td><td class="text" colspan="4">{text}</td></tr>'


def monitoring_section(data: BoardPackData) -> str:
    if data.monitoring is None:
        monitoring = '<p class="note">Monitoring compliance is not measured by this version.</p>'
    else:
        monitoring = _table(
            ["Measure", "Value"], [f"<tr>{_td(str(k))}{_td(str(v))}</tr>" for k, v in data.monitoring.items()]
        )
    if data.reviews is None:
        reviews = '<p class="note">No review store: open and overdue reviews are not tracked.</p>'
    else:
        reviews = _table(
            ["Reviews", "Count"],
            [f"<tr>{_td(str(k).replace('_', ' '))}{_td(count(v))}</tr>" for k, v in data.reviews.items()],
        )
    return (
        "<section><h2>Monitoring and reviews</h2>"
        f"<h3>Monitoring compliance</h3>{monitoring}<h3>Open and overdue reviews</h3>{reviews}</section>"
    )


DEFINITIONS = (
    ("Administered session", "Status completed or stopped early."),
    ("No-show rate, cancellation rate", "No-shows (cancellations) ÷ scheduled sessions in the month."),
    (
        "Chair utilisation",
        "Chair minutes used (duration + recovery) ÷ chairs × opening hours × open days (Mon–Sat).",
    ),
    ("New starts", "Patients whose first administered session is in the month."),
    (
        "Induction completion",
        "Of new starts at least 42 days before the data's last date, the share with ≥ 6 administered "
        "induction sessions within 42 days.",
    ),
    (
        "AE rate",
        "100 × AEs with onset in the month ÷ administered sessions; exact Poisson (Garwood) 95% CI.",
    ),
    (
        "Funnel position",
        "A clinic's AE count against exact Poisson 95% and 99.8% limits around the scope's rate "
        "(Spiegelhalter 2005).",
    ),
    ("Serious AE", "An adverse event recorded as serious."),
    (
        "Response, remission",
        "End-of-induction score against the condition's rule (metrics.md's rule table), among "
        "patients with baseline and endpoint scores.",
    ),
)


def definitions_section(data: BoardPackData) -> str:
    defs = "".join(f"<dt>{escape(t)}</dt><dd>{escape(d)}</dd>" for t, d in DEFINITIONS)
    rows = []
    for r in data.freshness.sort("clinic_id").iter_rows(named=True):
        newest = r["newest_data_date"]
        rows.append(
            f"<tr>{_td(r['clinic_name'] or r['clinic_id'])}{_td(r['region'] or '', 'text')}"
            f"{_td(newest.isoformat() if newest else MISSING)}{_td(count(r['days_since_data']))}"
            f"{_td('stale' if r['stale'] else ('open' if r['is_open'] else 'closed'), 'text')}</tr>"
        )
    return (
        "<section><h2>Definitions and data freshness</h2>"
        f"<dl>{defs}</dl>"
        f"<h3>Data freshness on {data.today:%d %b %Y}</h3>"
        f"{_table(['Clinic', 'Region', 'Newest data', 'Days since', 'State'], rows)}"
        f'<p class="note">Stale: an open clinic whose newest data is more than {data.cfg.stale_days} '
        "days old (the rule of ketaops status). Every figure equals `ketaops metrics` for the same "
        "month and scope.</p>"
        "</section>"
    )


def board_pack_html(data: BoardPackData, svgs: Mapping[str, str]) -> str:
    """The whole pack: summary first (stale clinics named), definitions and freshness last."""
    header = _css_string(f"KetaOps board pack · {data.month.label} · {data.scope_label}")
    body = "".join(
        (
            summary_section(data),
            throughput_section(data, svgs),
            safety_section(data, svgs),
            serious_section(data),
            outcomes_section(data),
            monitoring_section(data),
            definitions_section(data),
        )
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        # nothing runs and nothing is fetched: the page is data, styles and inline SVG only
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:\">"
        f"<title>KetaOps board pack {escape(data.month.iso)}</title>"
        f"<style>{CSS.replace('HEADER', header)}</style></head><body>{body}</body></html>"
    )
