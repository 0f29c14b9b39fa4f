"""DuckDB's raw layer (:class:`~eventlake.warehouse.raw.RawBackend`); private to ``duckdb.py``.

Everything runs in one DuckDB transaction on the working copy of a write transaction, so
the bookkeeping is published with the rows, by the file's atomic replace.

Local lakes are read by DuckDB's own multi-threaded Parquet reader over the exact list of
committed files (no globbing, so uncommitted or temporary files are never seen). Lakes on
object storage are read through the lake's pyarrow filesystem and handed to DuckDB as Arrow
(DuckDB's httpfs extension would have to be downloaded at run time, which firewalls forbid).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from eventlake.errors import WarehouseError
from eventlake.lake import CommitRecord, Lake
from eventlake.warehouse._duckdb_generations import record_arrivals, record_days
from eventlake.warehouse.raw import (
    RAW_TABLES,
    LakeFileRow,
    RawTable,
    SqlTypeNames,
    bookkeeping_ddl,
    columns_ddl,
    sql_type,
)

__all__ = ["DuckRawBackend", "duckdb_type"]

_TYPE_NAMES = SqlTypeNames(
    engine="DuckDB",
    string="VARCHAR",
    timestamp_tz="TIMESTAMPTZ",
    timestamp="TIMESTAMP",
    int32="INTEGER",
    int64="BIGINT",
    boolean="BOOLEAN",
    floating="DOUBLE",
    date="DATE",
)


def duckdb_type(arrow_type: pa.DataType) -> str:
    """The DuckDB column type for an Arrow type of the lake schemas."""
    return sql_type(arrow_type, _TYPE_NAMES)


class DuckRawBackend:
    """Raw tables in one DuckDB file (the working copy of a write transaction)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._seq: int | None = None
        self._appended: dict[str, set[dt.date]] = {}

    def ensure_schema(self) -> None:
        self.conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
        for table in RAW_TABLES.values():
            cols = columns_ddl(table.schema, _TYPE_NAMES)
            self.conn.execute(
                f'CREATE TABLE IF NOT EXISTS raw."{table.name}" '
                f'({cols}, "{table.day_column}" DATE NOT NULL)'
            )
        for ddl in bookkeeping_ddl(_TYPE_NAMES):
            self.conn.execute(ddl)

    def begin(self) -> None:
        self.conn.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        import duckdb

        try:
            self.conn.execute("ROLLBACK")
        except duckdb.Error:
            pass  # no transaction open (it failed before BEGIN)

    def loaded_commit_ids(self, stream: str) -> set[str]:
        rows = self.conn.execute(
            "SELECT commit_id FROM raw._loaded_commits WHERE stream = ?", [stream]
        ).fetchall()
        return {r[0] for r in rows}

    def record_commit(self, record: CommitRecord, files: Sequence[LakeFileRow]) -> None:
        self.conn.execute(
            "INSERT INTO raw._loaded_commits VALUES (?, ?, ?, now(), ?, ?)",
            [
                record.stream,
                record.commit_id,
                record.created_at,
                len(files),
                sum(f.rows for f in files),
            ],
        )
        if files:
            self.conn.executemany(
                "INSERT OR REPLACE INTO raw._lake_files VALUES (?, ?, ?, ?, ?, ?)",
                [[f.stream, f.commit_id, f.path, f.table, f.day, f.rows] for f in files],
            )

    def files_for_days(self, table: str, days: Iterable[dt.date]) -> dict[dt.date, list[str]]:
        wanted = sorted(set(days))
        if not wanted:
            return {}
        rows = self.conn.execute(
            "SELECT day, path FROM raw._lake_files WHERE raw_table = ? AND day IN "
            "(SELECT unnest(?::DATE[])) ORDER BY day, path",
            [table, wanted],
        ).fetchall()
        out: dict[dt.date, list[str]] = {}
        for day, path in rows:
            out.setdefault(day, []).append(path)
        return out

    #: rows and bookkeeping commit in one transaction: a day may be extended (load_raw)
    appends_atomically = True

    def replace_day(self, table: RawTable, day: dt.date, paths: Sequence[str], lake: Lake) -> int:
        target = f'raw."{table.name}"'
        self.conn.execute(f'DELETE FROM {target} WHERE "{table.day_column}" = ?', [day])
        return self.append_day(table, day, paths, lake)

    def append_day(self, table: RawTable, day: dt.date, paths: Sequence[str], lake: Lake) -> int:
        """Insert the rows of ``paths`` into ``day``; return the day's rows now."""
        import duckdb

        target = f'raw."{table.name}"'
        if not paths:
            return self._count(target, table.day_column, day)
        try:
            if lake.is_local:
                source = "read_parquet($files, union_by_name = true, hive_partitioning = false)"
                params: dict[str, Any] = {"files": [lake.local_path(p) for p in paths]}
            else:
                import pyarrow.parquet as pq

                arrow = pq.read_table([lake.path(p) for p in paths], filesystem=lake.fs)
                self.conn.register("_eventlake_raw_batch", arrow)
                source, params = "_eventlake_raw_batch", {}
            present = {
                r[0]
                for r in self.conn.execute(f"DESCRIBE SELECT * FROM {source}", params).fetchall()
            }
            select = ", ".join(
                f'"{f.name}"' if f.name in present else f"NULL::{duckdb_type(f.type)}"
                for f in table.schema
            )
            self.conn.execute(
                f"INSERT INTO {target} SELECT {select}, $day::DATE FROM {source}",
                {**params, "day": day},
            )
            return self._count(target, table.day_column, day)
        except duckdb.Error as exc:
            raise WarehouseError(
                f"cannot load {table.lake_dir} day {day} ({len(paths)} files, first "
                f"{paths[0]}) into {target}: {exc}"
            ) from exc
        finally:
            if not lake.is_local:
                self.conn.unregister("_eventlake_raw_batch")

    def _count(self, target: str, column: str, day: dt.date) -> int:
        row = self.conn.execute(
            f'SELECT count(*) FROM {target} WHERE "{column}" = ?', [day]
        ).fetchall()[0]
        return int(row[0]) if row else 0

    def note_appended(
        self, table: str, days: Iterable[dt.date], ranges: Sequence[tuple[int, int, int]]
    ) -> None:
        """``days`` of ``table`` were only extended, with the rows of ``ranges`` (bus
        partition, first and last offset): the change log names those rows, not the days,
        so the other generation's catch-up copies only them (``_duckdb_generations``)."""
        wanted = set(days)
        if table == "events" and wanted:
            record_arrivals(self.conn, wanted, ranges)
            self._appended.setdefault(table, set()).update(wanted)

    def mark_days(self, table: str, day_rows: Mapping[dt.date, int]) -> None:
        if not day_rows:
            return
        if self._seq is None:
            row = self.conn.execute(
                "SELECT coalesce(max(load_seq), 0) FROM raw._day_loads"
            ).fetchall()[0]
            self._seq = (int(row[0]) if row else 0) + 1
        self.conn.executemany(
            "INSERT OR REPLACE INTO raw._day_loads VALUES (?, ?, ?, now(), ?)",
            [[table, day, rows, self._seq] for day, rows in sorted(day_rows.items())],
        )
        # what the catch-up of the other generation copies (_duckdb_generations.py): the
        # arrived rows of a day that was only extended (their messageIds), else the day
        column, appended = RAW_TABLES[table].day_column, self._appended.get(table, set())
        record_days(self.conn, f"raw.{table}", column, set(day_rows) - appended)
        record_days(
            self.conn, f"raw.{table}", column, set(day_rows) & appended, key_column="message_id"
        )

    def close(self) -> None:
        self.conn.close()
