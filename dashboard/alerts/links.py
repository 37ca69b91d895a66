"""Links into the dashboard with the filters in the URL (the pages bind their widgets to it).

The parameter values are the sidebar's own labels (``dashboard/components/filters.py``); they
are restated here so a command-line run needs no Streamlit, and a test keeps both equal.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

CUSTOM_PERIOD = "Custom range"  # filters.PERIODS["custom"]


def clinic_param(clinic_id: str, name: str | None) -> str:
    """As ``filters.clinic_label``: ``Harbor (C1)``."""
    return f"{name} ({clinic_id})" if name else clinic_id


def view_url(
    base: str, page: str, start: date, end: date, clinics: dict[str, str | None] | None = None, **extra: str
) -> str:
    """``base/page?period=Custom range&range=start&range=end&clinics=…`` (spaces as %20)."""
    params: list[tuple[str, str]] = [
        ("period", CUSTOM_PERIOD),
        ("range", start.isoformat()),
        ("range", end.isoformat()),
    ]
    params += [("clinics", clinic_param(cid, name)) for cid, name in sorted((clinics or {}).items())]
    params += sorted(extra.items())
    return f"{base.rstrip('/')}/{page}?{urlencode(params, quote_via=_quote)}"


def _quote(text: str, safe: str = "", encoding: str | None = None, errors: str | None = None) -> str:
    from urllib.parse import quote

    return quote(text, safe="", encoding=encoding, errors=errors)
