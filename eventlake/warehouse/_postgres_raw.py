"""PostgreSQL's raw layer (:class:`~eventlake.warehouse.raw.RawBackend`); private to
``postgres.py``.

The lake's committed files are read with pyarrow (local disk or any fsspec/pyarrow
filesystem of the lake) and streamed into PostgreSQL with ``COPY ... FROM STDIN (FORMAT
csv)``, one Arrow record batch at a time (pyarrow's columnar CSV writer, no per-row Python),
through psycopg 3. The rows of a load are one PostgreSQL transaction, committed before dbt
builds on them (dbt uses its own connections); the bookkeeping of the load is kept in
memory and written by :meth:`PostgresRawBackend.write_bookkeeping` when the whole write
transaction succeeded (``postgres.py``), so the commits of a failed run are loaded again.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from eventlake.errors import WarehouseError
from eventlake.lake import CommitRecord, Lake
from eventlake.warehouse.raw import (
    RAW_TABLES,
    LakeFileRow,
    PendingBookkeeping,
    RawTable,
    SqlTypeNames,
    arrow_batches,
    bookkeeping_ddl,
    columns_ddl,
    sql_type,
)

__all__ = ["PostgresRawBackend", "postgres_type"]

_TYPE_NAMES = SqlTypeNames(
    engine="PostgreSQL",
    string="TEXT",
    timestamp_tz="TIMESTAMPTZ",
    timestamp="TIMESTAMP",
    int32="INTEGER",
    int64="BIGINT",
    boolean="BOOLEAN",
    floating="DOUBLE PRECISION",
    date="DATE",
)


def postgres_type(arrow_type: pa.DataType) -> str:
    """The PostgreSQL column type for an Arrow type of the lake schemas."""
    return sql_type(arrow_type, _TYPE_NAMES)


class PostgresRawBackend:
    """Raw tables in a PostgreSQL database (schema ``raw``)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn  # autocommit; the write transaction holds its advisory lock
        self.pending = PendingBookkeeping()

    def _exec(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            cur = self.conn.execute(sql, params)
            return list(cur.fetchall()) if cur.description is not None else []
        except psycopg.Error as exc:
            raise WarehouseError(f"PostgreSQL raw load failed: {exc}") from exc

    def ensure_schema(self) -> None:
        self._exec("CREATE SCHEMA IF NOT EXISTS raw")
        for table in RAW_TABLES.values():
            cols = columns_ddl(table.schema, _TYPE_NAMES)
            self._exec(
                f'CREATE TABLE IF NOT EXISTS raw."{table.name}" '
                f'({cols}, "{table.day_column}" DATE NOT NULL)'
            )
            self._exec(
                f'CREATE INDEX IF NOT EXISTS "{table.name}_{table.day_column}_idx" '
                f'ON raw."{table.name}" ("{table.day_column}")'
            )
        for ddl in bookkeeping_ddl(_TYPE_NAMES):
            self._exec(ddl)

    def begin(self) -> None:
        self.pending.clear()
        self._exec("BEGIN")

    def commit(self) -> None:
        self._exec("COMMIT")

    def rollback(self) -> None:
        import psycopg

        self.pending.clear()
        try:
            self.conn.execute("ROLLBACK")
        except psycopg.Error:
            pass  # the connection is gone; the server rolled back on its own

    def loaded_commit_ids(self, stream: str) -> set[str]:
        rows = self._exec("SELECT commit_id FROM raw._loaded_commits WHERE stream = %s", [stream])
        return {str(r[0]) for r in rows} | self.pending.commit_ids(stream)

    def record_commit(self, record: CommitRecord, files: Sequence[LakeFileRow]) -> None:
        self.pending.add_commit(record, files)

    def files_for_days(self, table: str, days: Iterable[dt.date]) -> dict[dt.date, list[str]]:
        wanted = sorted(set(days))
        if not wanted:
            return {}
        rows = self._exec(
            "SELECT day, path FROM raw._lake_files WHERE raw_table = %s AND day = ANY(%s)",
            [table, wanted],
        )
        found = {(day, str(path)) for day, path in rows} | self.pending.day_files(table, wanted)
        out: dict[dt.date, list[str]] = {}
        for day, path in sorted(found):
            out.setdefault(day, []).append(path)
        return out

    def replace_day(self, table: RawTable, day: dt.date, paths: Sequence[str], lake: Lake) -> int:
        import psycopg
        import pyarrow.csv as pacsv

        target = f'raw."{table.name}"'
        self._exec(f'DELETE FROM {target} WHERE "{table.day_column}" = %s', [day])
        if not paths:
            return 0
        columns = ", ".join(f'"{n}"' for n in [*table.schema.names, table.day_column])
        options = pacsv.WriteOptions(include_header=False)
        rows = 0
        try:
            with self.conn.cursor() as cur:
                with cur.copy(f"COPY {target} ({columns}) FROM STDIN (FORMAT csv)") as copy:
                    for batch in arrow_batches(lake, paths, table, day):
                        buf = io.BytesIO()
                        pacsv.write_csv(batch, buf, write_options=options)
                        copy.write(buf.getbuffer())
                        rows += batch.num_rows
        except (psycopg.Error, OSError, pa.ArrowException) as exc:
            raise WarehouseError(
                f"cannot load {table.lake_dir} day {day} ({len(paths)} files, first "
                f"{paths[0]}) into PostgreSQL {target}: {exc}"
            ) from exc
        return rows

    def mark_days(self, table: str, day_rows: Mapping[dt.date, int]) -> None:
        self.pending.days.extend((table, day, rows) for day, rows in sorted(day_rows.items()))

    def write_bookkeeping(self) -> None:
        """Record what the load brought, in one transaction (the run succeeded)."""
        pending = self.pending
        if not pending:
            return
        self._exec("BEGIN")
        try:
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO raw._loaded_commits VALUES (%s, %s, %s, now(), %s, %s) "
                    "ON CONFLICT (stream, commit_id) DO NOTHING",
                    pending.commits,
                )
                cur.executemany(
                    "INSERT INTO raw._lake_files VALUES (%s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (path) DO UPDATE SET stream = EXCLUDED.stream, "
                    "commit_id = EXCLUDED.commit_id, raw_table = EXCLUDED.raw_table, "
                    "day = EXCLUDED.day, rows = EXCLUDED.rows",
                    [
                        (f.stream, f.commit_id, f.path, f.table, f.day, f.rows)
                        for f in pending.files
                    ],
                )
                if pending.days:
                    row = self._exec("SELECT coalesce(max(load_seq), 0) FROM raw._day_loads")
                    seq = (int(row[0][0]) if row else 0) + 1
                    cur.executemany(
                        "INSERT INTO raw._day_loads VALUES (%s, %s, %s, now(), %s) "
                        "ON CONFLICT (raw_table, day) DO UPDATE SET rows = EXCLUDED.rows, "
                        "loaded_at = EXCLUDED.loaded_at, load_seq = EXCLUDED.load_seq",
                        [(t, day, rows, seq) for t, day, rows in pending.days],
                    )
            self._exec("COMMIT")
        except BaseException:
            self.rollback()
            raise
        pending.clear()

    def close(self) -> None:
        """The connection belongs to the write transaction, which closes it."""
