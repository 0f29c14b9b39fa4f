"""The fast path of the CSV drop source: many files parsed and validated as one batch.

Files that share a header are cut into chunks of about :data:`CHUNK_BYTES`; each chunk's
bodies are concatenated and parsed once by ``pyarrow.csv`` straight into the schema's types
(C++, GIL released), then checked column-wise (required, allowed values, bounds, length;
string rules on the distinct values). Chunks run on a thread pool, one single-threaded
parse per worker, so both cores work and a bad file only costs its own chunk.

Rows map back to files by line counts, which :mod:`.clean` guarantees are exact for
"batchable" files and which is re-checked against the parsed row count. A chunk that does
not parse (a wrong type, a wrong field count somewhere) is bisected until the files that
break it stand alone; those, and any file breaking a rule, go back to the caller for the
precise path (:func:`eventlake.sources.csv.convert.convert_file`), which reports every
problem with its row and line. Only failing or unusual files pay that cost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from eventlake.sources.csv.clean import PreparedFile, has_blank_lines
from eventlake.sources.csv.schema import ColumnSpec, CsvSchema

__all__ = ["BatchResult", "CHUNK_BYTES", "convert_batch", "convert_chunks"]

#: Bytes of CSV text per parse on the fast path (a chunk is at least one file).
CHUNK_BYTES = 4 << 20


@dataclass(slots=True)
class BatchResult:
    """Outcome of the fast path: passed files' rows (in ``passed`` order) and files to redo."""

    tables: list[pa.Table] = field(default_factory=list)  # rows of ``passed``, in order
    passed: list[tuple[int, int, int]] = field(default_factory=list)  # (index, rows, empty)
    redo: list[int] = field(default_factory=list)  # indexes the precise path must handle

    @property
    def table(self) -> pa.Table:
        """All passed rows as one table (zero-copy; no columns when nothing passed)."""
        if not self.tables:
            return pa.table({})
        return pa.concat_tables(self.tables) if len(self.tables) > 1 else self.tables[0]


def _typed_options(
    header: Sequence[str], schema: CsvSchema, delimiter: str, use_threads: bool
) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    trues, falses = schema.bool_words()
    types: dict[str, pa.DataType] = {col.name: col.arrow_type for col in schema.columns}
    read = pacsv.ReadOptions(column_names=list(header), use_threads=use_threads, block_size=2 << 20)
    parse = pacsv.ParseOptions(delimiter=delimiter)
    convert = pacsv.ConvertOptions(
        column_types=types,
        include_columns=list(schema.names),
        null_values=list(schema.null_values),
        true_values=trues,
        false_values=falses,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        check_utf8=False,  # clean.py already made every body valid UTF-8
    )
    return read, parse, convert


def _bad_rows(col: ColumnSpec, values: pa.ChunkedArray) -> np.ndarray | None:
    """Row indexes breaking a rule, or None when the column is clean (cheap checks first)."""
    bad: pa.ChunkedArray | pa.Array | None = None

    def add(mask: Any) -> None:
        nonlocal bad
        bad = mask if bad is None else pc.or_(bad, mask)

    if col.required and values.null_count:
        add(pc.is_null(values))
    if col.type == "string":
        # Rules are checked on the distinct values (few), full rows only when one breaks.
        uniques = pc.unique(values)
        checks: list[Callable[[Any], Any]] = []
        if col.allowed is not None:
            allowed = pa.array(col.allowed, pa.string())
            checks.append(lambda d: pc.invert(pc.is_in(d, value_set=allowed)))
        if col.max_length is not None:
            limit = col.max_length
            checks.append(lambda d: pc.greater(pc.utf8_length(d), limit))
        checks.append(lambda d: pc.not_equal(d, pc.utf8_trim_whitespace(d)))
        for check in checks:
            if len(uniques) and pc.any(check(uniques)).as_py():
                add(pc.fill_null(check(values), False))
    elif col.type in ("integer", "number"):
        lo_hi = pc.min_max(values).as_py()
        lo, hi = lo_hi["min"], lo_hi["max"]
        if lo is not None:
            if col.minimum is not None and lo < col.minimum:
                add(pc.fill_null(pc.less(values, col.minimum), False))
            if col.maximum is not None and hi > col.maximum:
                add(pc.fill_null(pc.greater(values, col.maximum), False))
        if col.allowed is not None:
            allowed_arr = pa.array(col.allowed).cast(values.type)
            add(pc.invert(pc.fill_null(pc.is_in(values, value_set=allowed_arr), True)))
    elif col.allowed is not None:
        allowed_arr = pa.array(col.allowed).cast(values.type)
        add(pc.invert(pc.fill_null(pc.is_in(values, value_set=allowed_arr), True)))
    if bad is None or not pc.any(bad).as_py():
        return None
    arr = bad if isinstance(bad, pa.Array) else bad.combine_chunks()
    return np.flatnonzero(arr.to_numpy(zero_copy_only=False))


def _all_empty(table: pa.Table) -> np.ndarray | None:
    if table.num_columns == 0 or min(c.null_count for c in table.columns) == 0:
        return None
    mask = pc.is_null(table.column(0))
    for c in table.columns[1:]:
        mask = pc.and_(mask, pc.is_null(c))
    arr = mask.combine_chunks().to_numpy(zero_copy_only=False)
    return arr if arr.any() else None


