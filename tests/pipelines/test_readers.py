"""CSV reading: the vectorised fast path and the line-by-line fallback agree, row numbers are stable."""

from __future__ import annotations

import csv
import io

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines import readers
from pipelines.readers import MALFORMED, ROW, FileRejected

KEEP = {0: "a", 1: "b", 2: "c"}


def rows(body: bytes, n_fields: int = 3, keep: dict[int, str] = KEEP) -> list[tuple]:
    frame = readers.csv_rows(body, n_fields, keep, "t.csv")
    return frame.select(ROW, *keep.values(), MALFORMED).rows()


def test_plain_lines_split_and_row_numbers_skip_blank_lines():
    assert rows(b"1,2,3\n\n  \n4,,6\r\n") == [(1, "1", "2", "3", None), (4, "4", "", "6", None)]


def test_only_kept_columns_are_returned():
    frame = readers.csv_rows(b"1,2,3\n", 3, {2: "c", 0: "a"}, "t.csv")
    assert frame.columns == ["c", "a", ROW, MALFORMED]
    assert frame.row(0) == ("3", "1", 1, None)


def test_quoted_fields_on_one_line():
    assert rows(b'1,"x, y","say ""hi"""\n2,b,c\n') == [
        (1, "1", "x, y", 'say "hi"', None),
        (2, "2", "b", "c", None),
    ]


def test_multi_line_quoted_field_is_one_record():
    got = rows(b'1,"first\nsecond",3\n4,5,6\n')
    assert got == [(1, "1", "first\nsecond", "3", None), (3, "4", "5", "6", None)]


def test_wrong_field_counts_are_flagged_not_fatal():
    got = rows(b"1,2\n1,2,3,4\n7,8,9\n")
    assert [r[0] for r in got] == [1, 2, 3]
    assert got[0][4] == "the line has 2 fields, the header has 3"
    assert got[1][4] == "the line has 4 fields, the header has 3"
    assert got[2] == (3, "7", "8", "9", None)


def test_an_unclosed_quote_breaks_only_its_own_line():
    got = rows(b'1,"2,3\n4,5,6\n7,8,9\n')
    assert got[0][0] == 1 and got[0][4] is not None
    assert got[1:] == [(2, "4", "5", "6", None), (3, "7", "8", "9", None)]


def test_stray_quote_after_a_quoted_field_is_bad_quoting():
    got = rows(b'1,"2"x,3\n4,5,6\n')
    assert got[0][0] == 1 and "quot" in got[0][4]
    assert got[1] == (2, "4", "5", "6", None)


def test_not_utf8_is_unreadable():
    with pytest.raises(FileRejected) as err:
        readers.csv_rows("1,München,3\n".encode("latin-1"), 3, KEEP, "t.csv")
    assert err.value.reason == "unreadable_file"


def test_header_is_first_non_blank_line_after_bom():
    header = readers.csv_header(b'\xef\xbb\xbf\n"a", B ,c\n1,2,3\n', "t.csv")
    assert header.names == ["a", "B", "c"] and header.body == b"1,2,3\n"


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty_file"), (b"\xef\xbb\xbf \n", "empty_file"), (b"PK\x03\x04xx", "unreadable_file")],
)
def test_file_format_rejects(data, reason):
    with pytest.raises(FileRejected) as err:
        readers.file_format(data, "t.csv")
    assert err.value.reason == reason


def reference_rows(body: str, n_fields: int) -> list[tuple]:
    """Independent oracle: Python's csv module on a well-formed body, blank records skipped."""
    out = []
    reader = csv.reader(io.StringIO(body, newline=""))
    for record in reader:
        if not record or (len(record) == 1 and not record[0].strip()):
            continue
        assert len(record) == n_fields
        out.append(tuple(record))
    return out


field = st.text(alphabet='ab ,"\n1-', max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(field, field, field), min_size=1, max_size=8))
def test_well_formed_csv_matches_the_csv_module(records):
    # a record whose fields are all blank is a blank line, which the contract skips
    records = [r for r in records if "".join(r).strip() or any('"' in f or "," in f for f in r)]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerows(records)
    body = buffer.getvalue()
    frame = readers.csv_rows(body.encode(), 3, KEEP, "t.csv")
    assert frame[MALFORMED].null_count() == frame.height
    got = [tuple(r) for r in frame.select("a", "b", "c").rows()]
    assert got == reference_rows(body, 3)
    assert frame[ROW].is_sorted() and frame[ROW].n_unique() == frame.height


