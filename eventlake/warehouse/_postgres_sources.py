"""PostgreSQL's loads of batch-source commits (``warehouse/source_tables.py``); private to
``postgres.py``.

Each load is ONE PostgreSQL transaction on the write transaction's locked connection:
table changes, rows and ``raw._source_commits`` commit together when the load returns, or
roll back together when it fails (DDL is transactional in PostgreSQL), so a failed load
leaves nothing behind.

- :class:`~eventlake.warehouse.source_tables.AppendCommits` (``table`` mode): each missing
  commit's rows (the caller's ``fresh`` table, else read from the lake with pyarrow) are
  streamed with ``COPY ... FROM STDIN (FORMAT csv)`` in Arrow record batches. ``view`` mode
  is refused: PostgreSQL cannot read the lake's Parquet files.
- :class:`~eventlake.warehouse.source_tables.LatestByKey`: the files' schemas are unified
  (drifting columns widen), their rows copied into a temporary table, and ``raw.<table>``
  replaced by ``CREATE TABLE ... AS`` a ``row_number()`` over it. Text cursors and commit
  ids are ordered ``COLLATE "C"`` (byte order, as DuckDB and Spark order them).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from eventlake.errors import WarehouseError
from eventlake.lake import Lake
from eventlake.warehouse._postgres_raw import _TYPE_NAMES, postgres_type
from eventlake.warehouse.raw import columns_ddl
from eventlake.warehouse.source_tables import (
    SOURCE_COMMITS_KEY,
    SOURCE_COMMITS_SCHEMA,
    SOURCE_COMMITS_TABLE,
    AppendCommits,
    LatestByKey,
    SourceLoad,
    SourceLoadResult,
    missing_commits,
    new_file_commits,
    pending_batch,
    read_conformed,
    read_schema,
    split_table,
    view_refused,
)

__all__ = ["load_source"]

_COMMITS = f"raw.{SOURCE_COMMITS_TABLE}"
_STAGE = "_eventlake_source_stage"
_BATCH_ROWS = 65_536


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Session:
    """The locked connection, with errors turned into WarehouseError."""

    def __init__(self, conn: Any, target: str) -> None:
        self.conn = conn
        self.target = target

    def exec(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            cur = self.conn.execute(sql, params)
            return list(cur.fetchall()) if cur.description is not None else []
        except psycopg.Error as exc:
            raise WarehouseError(f"cannot load {self.target} into PostgreSQL: {exc}") from exc

    def copy(self, table: str, data: pa.Table) -> None:
        """Stream ``data`` into ``table`` (its columns by name) with COPY."""
        import psycopg
        import pyarrow.csv as pacsv

        if not data.num_columns:
            return
        columns = ", ".join(_ident(n) for n in data.column_names)
        options = pacsv.WriteOptions(include_header=False)
        try:
            with self.conn.cursor() as cur:
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)") as copy:
                    for batch in data.to_batches(max_chunksize=_BATCH_ROWS):
                        buf = io.BytesIO()
                        pacsv.write_csv(batch, buf, write_options=options)
                        copy.write(buf.getbuffer())
        except (psycopg.Error, pa.ArrowException) as exc:
            raise WarehouseError(f"cannot load {self.target} into PostgreSQL: {exc}") from exc

    def columns(self, schema: str, table: str) -> dict[str, str]:
        rows = self.exec(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            [schema, table],
        )
        return {str(n): str(t) for n, t in rows}


def load_source(conn: Any, lake: Lake, load: SourceLoad) -> SourceLoadResult:
    """Run ``load`` as one PostgreSQL transaction on ``conn`` (autocommit, locked)."""
    import psycopg

    schema, name = split_table(load.table)
    target = f"{_ident(schema)}.{_ident(name)}"
    if isinstance(load, AppendCommits) and load.mode == "view":
        raise view_refused("PostgreSQL", target, load)
    session = _Session(conn, target)
    session.exec("BEGIN")
    try:
        session.exec("CREATE SCHEMA IF NOT EXISTS raw")
        session.exec(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)}")
        session.exec(
            f"CREATE TABLE IF NOT EXISTS {_COMMITS} "
            f"({columns_ddl(SOURCE_COMMITS_SCHEMA, _TYPE_NAMES, quote='')}, "
            f"PRIMARY KEY ({', '.join(SOURCE_COMMITS_KEY)}))"
        )
        if isinstance(load, AppendCommits):
            result = _append(session, lake, load, schema, name)
        else:
            result = _latest_by_key(session, lake, load, target)
        session.exec("COMMIT")
        return result
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            pass  # the connection is gone; the server rolled back on its own
        raise


def _done(session: _Session, stream: str) -> set[str]:
    rows = session.exec(f"SELECT commit_id FROM {_COMMITS} WHERE stream = %s", [stream])
    return {str(r[0]) for r in rows}


def _record(session: _Session, stream: str, rows_by_commit: dict[str, int]) -> None:
    import psycopg

    if not rows_by_commit:
        return
    now = dt.datetime.now(dt.UTC)
    try:
        with session.conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {_COMMITS} VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(stream, cid, rows, now) for cid, rows in rows_by_commit.items()],
            )
    except psycopg.Error as exc:
        raise WarehouseError(f"cannot record loaded commits of {stream}: {exc}") from exc


def _append(
    session: _Session, lake: Lake, load: AppendCommits, schema: str, name: str
) -> SourceLoadResult:
    target = session.target
    missing = missing_commits(lake, load, _done(session, load.stream))
    ddl = ", ".join(f"{_ident(f.name)} {postgres_type(f.type)}" for f in load.columns)
    session.exec(f"CREATE TABLE IF NOT EXISTS {target} ({ddl})")
    have = session.columns(schema, name)
    for f in load.columns:  # additive schema evolution, as on DuckDB
        if f.name not in have:
            session.exec(
                f"ALTER TABLE {target} ADD COLUMN {_ident(f.name)} {postgres_type(f.type)}"
            )
            have[f.name] = postgres_type(f.type)
    rows_by_commit: dict[str, int] = {}
    for cid in missing:
        batch = pending_batch(lake, load, cid, known=have, target=target)
        session.copy(target, _typed(batch, load.columns))
        rows_by_commit[cid] = batch.num_rows
    if load.ready is not None:
        load.ready()
    _record(session, load.stream, rows_by_commit)
    return SourceLoadResult(f"{schema}.{name}", tuple(missing), sum(rows_by_commit.values()))


def _typed(batch: pa.Table, columns: pa.Schema) -> pa.Table:
    """``batch`` with its columns cast to the load's types (dictionaries decoded); columns
    the load does not name keep their own type (PostgreSQL parses their text)."""
    arrays, fields = [], []
    for name in batch.column_names:
        col = batch.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if name in columns.names and col.type != columns.field(name).type:
            col = col.cast(columns.field(name).type)
        arrays.append(col)
        fields.append(pa.field(name, col.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _order(name: str, arrow_type: pa.DataType, nulls_last: bool) -> str:
    collate = ' COLLATE "C"' if pa.types.is_string(arrow_type) else ""
    return f"{_ident(name)}{collate} DESC" + (" NULLS LAST" if nulls_last else "")


def _latest_by_key(
    session: _Session, lake: Lake, load: LatestByKey, target: str
) -> SourceLoadResult:
    qualified = target.replace('"', "")
    if not load.files:
        return SourceLoadResult(qualified)
    schema = read_schema(lake, load.files)
    missing = [k for k in load.primary_key if k not in schema.names]
    if missing:
        raise WarehouseError(
            f"{target}: primary key column(s) {missing} are not in the data "
            f"(columns: {sorted(schema.names)[:20]})"
        )
    ddl = ", ".join(f"{_ident(f.name)} {postgres_type(f.type)}" for f in schema)
    session.exec(f"CREATE TEMPORARY TABLE {_STAGE} ({ddl}) ON COMMIT DROP")
    for table in read_conformed(lake, load.files, schema):
        session.copy(_STAGE, table)
    order = _orders(load, schema)
    pk = ", ".join(_ident(k) for k in load.primary_key)
    columns = ", ".join(_ident(n) for n in schema.names)
    session.exec(f"DROP TABLE IF EXISTS {target}")
    session.exec(
        f"CREATE TABLE {target} AS SELECT {columns} FROM ("
        f"SELECT *, row_number() OVER (PARTITION BY {pk} ORDER BY {', '.join(order)}) "
        f"AS _eventlake_rn FROM {_STAGE}) AS ranked WHERE _eventlake_rn = 1"
    )
    session.exec(f"DROP TABLE {_STAGE}")
    rows = session.exec(f"SELECT count(*) FROM {target}")
    new = new_file_commits(load, _done(session, load.stream))
    _record(session, load.stream, new)
    return SourceLoadResult(qualified, tuple(sorted(new)), int(rows[0][0]))


def _orders(load: LatestByKey, schema: pa.Schema) -> Iterable[str]:
    out = []
    if load.cursor and load.cursor in schema.names:
        out.append(_order(load.cursor, schema.field(load.cursor).type, nulls_last=True))
    if load.commit_column in schema.names:
        out.append(_order(load.commit_column, schema.field(load.commit_column).type, True))
    return out or ["1"]
