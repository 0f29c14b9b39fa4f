"""DuckDB's loads of batch-source commits (``warehouse/source_tables.py``); private to
``duckdb.py``.

Each load is one DuckDB transaction on the working copy of a write transaction, rows and
``raw._source_commits`` together, so a failed load leaves the copy as it was and a failed
run publishes nothing at all.

- :class:`~eventlake.warehouse.source_tables.AppendCommits`, ``table`` mode: the missing
  commits' Arrow tables are inserted ``BY NAME`` in batches of DuckDB's row group size
  (the ``fresh`` tables of the caller, else read from the lake); ``view`` mode: ``CREATE
  OR REPLACE VIEW`` over the exact list of committed files (a local lake only).
- :class:`~eventlake.warehouse.source_tables.LatestByKey`: ``CREATE OR REPLACE TABLE ... AS``
  a ``row_number()`` over DuckDB's own Parquet reader (``union_by_name``: drifting columns
  widen), or over the files read with pyarrow when the lake is on object storage.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from eventlake.errors import WarehouseError
from eventlake.lake import Lake
from eventlake.warehouse._duckdb_generations import record_whole
from eventlake.warehouse._duckdb_raw import _TYPE_NAMES, duckdb_type
from eventlake.warehouse.raw import columns_ddl
from eventlake.warehouse.source_tables import (
    SOURCE_COMMITS_KEY,
    SOURCE_COMMITS_SCHEMA,
    SOURCE_COMMITS_TABLE,
    AppendCommits,
    LatestByKey,
    SourceLoad,
    SourceLoadResult,
    commit_rows,
    missing_commits,
    new_file_commits,
    pending_batch,
    split_table,
)

__all__ = ["load_source"]

#: DuckDB's row group size: Arrow batches of this many rows insert on parallel threads with
#: no merging (~14k-row batches cost ~30% more CPU on two threads).
_ROW_GROUP_ROWS = 122_880
_COMMITS = f"raw.{SOURCE_COMMITS_TABLE}"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _target(table: str) -> tuple[str, str, str]:
    """(quoted schema, quoted schema.table, plain schema.table) of a table name."""
    schema, name = split_table(table)
    return _ident(schema), f"{_ident(schema)}.{_ident(name)}", f"{schema}.{name}"


def load_source(conn: Any, lake: Lake, load: SourceLoad) -> SourceLoadResult:
    """Run ``load`` on ``conn`` (the working copy) in one DuckDB transaction."""
    import duckdb

    schema, target, qualified = _target(load.table)
    try:
        conn.execute("BEGIN")
        conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {_COMMITS} "
            f"({columns_ddl(SOURCE_COMMITS_SCHEMA, _TYPE_NAMES, quote='')}, "
            f"PRIMARY KEY ({', '.join(SOURCE_COMMITS_KEY)}))"
        )
        if isinstance(load, AppendCommits):
            commits, rows = _append(conn, lake, load, target)
        else:
            commits, rows = _latest_by_key(conn, lake, load, target)
        record_whole(conn, qualified)  # for the catch-up of the other generation
        conn.execute("COMMIT")
        return SourceLoadResult(qualified, commits, rows)
    except BaseException as exc:
        try:
            conn.execute("ROLLBACK")
        except duckdb.Error:
            pass  # the transaction is gone with the error
        if isinstance(exc, duckdb.Error):
            raise WarehouseError(f"cannot load {target} into DuckDB: {exc}") from exc
        raise


def _done(conn: Any, stream: str) -> set[str]:
    rows = conn.execute(f"SELECT commit_id FROM {_COMMITS} WHERE stream = ?", [stream])
    return {str(r[0]) for r in rows.fetchall()}


def _record(conn: Any, stream: str, rows_by_commit: dict[str, int]) -> None:
    if rows_by_commit:
        conn.executemany(
            f"INSERT OR IGNORE INTO {_COMMITS} VALUES (?, ?, ?, now())",
            [[stream, cid, rows] for cid, rows in rows_by_commit.items()],
        )


def _append(conn: Any, lake: Lake, load: AppendCommits, target: str) -> tuple[tuple[str, ...], int]:
    done = _done(conn, load.stream)
    rows_by_commit: dict[str, int] = {}
    if load.mode == "view":
        if not lake.is_local:
            raise WarehouseError(
                f"DuckDB makes {target} a view over local lake files only (the lake is "
                f'{lake.uri}): set {load.setting} = "table"'
            )
        if load.ready is not None:
            load.ready()  # the view lists committed files: every one must be there
        missing = missing_commits(lake, load, done)
        files = [lake.local_path(f.path) for r in lake.commits(load.stream) for f in r.files]
        if not files:
            raise WarehouseError(f"no committed files of {load.stream} to make {target} from")
        listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        conn.execute(
            f"CREATE OR REPLACE VIEW {target} AS SELECT * FROM "
            f"read_parquet([{listing}], union_by_name = true)"
        )
        for cid in missing:
            rows_by_commit[cid] = commit_rows(lake, load.stream, cid)
    else:
        missing = missing_commits(lake, load, done)
        columns = [(f.name, duckdb_type(f.type)) for f in load.columns]
        ddl = ", ".join(f"{_ident(n)} {t}" for n, t in columns)
        conn.execute(f"CREATE TABLE IF NOT EXISTS {target} ({ddl})")
        _add_new_columns(conn, target, columns)
        for cid in missing:
            batch = pending_batch(lake, load, cid)
            conn.register("_eventlake_batch", _row_groups(batch))
            try:
                conn.execute(f"INSERT INTO {target} BY NAME SELECT * FROM _eventlake_batch")
            finally:
                conn.unregister("_eventlake_batch")
            rows_by_commit[cid] = batch.num_rows
        if load.ready is not None:
            load.ready()
    _record(conn, load.stream, rows_by_commit)
    return tuple(missing), sum(rows_by_commit.values())


def _row_groups(table: pa.Table) -> pa.Table:
    """The same rows in batches of DuckDB's row group size (one copy, ~10 ms per 400k rows)."""
    if table.num_rows <= _ROW_GROUP_ROWS:
        return table
    whole = table if all(c.num_chunks == 1 for c in table.columns) else table.combine_chunks()
    return pa.Table.from_batches(whole.to_batches(max_chunksize=_ROW_GROUP_ROWS))


