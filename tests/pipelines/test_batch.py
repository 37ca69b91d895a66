"""validate_batch: many files checked together give exactly the per-file results of validate_file."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.cli import main
from pipelines.validate import FILE, FileResult, validate_batch, validate_file

AES = (
    "ae_id,patient_key,clinic_id,session_id,onset_at,category,severity_grade,serious,action_taken,"
    "outcome,description\n"
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
    assert d.file_error == "unreadable_file" and d.accepted.height == 0  # not UTF-8: only this file
    assert e.accepted["description"].to_list() == ["two\nlines"]
    assert f.accepted["description"].to_list() == ["a, b"] and f.accepted["_row_number"].to_list() == [1]
    assert batch.accepted.height == 2 + 1 + 1 + 1 + 1


@pytest.mark.parametrize("n", [0, 1])
def test_empty_and_single_batches(tmp_path: Path, n: int) -> None:
    path = tmp_path / "adverse_events.csv"
    path.write_text(AES + AE.format(n=1, text="x"))
    batch = validate_batch([(path, path.name)] * n)
    assert len(batch.files) == n and batch.accepted.height == n
