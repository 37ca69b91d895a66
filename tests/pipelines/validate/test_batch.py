"""validate_file and validate_batch: reading files, the invariants the loader relies on, and many files
checked together giving exactly the per-file results of validate_file.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from pipelines.cli import main
from pipelines.contract import REASONS, TABLES_BY_NAME
from pipelines.validate import FileResult, validate_batch, validate_file
from pipelines.validate import batch as validate_module
from pipelines.validate.rejects import REJECT_SCHEMA
from pipelines.validate.rules import FILE
from pipelines.validate.typed import accepted_schema
from tests.pipelines.validate.export_files import (
    AES,
    CLINICS,
    GOOD_AE,
    GOOD_CLINIC,
    only_reject,
    run,
)

AE = "AE{n},P1,CLN-001,S1,2026-01-05T10:00,headache,1,false,none,resolved,{text}\n"


def _same(batched: FileResult, alone: FileResult) -> None:
    for name in ("rel_path", "table", "content_hash", "rows_read", "duplicates_collapsed", "redactions"):
        assert getattr(batched, name) == getattr(alone, name), (alone.rel_path, name)
    assert batched.unknown_columns == alone.unknown_columns
    assert batched.file_error == alone.file_error and batched.rows_rejected == alone.rows_rejected
    assert batched.accepted.equals(alone.accepted), alone.rel_path
    assert batched.rejects.equals(alone.rejects), alone.rel_path


def _files(root: Path) -> list[tuple[Path, str]]:
    return [(p, p.relative_to(root).as_posix()) for p in sorted(root.rglob("*")) if p.is_file()]


def test_dirty_demo_batched_equals_file_by_file(tmp_path: Path) -> None:
    args = ["--clinics", "3", "--years", "0.3", "--end", "2026-11-24", "--seed", "5", "--dirty"]
    assert main(["demo-data", "--out", str(tmp_path), *args]) == 0
    items = _files(tmp_path)
    alone = [validate_file(p, rel) for p, rel in items]
    for table in {r.table for r in alone if r.table}:
        mine = [(item, r) for item, r in zip(items, alone, strict=True) if r.table == table]
        batch = validate_batch([item for item, _ in mine])
        for batched, single in zip(batch.files, [r for _, r in mine], strict=True):
            _same(batched, single)
        # the combined frame is every file's accepted rows, tagged with the file's position
        expected = pl.concat(
            [r.accepted.with_columns(pl.lit(i, pl.Int32).alias(FILE)) for i, (_, r) in enumerate(mine)]
        )
        assert batch.accepted.sort(FILE, "_row_number").equals(expected.sort(FILE, "_row_number"))
    # the dirty set really exercised the rules: rejects, whole-file rejects and redactions
    assert sum(r.rows_rejected for r in alone) > 0
    assert any(r.file_error for r in alone)
    assert sum(r.redactions for r in alone) > 0


def test_rows_and_duplicates_stay_within_their_file(tmp_path: Path) -> None:
    texts = {
        # CRLF, a blank line (row 2 is no row), an identical duplicate (row 4 collapses)
        "a/adverse_events_1.csv": AES
        + (AE.format(n=1, text="ok") + "\n" + AE.format(n=2, text="x") + AE.format(n=2, text="x")).replace(
            "\n", "\r\n"
        ),
        # same keys as file a: not duplicates of file a's rows; AE3 twice with different values
        "b/adverse_events_1.csv": AES
        + AE.format(n=1, text="ok")
        + AE.format(n=3, text="call 555-123-4567")
        + AE.format(n=3, text="other"),
        # no newline at the end, a bad grade on row 2
        "c/adverse_events_1.csv": AES
        + AE.format(n=4, text="a")
        + AE.format(n=5, text="b").replace(",1,", ",9,")[:-1],
    }
    for rel, text in texts.items():
        (tmp_path / rel).parent.mkdir(parents=True)
        (tmp_path / rel).write_bytes(text.encode())
    (tmp_path / "d").mkdir()
    (tmp_path / "d/adverse_events_1.csv").write_bytes(
        AES.encode() + AE.format(n=6, text="caf\xe9").encode("latin-1")
    )
    # quoted fields: one spanning two lines (file e is split alone), one holding a comma (split with a-c)
    (tmp_path / "e").mkdir()
    (tmp_path / "e/adverse_events_1.csv").write_text(AES + AE.format(n=7, text='"two\nlines"'))
    (tmp_path / "f").mkdir()
    (tmp_path / "f/adverse_events_1.csv").write_text(AES + AE.format(n=8, text='"a, b"'))
    items = _files(tmp_path)
    batch = validate_batch(items)
    a, b, c, d, e, f = batch.files
    for batched, (p, rel) in zip(batch.files, items, strict=True):
        _same(batched, validate_file(p, rel))
    assert a.accepted["ae_id"].to_list() == ["AE1", "AE2"] and a.accepted["_row_number"].to_list() == [1, 3]
    assert a.duplicates_collapsed == 1 and a.rows_read == 3
    assert b.accepted["ae_id"].to_list() == ["AE1"] and b.duplicates_collapsed == 0
    assert b.rejects["reason"].to_list() == ["duplicate_key"] * 2
    assert b.rejects["row_number"].to_list() == [2, 3] and b.redactions == 1
    assert "555-123-4567" not in b.rejects["raw_record"].str.join("").item()
    assert c.rejects.select("row_number", "reason", "column_name").rows() == [
        (2, "out_of_range", "severity_grade")
    ]
    assert c.rejects["message"].item().startswith("c/adverse_events_1.csv row 2")
    # a line that is not UTF-8: only that line is rejected
    assert d.file_error is None and d.accepted.height == 0
    assert d.rejects.select("row_number", "reason").rows() == [(1, "invalid_encoding")]
    assert e.accepted["description"].to_list() == ["two\nlines"]
    assert f.accepted["description"].to_list() == ["a, b"] and f.accepted["_row_number"].to_list() == [1]
    assert batch.accepted.height == 2 + 1 + 1 + 1 + 1


@pytest.mark.parametrize("n", [0, 1])
def test_empty_and_single_batches(tmp_path: Path, n: int) -> None:
    path = tmp_path / "adverse_events.csv"
    path.write_text(AES + AE.format(n=1, text="x"))
    batch = validate_batch([(path, path.name)] * n)
    assert len(batch.files) == n and batch.accepted.height == n


def test_header_only_file_is_valid_and_empty(tmp_path):
    r = run(tmp_path, "clinics.csv", CLINICS)
    assert r.file_error is None and r.rows_read == 0 and r.accepted.height == 0


def test_file_matching_no_table_is_ignored(tmp_path):
    r = run(tmp_path, "CLN-001/notes.csv", "anything at all\n")
    assert r.table is None and r.file_error is None and r.rows_read == 0 and r.rejects.height == 0
    assert len(r.content_hash) == 64


def test_crlf_file_with_a_multi_line_description(tmp_path):
    text = AES + GOOD_AE.replace("mild headache", '"mild headache,\r\nresolved by 11:00"')
    r = run(tmp_path, "adverse_events.csv", text.replace("\n", "\r\n").replace("\r\r\n", "\r\n"))
    assert r.rows_rejected == 0
    assert r.accepted["description"].to_list() == ["mild headache,\nresolved by 11:00"]


def test_parquet_with_an_unreadable_column_type_is_rejected_whole(tmp_path):
    pl.DataFrame(
        {
            "clinic_id": ["C"],
            "clinic_name": ["N"],
            "region": ["R"],
            "opened_on": ["2024-01-01"],
            "chairs": [[1, 2]],
        }
    ).write_parquet(tmp_path / "clinics.parquet")
    r = validate_file(tmp_path / "clinics.parquet", "clinics.parquet")
    assert r.file_error == "unreadable_file" and r.rows_rejected == 1
    assert only_reject(r)["column_name"] == "chairs"


def test_unexpected_error_becomes_unreadable_file(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("patient P1 value leaked in an exception")

    monkeypatch.setattr(validate_module, "_validate_rows", boom)
    r = run(tmp_path, "clinics.csv", CLINICS + GOOD_CLINIC)
    assert r.file_error == "unreadable_file"
    assert "RuntimeError" in only_reject(r)["message"]
    assert "P1" not in only_reject(r)["message"]


def _valid_value(column) -> st.SearchStrategy[str]:
    low = column.minimum if column.minimum is not None else 0
    high = column.maximum if column.maximum is not None else 100
    return {
        "text": st.sampled_from(["A1", "B2", "CLN-001", " x y "]),
        "enum": st.sampled_from(list(column.enum or ("x",)) + [v.upper() for v in column.enum or ()]),
        "int": st.integers(int(low), int(high)).map(str),
        "float": st.floats(low, high, allow_nan=False).map(lambda v: f"{v:.2f}"),
        "date": st.dates().map(lambda d: d.isoformat()),
        "timestamp": st.datetimes().map(lambda d: d.isoformat(timespec="minutes")),
        "bool": st.sampled_from(["true", "No", "1", "0"]),
    }[column.kind]


CORRUPT = st.one_of(
    st.just(""),
    st.just("zz"),
    st.just("-1"),
    st.just("1e9"),
    st.text(alphabet='a1,"\n -;:@', max_size=6),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_input_conserves_rows_and_never_raises(tmp_path_factory, data):
    table = data.draw(st.sampled_from(list(TABLES_BY_NAME.values())), label="table")
    columns = list(table.columns)
    n_rows = data.draw(st.integers(0, 12), label="rows")
    lines = []
    for _ in range(n_rows):
        values = [
            data.draw(st.one_of(_valid_value(c), CORRUPT) if data.draw(st.booleans()) else _valid_value(c))
            for c in columns
        ]
        lines.append(",".join(values))
    if lines and data.draw(st.booleans(), label="repeat a row"):
        lines.append(data.draw(st.sampled_from(lines)))
    body = "\n".join([",".join(c.name for c in columns), *lines]) + "\n"
    if data.draw(st.booleans(), label="properly quoted"):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(
            [[c.name for c in columns]] + [line.split(",") for line in lines]
        )
        body = buffer.getvalue()
    path = tmp_path_factory.mktemp("prop") / f"{table.name}.csv"
    path.write_text(body)
    note(repr(body))

    r = validate_file(path, path.name)

    assert r.rows_read == r.accepted.height + r.rows_rejected + r.duplicates_collapsed
    assert r.rejects.schema == pl.Schema(REJECT_SCHEMA)
    assert set(r.rejects["reason"].to_list()) <= set(REASONS)
    if r.file_error is None:
        assert r.accepted.schema == pl.Schema(accepted_schema(table))
        rejected = r.rejects["row_number"].to_list()
        assert len(rejected) == len(set(rejected)) == r.rows_rejected  # one reject per rejected row
        assert not set(rejected) & set(r.accepted["_row_number"].to_list())
        assert r.rejects["message"].null_count() == 0


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from([b'"', b'""', b"a", b",", b"\n", b"\r\n", b" "]), max_size=40).map(b"".join))
def test_a_file_may_span_lines_exactly_when_a_line_holds_an_odd_number_of_quotes(body: bytes) -> None:
    """The byte-level shortcut against the definition, counted line by line."""
    odd_line = any(line.count(b'"') % 2 for line in body.split(b"\n"))
    assert validate_module._may_span_lines(body) == odd_line
