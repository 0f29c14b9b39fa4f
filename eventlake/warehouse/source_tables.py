"""Batch sources' raw tables: what a source asks the warehouse to load, engine-neutral.

The CSV and REST sources (``eventlake/sources``) write only to the lake: Parquet files and
one commit record per write in stream ``sources.<name>``. Loading those commits into
``raw.<table>`` is one call of the write transaction,
:meth:`~eventlake.warehouse.base.WriteTransaction.load_source`, with one of two rules:

- :class:`AppendCommits` (the CSV source): every commit of the stream that the warehouse
  has not loaded yet is appended to the table, **exactly once**: the loaded commit ids are
  kept in ``raw._source_commits``, written in the same engine transaction as the rows, and
  a commit already there is never loaded again. Columns new in ``columns`` are added to
  the table (schema evolution is additive; a changed type fails the load with the engine's
  message). ``mode="view"`` makes ``raw.<table>`` a view over every committed file instead
  (DuckDB with a local lake only; the other engines refuse it, naming the setting).
- :class:`LatestByKey` (the REST source): the table is rebuilt from ``files`` (a resource's
  current generation): one row per primary key, the highest ``cursor`` value winning
  (nulls last), then the latest commit. Rebuilding from the lake rather than appending is
  what makes a repeated page, a resumed or crashed run and a full refresh harmless.

Each engine implements both in one private module (``_duckdb_sources.py``,
``_postgres_sources.py``, ``_spark_sources.py``); what a failed load leaves behind is
stated per engine in ``warehouse/base.py``. This module imports no engine: it holds the
load descriptions, the bookkeeping table's definition and the Arrow helpers the engines
share (reading committed files, widening drifting schemas to one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

from eventlake.errors import WarehouseError
from eventlake.lake import Lake

__all__ = [
    "SOURCE_COMMITS_KEY",
    "SOURCE_COMMITS_QUERY",
    "SOURCE_COMMITS_SCHEMA",
    "SOURCE_COMMITS_TABLE",
    "AppendCommits",
    "LatestByKey",
    "LoadMode",
    "SourceFile",
    "SourceLoad",
    "SourceLoadResult",
    "commit_rows",
    "commit_table",
    "conform",
    "missing_commits",
    "new_file_commits",
    "pending_batch",
    "read_conformed",
    "read_schema",
    "source_commits_from_rows",
    "split_table",
    "unified_schema",
    "view_refused",
]

LoadMode = Literal["table", "view"]

#: Which batch-source commits each raw table holds (``raw._source_commits``).
SOURCE_COMMITS_TABLE = "_source_commits"
SOURCE_COMMITS_SCHEMA = pa.schema(
    [
        pa.field("stream", pa.string(), nullable=False),
        pa.field("commit_id", pa.string(), nullable=False),
        pa.field("rows", pa.int64(), nullable=False),
        pa.field("loaded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
SOURCE_COMMITS_KEY = ("stream", "commit_id")
#: What :meth:`~eventlake.warehouse.base.Warehouse.source_commits` reads, on every engine.
SOURCE_COMMITS_QUERY = f"SELECT stream, commit_id FROM raw.{SOURCE_COMMITS_TABLE}"


def source_commits_from_rows(rows: Iterable[Sequence[object]]) -> dict[str, frozenset[str]]:
    """Stream -> commit ids, from the rows of :data:`SOURCE_COMMITS_QUERY`."""
    out: dict[str, set[str]] = {}
    for stream, commit_id in rows:
        out.setdefault(str(stream), set()).add(str(commit_id))
    return {stream: frozenset(ids) for stream, ids in out.items()}


@dataclass(frozen=True, slots=True)
class AppendCommits:
    """Append every commit of ``stream`` not loaded yet to ``table`` (the CSV rule).

    ``table``: ``students`` means ``raw.students``; ``x.students`` names the schema.
    ``columns``: the table's columns and types (every committed file holds a subset of
    them). ``fresh``: rows of commits just written, by commit id, which saves reading them
    back (their commit records may still be being written). ``ready`` is called before the
    load is made durable: the caller waits there for lake commits written concurrently; if
    it raises, nothing of this load is kept. ``setting`` names the configuration key of
    ``mode`` in error messages.
    """

    stream: str
    table: str
    columns: pa.Schema
    mode: LoadMode = "table"
    fresh: Mapping[str, pa.Table] = field(default_factory=dict)
    ready: Callable[[], object] | None = None
    setting: str = "load_mode"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A committed lake file (path relative to the lake root), its commit and rows (as
    the commit record gives them)."""

    path: str
    commit_id: str
    rows: int = 0


