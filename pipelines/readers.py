"""Read one export file (CSV or Parquet) into a frame of raw text.

The reader knows nothing of the contract's rules: it turns bytes into one
``String`` column per kept column plus ``_row_number`` (1-based data row: the
n-th line after the header) and ``_malformed`` (why a CSV line could not be
split into the header's fields, else null). Validation happens on that frame.

Speed matters (about 10M session rows per refresh), so the CSV fast path never
loops in Python: a plain body (no quote, no carriage return, the header's number of
fields on every line, which is what almost every export is) is split by Polars' CSV
reader in one pass; any other is read as lines, unquoted lines are split with
``str.splitn``, and lines holding quotes are counted with a regex and parsed by
Polars' CSV reader. Python's ``csv`` module only sees the few lines Polars
cannot take alone: lines with an odd number of quotes (a field spanning lines,
or an unclosed quote) and lines Polars refuses (a stray quote). A broken line is
flagged and the rest of the file is still read.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

import polars as pl

BOM = b"\xef\xbb\xbf"
ROW = "_row_number"
MALFORMED = "_malformed"
# ``_malformed`` of a line holding bytes that are not UTF-8 starts with this: the line is
# rejected (``invalid_encoding``), the file's other lines are read.
BAD_ENCODING = "not UTF-8:"
# A multi-line quoted field may span at most this many lines before the
# opening line is taken to be broken (stops one stray quote eating the file).
MAX_RECORD_LINES = 1000
SPLIT_CHUNK_ROWS = 200_000  # smallest slice worth a thread of its own
_NON_BLANK = re.compile(rb"\S")
_QUOTED_SECTION = r'"(?:[^"]|"")*"'
_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook?); export the sheet as CSV",
    b"\xd0\xcf\x11\xe0": "an old Excel/OLE document; export the sheet as CSV",
    b"\x1f\x8b": "gzip-compressed; decompress it first",
}


class FileRejected(Exception):
    """The whole file is rejected with a contract reason code (never carries a data value)."""

    def __init__(self, reason: str, message: str, column: str | None = None, rows: int = 0) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.column = column
        self.rows = rows


@dataclass(frozen=True)
class CsvHeader:
    names: list[str]  # header fields as written, surrounding blanks removed
    line: str  # the header line itself (for delimiter sniffing)
    body: bytes  # everything after the header line


def file_format(data: bytes, rel_path: str) -> str:
    """'csv' or 'parquet'; rejects empty and obviously binary files."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    if not _NON_BLANK.search(data):
        raise FileRejected("empty_file", f"{rel_path}: the file is empty (no bytes or only blanks)")
    if data.startswith(b"PAR1") or rel_path.lower().endswith((".parquet", ".pq")):
        return "parquet"
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise FileRejected("unreadable_file", f"{rel_path}: the file is {what}")
    if b"\x00" in data:
        raise FileRejected("unreadable_file", f"{rel_path}: the file holds binary data (NUL bytes), not text")
    return "csv"