def _add_new_columns(conn: Any, target: str, columns: Iterable[tuple[str, str]]) -> None:
    """Schema evolution, additive only: columns new in the load are added (NULL for rows
    loaded before); a changed type is left to fail the insert with its message."""
    have = {r[0] for r in conn.execute(f"DESCRIBE {target}").fetchall()}
    for name, ctype in columns:
        if name not in have:
            conn.execute(f"ALTER TABLE {target} ADD COLUMN {_ident(name)} {ctype}")


def _latest_by_key(
    conn: Any, lake: Lake, load: LatestByKey, target: str
) -> tuple[tuple[str, ...], int]:
    if not load.files:
        return (), 0
    if lake.is_local:
        paths = [lake.local_path(f.path) for f in load.files]
        source = f"read_parquet({paths!r}, union_by_name = true)"
    else:
        import pyarrow.parquet as pq

        tables = [pq.read_table(lake.path(f.path), filesystem=lake.fs) for f in load.files]
        conn.register("_api_load", pa.concat_tables(tables, promote_options="permissive"))
        source = "_api_load"
    try:
        present = {r[0] for r in conn.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        missing = [k for k in load.primary_key if k not in present]
        if missing:
            raise WarehouseError(
                f"{target}: primary key column(s) {missing} are not in the data "
                f"(columns: {sorted(present)[:20]})"
            )
        order = [f"{_ident(load.commit_column)} DESC"]
        if load.cursor and load.cursor in present:
            order.insert(0, f"{_ident(load.cursor)} DESC NULLS LAST")
        pk = ", ".join(_ident(k) for k in load.primary_key)
        conn.execute(
            f"CREATE OR REPLACE TABLE {target} AS "
            f"SELECT * EXCLUDE (_eventlake_rn) FROM ("
            f"SELECT *, row_number() OVER (PARTITION BY {pk} ORDER BY {', '.join(order)}) "
            f"AS _eventlake_rn FROM {source}) WHERE _eventlake_rn = 1"
        )
    finally:
        if not lake.is_local:
            conn.unregister("_api_load")
    row = conn.execute(f"SELECT count(*) FROM {target}").fetchone()
    done = _done(conn, load.stream)
    new = new_file_commits(load, done)
    _record(conn, load.stream, new)
    return tuple(sorted(new)), int(row[0]) if row else 0
