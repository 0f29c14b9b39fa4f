"""The precise path of the CSV drop source: one file parsed, cleaned and checked cell by cell.

Files that the fast path (:mod:`eventlake.sources.csv.batch`) cannot vouch for come here:
one file read as text, values trimmed (and unwrapped from quotes kept by padding), entirely
empty rows dropped and counted, each value converted and checked; every problem carries its
row, physical line, column, value and what was expected. A file with any problem is
rejected whole (:class:`~eventlake.sources.csv.clean.FileRejected`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from eventlake.sources.csv.clean import FileRejected, PreparedFile, Problem, has_blank_lines
from eventlake.sources.csv.schema import ColumnSpec, CsvSchema

__all__ = ["ConvertedFile", "MAX_PROBLEMS", "convert_file"]

#: Problems kept per failing file (the total is always counted).
MAX_PROBLEMS = 100

_INT_RE = r"^[+-]?[0-9]+$"
_NUM_RE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


@dataclass(frozen=True, slots=True)
class ConvertedFile:
    """A file that passed: its rows in schema types and how many empty rows were dropped."""

    table: pa.Table
    empty_rows: int


def _blank_lines(pf: PreparedFile) -> int:
    """Blank lines of the body outside quoted values: pyarrow skips them without a record,
    so they are counted here (a whitespace-only line is a record, counted elsewhere)."""
    if not has_blank_lines(pf):
        return 0
    text = bytes(pf.body()).decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=pf.delimiter)
    return sum(1 for record in reader if not record)


def _record_lines(pf: PreparedFile) -> list[int]:
    """Physical line (1-based, in the file) where each non-blank record starts."""
    text = bytes(pf.body()).decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=pf.delimiter)
    out: list[int] = []
    prev = 0
    for record in reader:
        if record:
            out.append(prev + 2)  # +1 for 1-based, +1 for the header line
        prev = reader.line_num
    return out


def _convert_column(
    col: ColumnSpec, values: pa.Array, schema: CsvSchema
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(converted values, null mask, bad mask) of one trimmed text column."""
    nulls = pc.is_in(values, value_set=pa.array(schema.null_values, pa.string()))
    nulls_np = nulls.to_numpy(zero_copy_only=False)
    present = pc.invert(nulls)
    if col.type == "string":
        converted: pa.Array = pc.if_else(nulls, pa.scalar(None, pa.string()), values)
        ok = pa.array(np.ones(len(values), dtype=bool))
    elif col.type in ("integer", "number"):
        ok = pc.match_substring_regex(values, _INT_RE if col.type == "integer" else _NUM_RE)
        clean = pc.if_else(pc.and_(present, ok), values, pa.scalar(None, pa.string()))
        converted = pc.cast(clean, col.arrow_type)
    elif col.type == "boolean":
        trues, falses = (pa.array(w, pa.string()) for w in schema.bool_words())
        is_true = pc.is_in(values, value_set=trues)
        ok = pc.or_(is_true, pc.is_in(values, value_set=falses))
        converted = pc.if_else(pc.and_(present, ok), is_true, pa.scalar(None, pa.bool_()))
    elif col.type == "date":
        parsed = pc.strptime(values, format="%Y-%m-%d", unit="s", error_is_null=True)
        ok = pc.and_(pc.match_substring_regex(values, _DATE_RE), pc.is_valid(parsed))
        converted = pc.cast(parsed, pa.date32())
    else:
        stamps: list[datetime | None] = []
        flags: list[bool] = []
        for v in values.to_pylist():
            try:
                t = datetime.fromisoformat(v)
                stamps.append(t.replace(tzinfo=UTC) if t.tzinfo is None else t)
                flags.append(True)
            except (TypeError, ValueError):
                stamps.append(None)
                flags.append(False)
        converted = pa.array(stamps, col.arrow_type)
        ok = pa.array(flags)
    bad = pc.and_(present, pc.invert(pc.fill_null(ok, False)))
    rule_ok = pa.array(np.ones(len(values), dtype=bool))
    if col.allowed is not None:
        allowed = pa.array(col.allowed).cast(converted.type)
        rule_ok = pc.and_(rule_ok, pc.fill_null(pc.is_in(converted, value_set=allowed), True))
    if col.max_length is not None and col.type == "string":
        too_long = pc.greater(pc.utf8_length(converted), col.max_length)
        rule_ok = pc.and_(rule_ok, pc.invert(pc.fill_null(too_long, False)))
    if col.minimum is not None and col.type in ("integer", "number"):
        rule_ok = pc.and_(rule_ok, pc.fill_null(pc.greater_equal(converted, col.minimum), True))
    if col.maximum is not None and col.type in ("integer", "number"):
        rule_ok = pc.and_(rule_ok, pc.fill_null(pc.less_equal(converted, col.maximum), True))
    bad = pc.or_(bad, pc.and_(present, pc.invert(rule_ok)))
    return converted, nulls_np, bad.to_numpy(zero_copy_only=False)


