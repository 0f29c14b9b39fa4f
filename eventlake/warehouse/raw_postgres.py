"""PostgreSQL implementation of the raw layer's :class:`~eventlake.warehouse.raw.RawBackend`.

``warehouse.backend = "postgres"``: the lake's committed files are read with pyarrow (local
disk or any fsspec/pyarrow filesystem of the lake) and streamed into PostgreSQL with
``COPY ... FROM STDIN (FORMAT csv)``, one Arrow record batch at a time (pyarrow's columnar
CSV writer, no per-row Python), through psycopg 3. The whole load is one PostgreSQL
transaction: a failed load leaves the previous raw tables untouched. Concurrent loads are
serialised by a transaction-scoped advisory lock.

The connection URL comes from ``warehouse.url`` (``EVENTLAKE_WAREHOUSE__URL``; a password
from the URL or ``PGPASSWORD``, as libpq reads it).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from eventlake.errors import ConfigError, WarehouseError
from eventlake.lake import CommitRecord, Lake
from eventlake.warehouse.raw import (
    RAW_TABLES,
    LakeFileRow,
    RawTable,
    SqlTypeNames,
    bookkeeping_ddl,
    columns_ddl,
    sql_type,
)

__all__ = ["PostgresRawBackend", "arrow_batches", "postgres_type"]

#: Advisory lock key held by a raw load (any fixed 64-bit number unique to eventlake).
_LOAD_LOCK_KEY = 0x6576_656E_746C_616B  # "eventlak"

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


def arrow_batches(
    lake: Lake, paths: Sequence[str], table: RawTable, day: dt.date, batch_rows: int = 65_536
) -> Iterable[pa.RecordBatch]:
    """Record batches of the committed files ``paths``, shaped as ``raw.<table>``.

    Columns the raw table has but a file lacks (older schema) come out as nulls; extra file
    columns are dropped; the day column is appended. Shared by the PostgreSQL and Spark
    backends.
    """
    import pyarrow.parquet as pq

    out_schema = table.schema.append(pa.field(table.day_column, pa.date32(), nullable=False))
    for rel in paths:
        with lake.fs.open_input_file(lake.path(rel)) as source:
            pf = pq.ParquetFile(source)
            present = set(pf.schema_arrow.names)
            wanted = [n for n in table.schema.names if n in present]
            for batch in pf.iter_batches(batch_size=batch_rows, columns=wanted):
                n = batch.num_rows
                cols = []
                for f in table.schema:
                    if f.name in present:
                        col = batch.column(batch.schema.get_field_index(f.name))
                        cols.append(col if col.type == f.type else col.cast(f.type))
                    else:
                        cols.append(pa.nulls(n, f.type))
                cols.append(pa.array([day] * n, pa.date32()))
                yield pa.RecordBatch.from_arrays(cols, schema=out_schema)


class PostgresRawBackend:
    """Raw tables in a PostgreSQL database (schema ``raw``)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._seq: int | None = None

    @classmethod
    def open(cls, url: str | None) -> PostgresRawBackend:
        """Connect to ``url`` (``warehouse.url``)."""
        if not url:
            raise ConfigError(
                "warehouse.backend = 'postgres' needs warehouse.url "
                "(postgresql://user@host:port/db; set EVENTLAKE_WAREHOUSE__URL)"
            )
        import psycopg

        try:
            conn = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            raise WarehouseError(f"cannot connect to the PostgreSQL warehouse: {exc}") from exc
        return cls(conn)

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
        self._exec("BEGIN")
        self._exec("SELECT pg_advisory_xact_lock(%s)", [_LOAD_LOCK_KEY])

    def commit(self) -> None:
        self._exec("COMMIT")

    def rollback(self) -> None:
        import psycopg

        try:
            self.conn.execute("ROLLBACK")
        except psycopg.Error:
            pass  # the connection is gone; the server rolled back on its own

    def loaded_commit_ids(self, stream: str) -> set[str]:
        rows = self._exec("SELECT commit_id FROM raw._loaded_commits WHERE stream = %s", [stream])
        return {str(r[0]) for r in rows}

    def record_commit(self, record: CommitRecord, files: Sequence[LakeFileRow]) -> None:
        self._exec(
            "INSERT INTO raw._loaded_commits VALUES (%s, %s, %s, now(), %s, %s)",
            [
                record.stream,
                record.commit_id,
                record.created_at,
                len(files),
                sum(f.rows for f in files),
            ],
        )
        if files:
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO raw._lake_files VALUES (%s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (path) DO UPDATE SET stream = EXCLUDED.stream, "
                    "commit_id = EXCLUDED.commit_id, raw_table = EXCLUDED.raw_table, "
                    "day = EXCLUDED.day, rows = EXCLUDED.rows",
                    [(f.stream, f.commit_id, f.path, f.table, f.day, f.rows) for f in files],
                )

    def files_for_days(self, table: str, days: Iterable[dt.date]) -> dict[dt.date, list[str]]:
        wanted = sorted(set(days))
        if not wanted:
            return {}
        rows = self._exec(
            "SELECT day, path FROM raw._lake_files WHERE raw_table = %s AND day = ANY(%s) "
            "ORDER BY day, path",
            [table, wanted],
        )
        out: dict[dt.date, list[str]] = {}
        for day, path in rows:
            out.setdefault(day, []).append(str(path))
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
        if not day_rows:
            return
        if self._seq is None:
            row = self._exec("SELECT coalesce(max(load_seq), 0) FROM raw._day_loads")
            self._seq = (int(row[0][0]) if row else 0) + 1
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO raw._day_loads VALUES (%s, %s, %s, now(), %s) "
                "ON CONFLICT (raw_table, day) DO UPDATE SET rows = EXCLUDED.rows, "
                "loaded_at = EXCLUDED.loaded_at, load_seq = EXCLUDED.load_seq",
                [(table, day, rows, self._seq) for day, rows in sorted(day_rows.items())],
            )

    def close(self) -> None:
        self.conn.close()
