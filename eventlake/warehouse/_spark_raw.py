"""Spark's raw layer (:class:`~eventlake.warehouse.raw.RawBackend`); private to ``spark.py``.

``raw.events`` and ``raw.quarantine`` are Parquet tables of
the Spark catalog partitioned by their day column; replacing a day is an ``INSERT
OVERWRITE`` of that one partition (dynamic partition overwrite) from the lake's committed
files, read with pyarrow (any lake filesystem) and handed to Spark as Arrow.

Spark has no multi-statement transactions, so the bookkeeping (which commits and files are
loaded, when each day was replaced) is buffered and written by :meth:`write_bookkeeping`
when the whole write transaction succeeded (``spark.py``): a load or a build that dies
half-way has recorded nothing, and the next run replaces the same days again from the same
files (day replacement is idempotent) and rebuilds them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from eventlake.errors import WarehouseError
from eventlake.lake import CommitRecord, Lake
from eventlake.warehouse.raw import (
    BOOKKEEPING_TABLES,
    RAW_TABLES,
    LakeFileRow,
    PendingBookkeeping,
    RawTable,
    SqlTypeNames,
    arrow_batches,
    columns_ddl,
    sql_type,
)

__all__ = ["SparkRawBackend", "spark_type"]

_TYPE_NAMES = SqlTypeNames(
    engine="Spark",
    string="STRING",
    timestamp_tz="TIMESTAMP",
    timestamp="TIMESTAMP_NTZ",
    int32="INT",
    int64="BIGINT",
    boolean="BOOLEAN",
    floating="DOUBLE",
    date="DATE",
)


def spark_type(arrow_type: pa.DataType) -> str:
    """The Spark SQL column type for an Arrow type of the lake schemas."""
    return sql_type(arrow_type, _TYPE_NAMES)


def _bookkeeping_columns(name: str) -> str:
    return columns_ddl(BOOKKEEPING_TABLES[name][0], _TYPE_NAMES, quote="", constraints=False)


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


class SparkRawBackend:
    """Raw tables in the Spark catalog (database ``raw``)."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self.pending = PendingBookkeeping()

    def _sql(self, sql: str) -> list[Any]:
        try:
            return list(self.spark.sql(sql).collect())
        except Exception as exc:  # pyspark's AnalysisException & py4j errors
            raise WarehouseError(f"Spark raw load failed: {exc}") from exc

    def ensure_schema(self) -> None:
        self._sql("CREATE DATABASE IF NOT EXISTS raw")
        for table in RAW_TABLES.values():
            cols = columns_ddl(table.schema, _TYPE_NAMES, quote="`", constraints=False)
            self._sql(
                f"CREATE TABLE IF NOT EXISTS raw.`{table.name}` "
                f"({cols}, `{table.day_column}` DATE) USING parquet "
                f"PARTITIONED BY (`{table.day_column}`)"
            )
        for name in BOOKKEEPING_TABLES:
            self._sql(
                f"CREATE TABLE IF NOT EXISTS raw.`{name}` ({_bookkeeping_columns(name)}) "
                "USING parquet"
            )

    def begin(self) -> None:
        self.pending.clear()

    def commit(self) -> None:
        """Every day is replaced; the bookkeeping waits for :meth:`write_bookkeeping`."""

    def write_bookkeeping(self) -> None:
        """Record what the load brought (the run succeeded)."""
        pending = self.pending
        now = dt.datetime.now(dt.UTC)
        if pending.commits:
            self._insert(
                "_loaded_commits",
                [
                    (stream, cid, float(at or time.time()), now, files, rows)
                    for stream, cid, at, files, rows in pending.commits
                ],
            )
        if pending.files:
            self._insert(
                "_lake_files",
                [(f.stream, f.commit_id, f.path, f.table, f.day, f.rows) for f in pending.files],
            )
        if pending.days:
            seq = self._sql("SELECT coalesce(max(load_seq), 0) FROM raw._day_loads")[0][0]
            self._insert(
                "_day_loads",
                [(t, day, rows, now, int(seq) + 1) for t, day, rows in pending.days],
            )
        pending.clear()

    def _insert(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        try:
            df = self.spark.createDataFrame(rows, schema=_bookkeeping_columns(table))
            df.write.insertInto(f"raw.`{table}`")
        except Exception as exc:
            raise WarehouseError(f"Spark raw load failed writing raw.{table}: {exc}") from exc

    def rollback(self) -> None:
        self.pending.clear()

    def loaded_commit_ids(self, stream: str) -> set[str]:
        rows = self._sql(
            f"SELECT commit_id FROM raw._loaded_commits WHERE stream = {_literal(stream)}"
        )
        return {str(r[0]) for r in rows} | self.pending.commit_ids(stream)

    def record_commit(self, record: CommitRecord, files: Sequence[LakeFileRow]) -> None:
        self.pending.add_commit(record, files)

    def files_for_days(self, table: str, days: Iterable[dt.date]) -> dict[dt.date, list[str]]:
        wanted = sorted(set(days))
        if not wanted:
            return {}
        listed = ", ".join(_literal(d) for d in wanted)
        rows = self._sql(
            f"SELECT DISTINCT day, path FROM raw._lake_files "
            f"WHERE raw_table = {_literal(table)} AND day IN ({listed})"
        )
        found = {(r[0], str(r[1])) for r in rows}
        found |= self.pending.day_files(table, wanted)
        out: dict[dt.date, list[str]] = {}
        for day, path in sorted(found):
            out.setdefault(day, []).append(path)
        return out

    def replace_day(self, table: RawTable, day: dt.date, paths: Sequence[str], lake: Lake) -> int:
        target = f"raw.`{table.name}`"
        if not paths:
            self._sql(
                f"ALTER TABLE {target} DROP IF EXISTS PARTITION "
                f"(`{table.day_column}` = {_literal(day)})"
            )
            return 0
        try:
            batches = list(arrow_batches(lake, paths, table, day))
            arrow = pa.Table.from_batches(batches)
            df = self.spark.createDataFrame(arrow)
            df.write.insertInto(target, overwrite=True)
        except WarehouseError:
            raise
        except Exception as exc:
            raise WarehouseError(
                f"cannot load {table.lake_dir} day {day} ({len(paths)} files, first "
                f"{paths[0]}) into Spark {target}: {exc}"
            ) from exc
        return int(arrow.num_rows)

    def mark_days(self, table: str, day_rows: Mapping[dt.date, int]) -> None:
        self.pending.days.extend((table, day, rows) for day, rows in sorted(day_rows.items()))

    def close(self) -> None:
        """Keep the process-wide session (dbt's build uses it next)."""