def _clean_text(values: pa.Array) -> pa.Array:
    """Trim, and unwrap quotes the parser kept because of padding (``a ; "b"``)."""
    values = pc.utf8_trim_whitespace(values)
    if pc.any(pc.starts_with(values, '"')).as_py():
        unwrapped = pc.replace_substring_regex(values, r'^"(.*)"$', r"\1")
        values = pc.utf8_trim_whitespace(pc.replace_substring(unwrapped, '""', '"'))
    return values


def convert_file(pf: PreparedFile, schema: CsvSchema) -> ConvertedFile:
    """Parse, clean and validate one file precisely.

    Raises:
        FileRejected: with up to :data:`MAX_PROBLEMS` problems (and their total).
    """
    invalid: list[tuple[int, str, int]] = []

    def on_invalid(row: Any) -> str:
        invalid.append((int(row.number or 0), str(row.text), int(row.actual_columns)))
        return "skip"

    read = pacsv.ReadOptions(column_names=list(pf.header), use_threads=False)
    parse = pacsv.ParseOptions(
        delimiter=pf.delimiter, invalid_row_handler=on_invalid, newlines_in_values=True
    )
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in pf.header},
        include_columns=list(schema.names),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        raw = pacsv.read_csv(pa.py_buffer(pf.body()), read, parse, convert)
    except pa.ArrowInvalid as exc:
        raise FileRejected([Problem(f"parseable CSV ({exc})")]) from exc
    # Records pyarrow saw, numbered from 1; whitespace-only lines are empty rows.
    bad_records = {n for n, text, _ in invalid}
    total_records = raw.num_rows + len(invalid)
    kept = np.array([n for n in range(1, total_records + 1) if n not in bad_records])
    line_cache: list[list[int]] = []

    def line_of(record: int) -> int | None:
        if not line_cache:
            line_cache.append(_record_lines(pf))
        lines = line_cache[0]
        return lines[record - 1] if 0 < record <= len(lines) else None

    problems: list[tuple[int, int, Problem]] = []
    # Every entirely empty row is counted: blank lines (no record at all), whitespace-only
    # lines (one field) and rows of empty cells.
    empty_rows = _blank_lines(pf)
    width = len(pf.header)
    for n, text, actual in invalid:
        if not text.strip():
            empty_rows += 1
            continue
        hint = ""
        others = [d for d in (",", ";", "\t", "|") if d != pf.delimiter and d in text]
        if actual == 1 and others:
            hint = f" (the row seems delimited by {others[0]!r}, the header by {pf.delimiter!r})"
        problems.append(
            (
                n,
                -1,
                Problem(
                    f"{width} fields, found {actual}{hint}",
                    row=n,
                    line=line_of(n),
                    value=text[:200],
                ),
            )
        )
    trimmed = [_clean_text(c.combine_chunks()) for c in raw.columns]
    blank = np.ones(raw.num_rows, dtype=bool)
    null_set = pa.array(schema.null_values, pa.string())
    for c in trimmed:
        blank &= pc.is_in(c, value_set=null_set).to_numpy(zero_copy_only=False)
    empty_rows += int(blank.sum())
    repeated = np.ones(raw.num_rows, dtype=bool)
    for name, c in zip(schema.names, trimmed, strict=True):
        repeated &= pc.equal(pc.utf8_lower(c), name).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(repeated):
        n = int(kept[i])
        problems.append(
            (n, -1, Problem("a data row, not the header repeated", row=n, line=line_of(n)))
        )
    skip = blank | repeated
    columns: list[pa.Array] = []
    for pos, (col, values) in enumerate(zip(schema.columns, trimmed, strict=True)):
        converted, nulls, bad = _convert_column(col, values, schema)
        columns.append(converted)
        if col.required:
            for i in np.flatnonzero(nulls & ~skip):
                n = int(kept[i])
                problems.append(
                    (n, pos, Problem("a value (required)", n, line_of(n), col.name, ""))
                )
        for i in np.flatnonzero(bad & ~skip):
            n = int(kept[i])
            value = values[int(i)].as_py()
            problems.append((n, pos, Problem(col.expected(), n, line_of(n), col.name, value)))
    if problems:
        problems.sort(key=lambda p: (p[0], p[1]))
        raise FileRejected([p for _, _, p in problems[:MAX_PROBLEMS]], total=len(problems))
    table = pa.Table.from_arrays(columns, schema=schema.arrow_schema().remove_metadata())
    if blank.any():
        table = table.filter(pa.array(~blank))
    if table.num_rows == 0:
        raise FileRejected([Problem("at least one data row (all rows are empty)", line=2)])
    return ConvertedFile(table, empty_rows)