def test_parquet_text_formats_native_types():
    from datetime import date, datetime

    frame = pl.DataFrame(
        {
            "d": [date(2026, 1, 2)],
            "t": [datetime(2026, 1, 2, 3, 4, 5)],
            "b": [True],
            "i": [7],
            "f": [0.5],
        }
    )
    text = readers.parquet_text(frame, {"d": "d", "t": "t", "b": "b", "i": "i", "f": "f"}, "t.parquet")
    assert text.row(0) == ("2026-01-02", "2026-01-02T03:04:05", "true", "7", "0.5", 1, None)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet='a,"\n\r ', max_size=60))
def test_any_body_is_read_without_error_and_rows_are_distinct_lines(body):
    frame = readers.csv_rows(body.encode(), 3, KEEP, "t.csv")
    row_numbers = frame[ROW].to_list()
    assert row_numbers == sorted(set(row_numbers))
    lines = body.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    non_blank = {i + 1 for i, line in enumerate(lines) if line.strip()}
    assert set(row_numbers) <= non_blank
    # a line is skipped only when it is blank or continues a quoted field of the previous record
    for row in non_blank - set(row_numbers):
        assert any(r < row for r in row_numbers), (row, body)


def test_one_broken_line_leaves_every_other_row_exactly_as_the_fast_path_reads_it():
    good = "".join(f'{i},"note, {i}",x{i}\n' for i in range(1, 200))
    clean = readers.csv_rows(good.encode(), 3, KEEP, "t.csv")
    broken_body = good.replace('100,"note, 100",x100\n', '100,"note, 100,x100\n')  # unclosed quote
    broken = readers.csv_rows(broken_body.encode(), 3, KEEP, "t.csv")
    assert broken.filter(pl.col(MALFORMED).is_not_null())[ROW].to_list() == [100]
    assert broken.filter(pl.col(ROW) != 100).equals(clean.filter(pl.col(ROW) != 100))


def line_by_line(body: bytes, n_fields: int = 3, keep: dict[int, str] = KEEP) -> pl.DataFrame:
    """What ``csv_rows`` reads without its one-pass read of plain bodies."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(readers, "_plain_rows", lambda *_: None)
        return readers.csv_rows(body, n_fields, keep, "t.csv")


@pytest.mark.parametrize(
    "body",
    [
        b"1,2,3\n4,,6\n",
        b"1,2,3\n4,5,6",  # no newline at the end
        b" a , b ,c\n,,\n",  # blanks kept, empty fields are ""
        "é,ü,€\n".encode(),
    ],
)
def test_a_plain_body_is_read_in_one_pass_exactly_as_line_by_line(body):
    plain = readers._plain_rows(body, 3, KEEP)
    assert plain is not None
    assert plain.equals(line_by_line(body))
    subset = {2: "c", 0: "a"}
    assert readers.csv_rows(body, 3, subset, "t.csv").equals(line_by_line(body, keep=subset))


@pytest.mark.parametrize(
    "body",
    [
        b"1,2,3\n1,2\n4,5,6\n",  # a short line
        b"1,2,3\n1,2,3,4\n4,5,6\n",  # a long line
        b"1,2\n1,2,3,4\n",  # one short, one long: the commas add up
        b"1,2,3\n\n4,5,6\n",  # a blank line: no row, but it counts in the numbering
        b"\n1,2,3\n",
        b"1,2,3\n   \n",
        b"1,2,3\r\n",
        b'1,"2",3\n',
        b"1,\xff,3\n",  # not UTF-8
    ],
)
def test_a_body_with_any_other_line_is_read_line_by_line(body):
    # the one-pass read's proof rests on Polars making a row of every line and raising on long ones
    assert readers._plain_rows(body, 3, KEEP) is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="ab ,\n", max_size=40))
def test_any_quote_free_body_reads_the_same_either_way(body):
    data = body.encode()
    if not readers._NON_BLANK.search(data):
        return
    assert readers.csv_rows(data, 3, KEEP, "t.csv").equals(line_by_line(data))