@dataclass(frozen=True, slots=True)
class LatestByKey:
    """Rebuild ``table`` from ``files``: one row per ``primary_key`` (the REST rule).

    The row kept for a key has the highest ``cursor`` (nulls last; no cursor: ignored),
    then the highest ``commit_column`` (commit ids sort by time). With no files the table
    is left as it is.
    """

    stream: str
    table: str
    files: Sequence[SourceFile]
    primary_key: Sequence[str]
    cursor: str | None = None
    commit_column: str = "_eventlake_commit_id"


SourceLoad = AppendCommits | LatestByKey


@dataclass(frozen=True, slots=True)
class SourceLoadResult:
    """What one source load did.

    ``table`` is schema-qualified; ``commits`` are the commit ids newly recorded in
    ``raw._source_commits``; ``rows`` counts the rows appended (a view: the rows of its new
    commits) or, for :class:`LatestByKey`, the rows the rebuilt table holds.
    """

    table: str
    commits: tuple[str, ...] = ()
    rows: int = 0


def split_table(name: str) -> tuple[str, str]:
    """``students`` -> ``("raw", "students")``; ``x.students`` -> ``("x", "students")``.

    Raises:
        WarehouseError: an empty part or a double quote in the name.
    """
    schema, _, table = name.rpartition(".")
    parts = (schema or "raw", table)
    for p in parts:
        if not p or '"' in p or "`" in p:
            raise WarehouseError(f"invalid warehouse table name {name!r}")
    return parts


def missing_commits(lake: Lake, load: AppendCommits, done: Iterable[str]) -> list[str]:
    """Commit ids of ``load.stream`` (the lake's and the fresh ones) not in ``done``."""
    return sorted((set(lake.commit_ids(load.stream)) | set(load.fresh)) - set(done))


def new_file_commits(load: LatestByKey, done: Iterable[str]) -> dict[str, int]:
    """Rows per commit of ``load.files`` whose commit is not in ``done``."""
    seen = set(done)
    out: dict[str, int] = {}
    for f in load.files:
        if f.commit_id not in seen:
            out[f.commit_id] = out.get(f.commit_id, 0) + f.rows
    return out


def commit_table(lake: Lake, stream: str, commit_id: str) -> pa.Table:
    """The rows of one commit, read with pyarrow through the lake's filesystem."""
    import pyarrow.parquet as pq

    record = lake.read_commit(stream, commit_id)
    try:
        tables = [pq.read_table(lake.path(f.path), filesystem=lake.fs) for f in record.files]
    except (OSError, pa.ArrowException) as exc:
        raise WarehouseError(f"cannot read lake commit {stream}/{commit_id}: {exc}") from exc
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="permissive")


def pending_batch(
    lake: Lake,
    load: AppendCommits,
    commit_id: str,
    *,
    known: Iterable[str] | None = None,
    target: str = "",
) -> pa.Table:
    """The rows of one commit to append: the ones in hand (``load.fresh``) or read back.

    With ``known`` (the target's columns after the additive evolution), a column the table
    still lacks is a :class:`WarehouseError` naming the commit and ``target``.
    """
    batch = load.fresh.get(commit_id)
    if batch is None:
        batch = commit_table(lake, load.stream, commit_id)
    if known is not None:
        have = set(known)
        unknown = [n for n in batch.column_names if n not in have]
        if unknown:
            raise WarehouseError(
                f"lake commit {load.stream}/{commit_id} has column(s) {unknown} that {target} lacks"
            )
    return batch