def csv_header(data: bytes, rel_path: str) -> CsvHeader:
    """The first non-blank line, parsed as CSV; the rest of the bytes is the body."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    pos = 0
    while True:
        end = data.find(b"\n", pos)
        raw = data[pos:] if end < 0 else data[pos:end]
        if raw.strip() or end < 0:
            break
        pos = end + 1
    body = b"" if end < 0 else data[end + 1 :]
    known = _HEADERS.get(raw)  # thousands of files share a header line: parse it once
    if known is not None:
        return CsvHeader(list(known[0]), known[1], body)
    try:
        line = raw.decode("utf-8").removesuffix("\r")
    except UnicodeDecodeError:
        raise FileRejected("unreadable_file", f"{rel_path}: the file is not UTF-8 text") from None
    try:
        names = next(csv.reader([line], strict=True))
    except (csv.Error, StopIteration):
        raise FileRejected(
            "no_header", f"{rel_path}: the first line cannot be read as a row of column names"
        ) from None
    stripped = tuple(n.strip() for n in names)
    if len(_HEADERS) < 1000:  # bounded: a folder of odd files cannot grow it without end
        _HEADERS[raw] = (stripped, line)
    return CsvHeader(list(stripped), line, body)


_HEADERS: dict[bytes, tuple[tuple[str, ...], str]] = {}


def repair_encoding(body: bytes) -> tuple[bytes, list[int]]:
    """The body with every line that is not UTF-8 decoded with U+FFFD for its bad bytes, and those lines.

    Lines are numbered as ``_row_number`` numbers them (1 = the first line after the header).
    One stray byte must cost its line, not the month of rows around it. A valid body (every
    export but a broken one) is checked in one decode, without a loop over its lines.
    """
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return body, []
    lines = body.split(b"\n")
    bad = []
    for i, line in enumerate(lines):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(i + 1)
            lines[i] = line.decode("utf-8", "replace").encode("utf-8")
    return b"\n".join(lines), bad


def split_fields(line: str, delimiter: str) -> list[str]:
    """Fields of one line with ``delimiter`` (lenient: for sniffing only)."""
    return next(csv.reader([line], delimiter=delimiter), [])


def count_rows(body: bytes) -> int:
    """Non-blank lines of a body: the row count reported for a rejected file."""
    if not body:
        return 0
    return sum(1 for line in body.split(b"\n") if line.strip())


def csv_rows(body: bytes, n_fields: int, keep: dict[int, str], rel_path: str) -> pl.DataFrame:
    """Raw text of the kept columns (position → canonical name), one row per data line."""
    if not _NON_BLANK.search(body):
        return _empty(keep)
    plain = _plain_rows(body, n_fields, keep)
    if plain is not None:
        return plain
    try:
        lines = pl.read_csv(
            body,
            has_header=False,
            separator="\x00",  # no NUL in a text file (checked): every line is one field
            quote_char=None,
            schema={"line": pl.String},
            row_index_name=ROW,
            row_index_offset=1,
            raise_if_empty=False,
        )
    except pl.exceptions.ComputeError:
        raise FileRejected("unreadable_file", f"{rel_path}: the file is not UTF-8 text") from None
    lines = lines.with_columns(pl.col(ROW).cast(pl.Int64))  # row r sits at position r - 1
    if b"\r" in body:
        lines = lines.with_columns(pl.col("line").str.strip_suffix("\r"))
    present = pl.col("line").is_not_null()
    if b'"' not in body:
        return _split_unquoted(lines.filter(present), n_fields, keep)
    has_quote = pl.col("line").str.contains('"', literal=True)
    quoted = lines.filter(present & has_quote).with_columns(
        pl.col("line").str.count_matches('"', literal=True).alias("_quotes")
    )
    frames = []
    taken = pl.Series(ROW, [], pl.Int64)
    if quoted.select((pl.col("_quotes") % 2 == 1).any()).item():
        records, taken_rows = _multi_line_records(lines["line"], quoted, n_fields)
        frames.append(_records_frame(records, n_fields, keep))
        taken = pl.Series(ROW, taken_rows, pl.Int64)
    free = ~pl.col(ROW).is_in(taken.implode())
    frames.append(_split_unquoted(lines.filter(present & ~has_quote & free), n_fields, keep))
    frames.append(_single_quoted(quoted.filter(free), n_fields, keep))
    return pl.concat(frames).sort(ROW)


def _plain_rows(body: bytes, n_fields: int, keep: dict[int, str]) -> pl.DataFrame | None:
    """The rows of a body every line of which is a plain row, else None (read it line by line).

    Almost every export is: no quote, no carriage return, and ``n_fields - 1`` commas on
    each line. Polars' CSV reader splits such a body in one pass, with about a third less CPU
    than reading lines and splitting them (1.2M session rows: 2.2 → 1.4 CPU-s). Each line's comma
    count is proven without looking at lines: Polars makes a row of every line (a blank one
    too) and raises on a line with more fields than the schema, so when the commas total
    ``n_fields - 1`` per row, no line has fewer either (tests hold Polars to both).
    """
    if n_fields < 2 or b'"' in body or b"\r" in body:
        return None
    try:
        rows = pl.read_csv(
            body,
            has_header=False,
            quote_char=None,
            schema={f"f{i}": pl.String for i in range(n_fields)},
            empty_string_is_null=False,  # an empty field is "", as the line-by-line split gives it
            row_index_name=ROW,
            row_index_offset=1,
        )
    except pl.exceptions.PolarsError:  # e.g. a long line, or not UTF-8: the line-by-line read says why
        return None
    if body.count(b",") != (n_fields - 1) * rows.height:
        return None
    return rows.select(
        *[pl.col(f"f{i}").alias(name) for i, name in keep.items()],
        pl.col(ROW).cast(pl.Int64),
        pl.lit(None, pl.String).alias(MALFORMED),
    )


def _multi_line_records(
    lines: pl.Series, quoted: pl.DataFrame, n_fields: int
) -> tuple[list[tuple[int, str, list[str], str | None]], list[int]]:
    """Pair each line with an odd number of quotes with the next one: a field spanning lines.

    Only the few odd lines are visited in Python. When the joined lines do not
    parse as one record (or no partner follows within ``MAX_RECORD_LINES``),
    the opening line alone is blamed and the next odd line opens the next try.
    Returns the records and every row they cover.
    """
    odd = quoted.filter(pl.col("_quotes") % 2 == 1)[ROW].to_list()
    records: list[tuple[int, str, list[str], str | None]] = []
    taken: list[int] = []
    k = 0
    while k < len(odd):
        start = odd[k]
        if k + 1 < len(odd) and odd[k + 1] - start < MAX_RECORD_LINES:
            end = odd[k + 1]
            text = "\n".join(line or "" for line in lines.slice(start - 1, end - start + 1).to_list())
            fields, problem = _parse_record(text, n_fields)
            if problem is None:
                records.append((start, text, fields, None))
                taken.extend(range(start, end + 1))
                k += 2
                continue
        line = lines[start - 1]
        fields, problem = _parse_record(line, n_fields)
        records.append((start, line, fields, problem or "bad quoting (an unbalanced quote)"))
        taken.append(start)
        k += 1
    return records, taken


def _single_quoted(quoted: pl.DataFrame, n_fields: int, keep: dict[int, str]) -> pl.DataFrame:
    """One-line records holding quotes: vectorised when Polars agrees, else line by line."""
    if quoted.height == 0:
        return _empty(keep)
    try:
        return _parse_quoted(quoted, n_fields, keep)
    except pl.exceptions.PolarsError:
        records = [
            (row, line, *_parse_record(line, n_fields))
            for row, line in quoted.select(ROW, "line").iter_rows()
        ]
        return _records_frame(records, n_fields, keep)


def _empty(keep: dict[int, str]) -> pl.DataFrame:
    schema = {name: pl.String for name in keep.values()} | {ROW: pl.Int64, MALFORMED: pl.String}
    return pl.DataFrame(schema=schema)


def _field_count_problem(count: pl.Expr, n_fields: int) -> pl.Expr:
    return (
        pl.when(count != n_fields)
        .then(pl.format("the line has {} fields, the header has {}", count, pl.lit(n_fields)))
        .otherwise(None)
    )


def _split_unquoted(lines: pl.DataFrame, n_fields: int, keep: dict[int, str]) -> pl.DataFrame:
    """Split quote-free lines on commas; a line of only blanks is no row."""
    names = [f"f{i}" for i in range(n_fields + 1)]
    short = pl.col(f"f{n_fields - 1}").is_null()
    long = pl.col(f"f{n_fields}").is_not_null()
    blank = pl.col("f1").is_null() & (pl.col("f0").str.strip_chars() == "")  # no comma, only blanks

    def split(chunk: pl.LazyFrame) -> pl.LazyFrame:
        parts = chunk.with_columns(
            pl.col("line").str.splitn(",", n_fields + 1).struct.rename_fields(names).alias("_parts")
        ).unnest("_parts")
        return parts.filter(~blank).with_columns((short | long).alias("_bad"))

    # one string expression runs on one core: split slices side by side, in order
    step = max(SPLIT_CHUNK_ROWS, -(-lines.height // pl.thread_pool_size()))
    parts = pl.concat(
        [split(lines.slice(i, step).lazy()) for i in range(0, max(lines.height, 1), step)]
    ).collect()
    if parts.select(pl.col("_bad").any()).item():
        count = pl.col("line").str.count_matches(",", literal=True) + 1
        problem = pl.when("_bad").then(_field_count_problem(count, n_fields))
    else:
        problem = pl.lit(None, pl.String)
    return parts.select(
        *[pl.col(f"f{i}").alias(name) for i, name in keep.items()], ROW, problem.alias(MALFORMED)
    )


def _parse_quoted(quoted: pl.DataFrame, n_fields: int, keep: dict[int, str]) -> pl.DataFrame:
    """Lines holding balanced quotes: count fields outside quotes, parse the good ones with Polars."""
    counted = quoted.with_columns(
        (pl.col("line").str.replace_all(_QUOTED_SECTION, "").str.count_matches(",", literal=True) + 1).alias(
            "_n"
        )
    )
    good = counted.filter(pl.col("_n") == n_fields)
    bad = counted.filter(pl.col("_n") != n_fields)
    frames = []
    if good.height:
        text = good.select(
            pl.concat_str(pl.col(ROW).cast(pl.String), pl.lit(","), "line").str.join("\n")
        ).item()
        schema = {ROW: pl.Int64} | {f"f{i}": pl.String for i in range(n_fields)}
        parsed = pl.read_csv(
            text.encode(), has_header=False, schema=schema, empty_string_is_null=False, raise_if_empty=False
        )
        if parsed.height != good.height:
            raise pl.exceptions.ComputeError("quoted lines did not parse one to one")
        frames.append(
            parsed.select(
                *[pl.col(f"f{i}").alias(n) for i, n in keep.items()],
                ROW,
                pl.lit(None, pl.String).alias(MALFORMED),
            )
        )
    if bad.height:
        rows = [
            (row, _lenient_fields(line), f"the line has {n} fields, the header has {n_fields}")
            for row, line, n in bad.select(ROW, "line", "_n").iter_rows()
        ]
        frames.append(_frame_from_fields(rows, keep))
    return pl.concat(frames) if frames else _empty(keep)


def _lenient_fields(record: str) -> list[str]:
    """Best-effort fields of a broken record (for its raw record only); never raises."""
    try:
        return next(csv.reader(io.StringIO(record, newline="")), [])
    except csv.Error:
        return record.split(",")


def _parse_record(record: str, n_fields: int) -> tuple[list[str], str | None]:
    try:
        rows = list(csv.reader(io.StringIO(record, newline=""), strict=True))
    except csv.Error:
        return _lenient_fields(record), "bad quoting (an unbalanced or stray quote)"
    if len(rows) != 1:
        return _lenient_fields(record), "bad quoting (a quoted field spans lines wrongly)"
    if len(rows[0]) != n_fields:
        return rows[0], f"the line has {len(rows[0])} fields, the header has {n_fields}"
    return rows[0], None


def _records_frame(
    records: list[tuple[int, str, list[str], str | None]], n_fields: int, keep: dict[int, str]
) -> pl.DataFrame:
    good = [(row, text, fields) for row, text, fields, problem in records if problem is None]
    bad = [(row, fields, problem) for row, _, fields, problem in records if problem is not None]
    frames = [_good_records(good, n_fields, keep)] if good else []
    if bad:
        frames.append(_frame_from_fields(bad, keep))
    return pl.concat(frames) if frames else _empty(keep)


def _good_records(
    good: list[tuple[int, str, list[str]]], n_fields: int, keep: dict[int, str]
) -> pl.DataFrame:
    """Records already checked by Python are parsed again by Polars, column-wise."""
    text = "\n".join(f"{row},{record}" for row, record, _ in good)
    schema = {ROW: pl.Int64} | {f"f{i}": pl.String for i in range(n_fields)}
    try:
        parsed = pl.read_csv(
            text.encode(), has_header=False, schema=schema, empty_string_is_null=False, raise_if_empty=False
        )
        if parsed.height != len(good):
            raise pl.exceptions.ComputeError("records did not parse one to one")
        return parsed.select(
            *[pl.col(f"f{i}").alias(n) for i, n in keep.items()],
            ROW,
            pl.lit(None, pl.String).alias(MALFORMED),
        )
    except pl.exceptions.PolarsError:
        return _frame_from_fields([(row, fields, None) for row, _, fields in good], keep)


def _frame_from_fields(rows: list[tuple[int, list[str], str | None]], keep: dict[int, str]) -> pl.DataFrame:
    data: dict[str, list] = {name: [] for name in keep.values()} | {ROW: [], MALFORMED: []}
    for row, fields, problem in rows:
        for i, name in keep.items():
            data[name].append(fields[i] if i < len(fields) else None)
        data[ROW].append(row)
        data[MALFORMED].append(problem)
    schema = {name: pl.String for name in keep.values()} | {ROW: pl.Int64, MALFORMED: pl.String}
    return pl.DataFrame(data, schema=schema)


def parquet_frame(data: bytes, rel_path: str) -> pl.DataFrame:
    try:
        return pl.read_parquet(io.BytesIO(data))
    except Exception:
        raise FileRejected(
            "unreadable_file", f"{rel_path}: the file is not a readable Parquet file"
        ) from None


def parquet_text(
    frame: pl.DataFrame, keep: dict[str, str], rel_path: str, dates: frozenset[str] = frozenset()
) -> pl.DataFrame:
    """Kept Parquet columns (file name → canonical name) as text, so both formats validate alike.

    ``dates`` names the canonical date columns: a timestamp at midnight there is a
    date (pandas writes dates as timestamps).
    """
    exprs = []
    for source, name in keep.items():
        dtype = frame.schema[source]
        col = pl.col(source)
        if dtype == pl.Date:
            expr = col.dt.to_string("%Y-%m-%d")
        elif isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                col = col.dt.replace_time_zone(None)
            expr = col.dt.to_string("%Y-%m-%dT%H:%M:%S")
            if name in dates:
                expr = (
                    pl.when(col == col.dt.truncate("1d")).then(col.dt.to_string("%Y-%m-%d")).otherwise(expr)
                )
        elif (
            dtype.is_numeric()
            or dtype in (pl.String, pl.Boolean, pl.Categorical, pl.Null)
            or isinstance(dtype, pl.Enum)
        ):
            expr = col.cast(pl.String)
        else:
            raise FileRejected(
                "unreadable_file",
                f"{rel_path}: column {source!r} has Parquet type {dtype}, which the contract cannot read",
                column=name,
                rows=frame.height,
            )
        exprs.append(expr.alias(name))
    return frame.select(
        *exprs,
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW),
        pl.lit(None, pl.String).alias(MALFORMED),
    )