def _parse(
    files: Sequence[PreparedFile], idx: Sequence[int], schema: CsvSchema, use_threads: bool
) -> pa.Table | None:
    """The bodies of ``files[idx]`` parsed as one CSV text, or None if it does not parse."""
    parts: list[bytes | memoryview] = []
    for i in idx:
        parts.append(files[i].body())
        if not files[i].terminated:
            parts.append(b"\n")
    opts = _typed_options(files[idx[0]].header, schema, files[idx[0]].delimiter, use_threads)
    try:
        return pacsv.read_csv(pa.py_buffer(b"".join(parts)), *opts)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _validate(
    files: Sequence[PreparedFile],
    idx: Sequence[int],
    table: pa.Table,
    schema: CsvSchema,
    out: BatchResult,
) -> None:
    """Check a parsed span column-wise; files breaking a rule go to ``out.redo``."""
    counts = np.array([files[i].lines for i in idx], dtype=np.int64)
    ends = np.cumsum(counts)
    keep = np.ones(table.num_rows, dtype=bool)
    empty_rows = np.zeros(len(idx), dtype=np.int64)
    blank = _all_empty(table)
    if blank is not None:
        keep &= ~blank
        np.add.at(empty_rows, np.searchsorted(ends, np.flatnonzero(blank), side="right"), 1)
    bad: set[int] = set()
    for col in schema.columns:
        rows = _bad_rows(col, table.column(col.name))
        if rows is not None:
            rows = rows[keep[rows]]
            bad.update(np.searchsorted(ends, rows, side="right").tolist())
    # A file whose rows were all empty is refused by the precise path, with its reason.
    bad.update(p for p in range(len(idx)) if counts[p] == empty_rows[p])
    for pos in bad:
        start = 0 if pos == 0 else int(ends[pos - 1])
        keep[start : int(ends[pos])] = False
    out.redo.extend(idx[p] for p in sorted(bad))
    if not keep.all():
        table = table.filter(pa.array(keep))
    if table.num_rows:
        out.tables.append(pa.Table.from_arrays(table.columns, schema=schema.arrow_schema()))
    out.passed.extend(
        (i, int(counts[p] - empty_rows[p]), int(empty_rows[p]))
        for p, i in enumerate(idx)
        if p not in bad
    )


def _convert_span(
    files: Sequence[PreparedFile],
    idx: list[int],
    schema: CsvSchema,
    use_threads: bool,
    out: BatchResult,
) -> None:
    """Parse and validate ``files[idx]`` together; bisect when the text does not parse."""
    table = _parse(files, idx, schema, use_threads)
    if table is not None and table.num_rows != sum(files[i].lines for i in idx):
        # Blank lines (skipped by the parser) or quoted line breaks: set blank-line files
        # aside (cheap to find), bisect for the rest.
        blanks = {i for i in idx if has_blank_lines(files[i])}
        if blanks:
            out.redo.extend(sorted(blanks))
            idx = [i for i in idx if i not in blanks]
            if idx:
                _convert_span(files, idx, schema, use_threads, out)
            return
        table = None
    if table is None:
        if len(idx) == 1:
            out.redo.extend(idx)
        else:
            half = len(idx) // 2
            _convert_span(files, idx[:half], schema, use_threads, out)
            _convert_span(files, idx[half:], schema, use_threads, out)
        return
    _validate(files, idx, table, schema, out)


def convert_batch(
    files: Sequence[PreparedFile], schema: CsvSchema, *, use_threads: bool = True
) -> BatchResult:
    """Parse files sharing one header as one text; validate column-wise.

    Files that are not batchable, or that the batch cannot vouch for, come back in
    ``redo`` (sorted) for the precise path; ``passed`` lists the others in input order.
    """
    out = BatchResult()
    idx = [i for i, f in enumerate(files) if f.batchable]
    out.redo.extend(i for i, f in enumerate(files) if not f.batchable)
    if idx:
        _convert_span(files, idx, schema, use_threads, out)
    out.redo.sort()
    return out


def _chunks(files: Sequence[PreparedFile], workers: int) -> list[list[int]]:
    """Indexes of files grouped by header, cut into chunks of about CHUNK_BYTES.

    A group smaller than ``workers`` chunks' worth is still cut in ``workers`` pieces (when
    it has enough files) so that every worker has a parse to run.
    """
    groups: dict[bytes, list[int]] = {}
    for i, f in enumerate(files):
        groups.setdefault(f.header_key, []).append(i)
    out: list[list[int]] = []
    for idx in groups.values():
        total = sum(len(files[i].data) for i in idx)
        pieces = max(min(workers, len(idx)), -(-total // CHUNK_BYTES))
        step = -(-len(idx) // pieces)
        out.extend(idx[k : k + step] for k in range(0, len(idx), step))
    return out


def convert_chunks(
    files: Sequence[PreparedFile],
    schema: CsvSchema,
    *,
    workers: int = 2,
    pool: Executor | None = None,
) -> BatchResult:
    """:func:`convert_batch` over chunks of ``files`` on ``workers`` threads (of ``pool``).

    Indexes in the result refer to ``files``; ``passed`` (and the rows of ``tables``) keep
    chunk order, which is input order within each header group.
    """
    chunks = _chunks(files, max(1, workers))
    alone = len(chunks) == 1  # a lone chunk may use pyarrow's own threads instead

    def run(idx: list[int]) -> BatchResult:
        res = convert_batch([files[i] for i in idx], schema, use_threads=alone)
        return BatchResult(
            res.tables,
            [(idx[i], rows, empty) for i, rows, empty in res.passed],
            [idx[i] for i in res.redo],
        )

    if len(chunks) <= 1 or workers <= 1:
        results = [run(c) for c in chunks]
    elif pool is not None:
        results = list(pool.map(run, chunks))
    else:
        with ThreadPoolExecutor(min(workers, len(chunks))) as own:
            results = list(own.map(run, chunks))
    out = BatchResult()
    for res in results:
        out.tables.extend(res.tables)
        out.passed.extend(res.passed)
        out.redo.extend(res.redo)
    out.redo.sort()
    return out