def commit_rows(lake: Lake, stream: str, commit_id: str) -> int:
    """Rows of one commit, from its record (no data read)."""
    return sum(f.rows for f in lake.read_commit(stream, commit_id).files)


def conform(table: pa.Table, schema: pa.Schema, *, fill: bool = False) -> pa.Table:
    """``table``'s columns cast to their type in ``schema``, dictionaries decoded.

    With ``fill`` the result has exactly ``schema``'s columns in its order (missing ones
    null); without, the table's own columns that ``schema`` names, in the table's order.

    Raises:
        WarehouseError: a column's values do not convert to the table's type.
    """
    names = schema.names if fill else [n for n in table.column_names if n in schema.names]
    arrays = []
    for name in names:
        target = schema.field(name).type
        if name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, target))
            continue
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if col.type != target:
            try:
                col = col.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise WarehouseError(
                    f"column {name!r} holds {col.type} values that do not convert to the "
                    f"table's {target}: {exc}"
                ) from exc
        arrays.append(col)
    return pa.Table.from_arrays(arrays, schema=pa.schema([schema.field(n) for n in names]))


def _widen(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type two files' columns share: null gives way, int and float make float, any
    other disagreement is text (as DuckDB's ``union_by_name`` widens)."""
    if a == b:
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    if pa.types.is_dictionary(a):
        return _widen(a.value_type, b)
    if pa.types.is_dictionary(b):
        return _widen(a, b.value_type)
    numeric = (pa.types.is_integer, pa.types.is_floating)
    if any(f(a) for f in numeric) and any(f(b) for f in numeric):
        if pa.types.is_integer(a) and pa.types.is_integer(b):
            return pa.int64()
        return pa.float64()
    if pa.types.is_timestamp(a) and pa.types.is_timestamp(b):
        return pa.timestamp("us", tz=a.tz or b.tz)
    return pa.string()


def unified_schema(schemas: Iterable[pa.Schema]) -> pa.Schema:
    """One schema for files whose columns drifted: columns by name in order of first
    appearance, types widened (:func:`_widen`); a column null in every file is text."""
    types: dict[str, pa.DataType] = {}
    for schema in schemas:
        for f in schema:
            types[f.name] = _widen(types[f.name], f.type) if f.name in types else f.type
    fields = []
    for name, t in types.items():
        if pa.types.is_dictionary(t):
            t = t.value_type
        fields.append(pa.field(name, pa.string() if pa.types.is_null(t) else t))
    return pa.schema(fields)


def read_schema(lake: Lake, files: Sequence[SourceFile]) -> pa.Schema:
    """The unified schema of ``files`` (their Parquet footers only)."""
    import pyarrow.parquet as pq

    schemas = []
    for f in files:
        try:
            with lake.fs.open_input_file(lake.path(f.path)) as source:
                schemas.append(pq.ParquetFile(source).schema_arrow)
        except (OSError, pa.ArrowException) as exc:
            raise _unreadable(lake, f.path, exc) from exc
    return unified_schema(schemas)


def read_conformed(
    lake: Lake, files: Sequence[SourceFile], schema: pa.Schema
) -> Iterator[pa.Table]:
    """Each file's rows conformed to ``schema`` (see :func:`read_schema`), one at a time."""
    import pyarrow.parquet as pq

    for f in files:
        try:
            table = pq.read_table(lake.path(f.path), filesystem=lake.fs)
        except (OSError, pa.ArrowException) as exc:
            raise _unreadable(lake, f.path, exc) from exc
        yield conform(table, schema, fill=True)


def _unreadable(lake: Lake, path: str, exc: BaseException) -> WarehouseError:
    return WarehouseError(f"cannot read committed lake file {path} of {lake.uri}: {exc}")


def view_refused(engine: str, target: str, load: AppendCommits) -> WarehouseError:
    """The error of an engine that cannot make ``target`` a view over lake files."""
    return WarehouseError(
        f"{engine} cannot make {target} a view over the lake's files ({load.setting} = "
        f'"view" is DuckDB-only): set {load.setting} = "table" to copy the rows in'
    )
