"""The raw layer: the lake's committed files loaded into ``raw.events`` and ``raw.quarantine``.

The first thing a pipeline run does inside a warehouse write transaction. Incremental and
idempotent by construction:

- the lake's commit records (``<lake>/_commits/<stream>/<id>.json``) are the only change
  feed: a directory listing per stream gives the commit ids, and only ids the warehouse has
  not loaded yet (kept in ``raw._loaded_commits``) are read. Each new record names its files
  and their partitions, i.e. the days that got new rows, so the lake is never rescanned;
- every file of a loaded commit is remembered in ``raw._lake_files`` (path, table, day, rows);
- each touched day is *replaced*: its rows are deleted and re-inserted from every committed
  file of that day, so a re-run, a retry after a failure or a backfill never appends twice;
- ``raw._day_loads`` records when each day was last (re)loaded (``load_seq`` rises by one per
  load), which is how a test proves that a late event rebuilt its day and nothing else.

Batch-source streams (``sources.<name>``) are skipped here: the CSV and REST sources load
them with :meth:`~eventlake.warehouse.base.WriteTransaction.load_source`
(``warehouse/source_tables.py``).
The load is written against :class:`RawBackend`, the small engine-facing seam each engine
implements privately (``warehouse/_duckdb_raw.py``, ``_postgres_raw.py``, ``_spark_raw.py``);
stages reach it through :meth:`eventlake.warehouse.base.WriteTransaction.load_raw`. This
module imports no engine: it holds the tables' definitions, their column types per engine
(:class:`SqlTypeNames`), the Arrow reader of committed files (:func:`arrow_batches`) and the
bookkeeping buffer of the engines that write it only when a transaction publishes
(:class:`PendingBookkeeping`).
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from eventlake.errors import WarehouseError
from eventlake.lake import (
    EVENT_SCHEMA,
    EVENTS_DIR,
    QUARANTINE_DIR,
    QUARANTINE_RAW_SCHEMA,
    CommitRecord,
    Lake,
)
from eventlake.warehouse.base import WarehouseCounts

__all__ = [
    "BOOKKEEPING_TABLES",
    "RAW_TABLES",
    "LakeFileRow",
    "RawBackend",
    "RawLoadResult",
    "RawTable",
    "SqlTypeNames",
    "COUNT_QUERIES",
    "PendingBookkeeping",
    "counts_from_rows",
    "arrow_batches",
    "bookkeeping_ddl",
    "load_raw",
    "oldest_received_at",
    "new_row_ranges",
    "columns_ddl",
    "pending_commits",
    "sql_type",
]

#: Commit streams whose files the raw layer leaves alone (``load_source`` loads them).
SOURCE_STREAM_PREFIX = "sources."


@dataclass(frozen=True, slots=True)
class RawTable:
    """One raw table: the lake folder it mirrors and the day column it is partitioned by."""

    name: str
    lake_dir: str
    day_column: str
    schema: pa.Schema


#: The raw tables this module loads, by name (``raw.<name>``).
RAW_TABLES: dict[str, RawTable] = {
    "events": RawTable("events", EVENTS_DIR, "event_date", EVENT_SCHEMA),
    "quarantine": RawTable("quarantine", QUARANTINE_DIR, "received_date", QUARANTINE_RAW_SCHEMA),
}


@dataclass(frozen=True, slots=True)
class SqlTypeNames:
    """One engine's column type names for the Arrow types of the lake schemas."""

    engine: str
    string: str
    timestamp_tz: str
    timestamp: str
    int32: str
    int64: str
    boolean: str
    floating: str
    date: str


def sql_type(arrow_type: pa.DataType, names: SqlTypeNames) -> str:
    """The column type in ``names`` for an Arrow type of the lake schemas."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return names.string
    if pa.types.is_timestamp(arrow_type):
        return names.timestamp_tz if arrow_type.tz else names.timestamp
    if pa.types.is_int32(arrow_type):
        return names.int32
    if pa.types.is_int64(arrow_type):
        return names.int64
    if pa.types.is_boolean(arrow_type):
        return names.boolean
    if pa.types.is_floating(arrow_type):
        return names.floating
    if pa.types.is_date(arrow_type):
        return names.date
    raise WarehouseError(f"no {names.engine} type for lake column type {arrow_type}")


def columns_ddl(
    schema: pa.Schema, names: SqlTypeNames, *, quote: str = '"', constraints: bool = True
) -> str:
    """The column list of a CREATE TABLE for ``schema`` in one engine's types.

    ``constraints`` adds NOT NULL for non-nullable fields (Spark's tables take none).
    """
    return ", ".join(
        f"{quote}{f.name}{quote} {sql_type(f.type, names)}"
        + ("" if f.nullable or not constraints else " NOT NULL")
        for f in schema
    )


_TZ = pa.timestamp("us", tz="UTC")

#: The raw layer's own bookkeeping tables (``raw.<name>``): columns and primary key, written
#: once here and rendered in each backend's types by :func:`columns_ddl`.
BOOKKEEPING_TABLES: dict[str, tuple[pa.Schema, tuple[str, ...]]] = {
    "_loaded_commits": (
        pa.schema(
            [
                pa.field("stream", pa.string(), nullable=False),
                pa.field("commit_id", pa.string(), nullable=False),
                pa.field("committed_at", pa.float64()),
                pa.field("loaded_at", _TZ, nullable=False),
                pa.field("files", pa.int32(), nullable=False),
                pa.field("rows", pa.int64(), nullable=False),
            ]
        ),
        ("stream", "commit_id"),
    ),
    "_lake_files": (
        pa.schema(
            [
                pa.field("stream", pa.string(), nullable=False),
                pa.field("commit_id", pa.string(), nullable=False),
                pa.field("path", pa.string(), nullable=False),
                pa.field("raw_table", pa.string(), nullable=False),
                pa.field("day", pa.date32(), nullable=False),
                pa.field("rows", pa.int64(), nullable=False),
            ]
        ),
        ("path",),
    ),
    "_day_loads": (
        pa.schema(
            [
                pa.field("raw_table", pa.string(), nullable=False),
                pa.field("day", pa.date32(), nullable=False),
                pa.field("rows", pa.int64(), nullable=False),
                pa.field("loaded_at", _TZ, nullable=False),
                pa.field("load_seq", pa.int64(), nullable=False),
            ]
        ),
        ("raw_table", "day"),
    ),
}


def bookkeeping_ddl(names: SqlTypeNames) -> list[str]:
    """CREATE TABLE statements of the bookkeeping tables for a SQL engine with keys."""
    return [
        f"CREATE TABLE IF NOT EXISTS raw.{name} "
        f"({columns_ddl(schema, names, quote='')}, PRIMARY KEY ({', '.join(key)}))"
        for name, (schema, key) in BOOKKEEPING_TABLES.items()
    ]


@dataclass(frozen=True, slots=True)
class LakeFileRow:
    """A committed lake file as the raw layer indexes it."""

    stream: str
    commit_id: str
    path: str
    table: str
    day: dt.date
    rows: int


@dataclass(frozen=True, slots=True)
class RawLoadResult:
    """What one raw load did.

    ``changed_days`` maps a raw table name to the days replaced, sorted; ``new_rows`` counts
    the rows of the newly loaded commits per table; ``day_rows`` the rows each replaced day
    holds now; ``oldest_new_received_at`` is the oldest ``received_at`` (when the collector
    acknowledged it) of the events in the newly loaded commits, None when none came: what
    a build's freshness is measured from.
    """

    commits_loaded: int = 0
    changed_days: Mapping[str, tuple[dt.date, ...]] = field(default_factory=dict)
    new_rows: Mapping[str, int] = field(default_factory=dict)
    day_rows: Mapping[str, Mapping[dt.date, int]] = field(default_factory=dict)
    oldest_new_received_at: dt.datetime | None = None
    new_offsets: tuple[tuple[int, int, int], ...] | None = None

    @property
    def event_days(self) -> tuple[dt.date, ...]:
        """The days of ``raw.events`` that changed: what the models must rebuild."""
        return tuple(self.changed_days.get("events", ()))


class RawBackend(Protocol):
    """What the raw load needs from a warehouse engine. Not thread-safe; one per load."""

    def ensure_schema(self) -> None:
        """Create the ``raw`` schema and its tables if missing (idempotent)."""
        ...

    def begin(self) -> None:
        """Start the transaction the whole load runs in."""
        ...

    def commit(self) -> None:
        """Make the load durable in the working copy."""
        ...

    def rollback(self) -> None:
        """Discard the load."""
        ...

    def loaded_commit_ids(self, stream: str) -> set[str]:
        """Commit ids of ``stream`` already loaded."""
        ...

    def record_commit(self, record: CommitRecord, files: Sequence[LakeFileRow]) -> None:
        """Remember that ``record`` is loaded and which raw files it brought."""
        ...

    def files_for_days(self, table: str, days: Iterable[dt.date]) -> dict[dt.date, list[str]]:
        """Lake paths (relative to the lake root) of every loaded file of those days."""
        ...

    def replace_day(self, table: RawTable, day: dt.date, paths: Sequence[str], lake: Lake) -> int:
        """Delete ``day`` from ``raw.<table>`` and insert the rows of ``paths``; return them."""
        ...

    def mark_days(self, table: str, day_rows: Mapping[dt.date, int]) -> None:
        """Record in ``raw._day_loads`` that these days were just (re)loaded."""
        ...

    # A backend whose rows and bookkeeping commit together (DuckDB: one transaction in
    # the working generation) may also say ``appends_atomically = True`` and implement
    # ``append_day(table, day, paths, lake) -> rows of the day``: a day that only got new
    # commits is then extended with their files instead of replaced from every file of the
    # day (whose count grows all day long with a lander committing every second). It then
    # also implements ``note_appended(table, days, ranges)``, told before ``mark_days``
    # which days were only extended and the ``(bus_partition, first, last)`` offset
    # ranges of the rows added to ``events`` (``new_row_ranges``; not called when those are
    # unknown). Engines that write rows before their bookkeeping (PostgreSQL, Spark: a
    # failed run's commits are loaded again) must replace, which stays idempotent.

    def close(self) -> None:
        """Release the connection."""
        ...


def arrow_batches(
    lake: Lake, paths: Sequence[str], table: RawTable, day: dt.date, batch_rows: int = 65_536
) -> Iterable[pa.RecordBatch]:
    """Record batches of the committed files ``paths``, shaped as ``raw.<table>``.

    Columns the raw table has but a file lacks (older schema) come out as nulls; extra file
    columns are dropped; the day column is appended. Read with pyarrow through the lake's
    filesystem (local disk or object storage), one batch in memory at a time.
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


@dataclass(slots=True)
class PendingBookkeeping:
    """Bookkeeping of a load kept in memory until its transaction publishes.

    The engines that change their tables in place (PostgreSQL, Spark) write the raw rows
    during the load but the record of what was loaded only when the whole run succeeded,
    so a failed run's commits are loaded again by the next one.
    """

    #: (stream, commit_id, committed_at, files, rows) of each newly loaded commit.
    commits: list[tuple[str, str, float | None, int, int]] = field(default_factory=list)
    files: list[LakeFileRow] = field(default_factory=list)
    #: (raw table, day, rows) of each replaced day.
    days: list[tuple[str, dt.date, int]] = field(default_factory=list)

    def add_commit(self, record: CommitRecord, files: Sequence[LakeFileRow]) -> None:
        rows = sum(f.rows for f in files)
        self.commits.append((record.stream, record.commit_id, record.created_at, len(files), rows))
        self.files.extend(files)

    def commit_ids(self, stream: str) -> set[str]:
        return {c[1] for c in self.commits if c[0] == stream}

    def day_files(self, table: str, days: Iterable[dt.date]) -> set[tuple[dt.date, str]]:
        wanted = set(days)
        return {(f.day, f.path) for f in self.files if f.table == table and f.day in wanted}

    def clear(self) -> None:
        self.commits, self.files, self.days = [], [], []

    def __bool__(self) -> bool:
        return bool(self.commits or self.files or self.days)


#: What ``eventlake status`` reads from the raw layer and ``stg_events`` (portable SQL).
COUNT_QUERIES = {
    "loaded": "SELECT stream, commit_id FROM raw._loaded_commits",
    "files": "SELECT raw_table, sum(rows) FROM raw._lake_files GROUP BY raw_table",
    "raw": "SELECT count(*), count(DISTINCT message_id), max(received_at) FROM raw.events",
    "modeled": "SELECT count(*) FROM staging.stg_events",
}


def counts_from_rows(results: Mapping[str, Sequence[tuple[Any, ...]]]) -> WarehouseCounts:
    """WarehouseCounts from the rows of the count queries that ran (a missing table: none)."""
    loaded: dict[str, set[str]] = {}
    for stream, cid in results.get("loaded", []):
        loaded.setdefault(str(stream), set()).add(str(cid))
    lake_rows = {str(table): int(rows or 0) for table, rows in results.get("files", [])}
    raw_events = distinct = 0
    newest = None
    if results.get("raw"):
        total, distinct_count, newest = results["raw"][0]
        raw_events, distinct = int(total), int(distinct_count)
        if isinstance(newest, dt.datetime) and newest.tzinfo is None:
            newest = newest.astimezone(dt.UTC)  # pyspark hands out naive local times
    modeled = int(results["modeled"][0][0]) if results.get("modeled") else None
    return WarehouseCounts(
        loaded_commits={s: frozenset(ids) for s, ids in loaded.items()},
        lake_rows=lake_rows,
        raw_events=raw_events,
        distinct_events=distinct,
        modeled=modeled,
        newest_received_at=newest,
    )


def _classify(record: CommitRecord) -> list[LakeFileRow]:
    """The files of ``record`` that belong to a raw table, with their day."""
    rows = []
    for f in record.files:
        top = f.path.split("/", 1)[0]
        for table in RAW_TABLES.values():
            if top != table.lake_dir:
                continue
            day_text = f.partition.get(table.day_column) or _day_from_path(f.path, table)
            if day_text is None:
                raise WarehouseError(
                    f"lake commit {record.stream}/{record.commit_id}: file {f.path} has no "
                    f"{table.day_column} partition"
                )
            try:
                day = dt.date.fromisoformat(str(day_text))
            except ValueError as exc:
                raise WarehouseError(
                    f"lake commit {record.stream}/{record.commit_id}: file {f.path} has a bad "
                    f"{table.day_column} {day_text!r}"
                ) from exc
            rows.append(
                LakeFileRow(record.stream, record.commit_id, f.path, table.name, day, f.rows)
            )
    return rows


def _day_from_path(path: str, table: RawTable) -> str | None:
    for part in posixpath.dirname(path).split("/"):
        key, sep, value = part.partition("=")
        if sep and key == table.day_column:
            return value
    return None


def pending_commits(lake: Lake, loaded: Mapping[str, set[str]]) -> list[tuple[str, str]]:
    """(stream, commit_id) of every commit not in ``loaded`` (a directory listing per stream)."""
    out: list[tuple[str, str]] = []
    for stream in lake.streams():
        if stream.startswith(SOURCE_STREAM_PREFIX):
            continue
        done = loaded.get(stream, set())
        out.extend((stream, cid) for cid in lake.commit_ids(stream) if cid not in done)
    return out


def load_raw(
    backend: RawBackend,
    lake: Lake,
    *,
    reload_days: Iterable[dt.date] = (),
) -> RawLoadResult:
    """Load the lake's new commits into the raw tables; replace every day they touch.

    Idempotent: running it again with nothing new changes nothing (and replacing a day
    twice gives the same rows). ``reload_days`` (event days) are replaced as well even when
    no new commit touched them (backfills, ``run --date``).

    Raises:
        WarehouseError: a commit record or a file cannot be read.
    """
    backend.ensure_schema()
    backend.begin()
    try:
        streams = [s for s in lake.streams() if not s.startswith(SOURCE_STREAM_PREFIX)]
        loaded = {s: backend.loaded_commit_ids(s) for s in streams}
        days: dict[str, set[dt.date]] = {name: set() for name in RAW_TABLES}
        new_rows = dict.fromkeys(RAW_TABLES, 0)
        pending = pending_commits(lake, loaded)
        new_event_files: list[str] = []
        records: list[CommitRecord] = []
        new_files: dict[tuple[str, dt.date], list[str]] = {}
        for stream, commit_id in pending:
            record = lake.read_commit(stream, commit_id)
            records.append(record)
            files = _classify(record)
            backend.record_commit(record, files)
            for f in files:
                days[f.table].add(f.day)
                new_files.setdefault((f.table, f.day), []).append(f.path)
                new_rows[f.table] += f.rows
                if f.table == "events" and f.rows:
                    new_event_files.append(f.path)
        oldest = oldest_received_at(lake, new_event_files)
        reload_days = tuple(reload_days)
        new_offsets = None if reload_days else new_row_ranges(records)
        # Quarantine is partitioned by arrival, not by event day: only events are reloaded.
        days["events"].update(reload_days)
        appends = getattr(backend, "appends_atomically", False)
        day_rows: dict[str, dict[dt.date, int]] = {}
        for name, table in RAW_TABLES.items():
            replaced = set(reload_days) if name == "events" else set()
            by_day = (
                backend.files_for_days(name, days[name])
                if not appends
                else (backend.files_for_days(name, replaced))
            )
            counts = {}
            appended = set()
            for day in sorted(days[name]):
                if appends and day not in replaced:
                    # the day holds exactly the rows of the files loaded before: adding the
                    # new files' rows equals replacing it, without reading every file again
                    added = new_files.get((name, day), [])
                    counts[day] = backend.append_day(table, day, added, lake)  # type: ignore[attr-defined]
                    appended.add(day)
                else:
                    counts[day] = backend.replace_day(table, day, by_day.get(day, []), lake)
            if name == "events" and appended and new_offsets is not None:
                # the rows added are exactly those of the new ranges: a backend that logs
                # its changes may name them instead of the days (DuckDB's generations)
                backend.note_appended(name, appended, new_offsets)  # type: ignore[attr-defined]
            backend.mark_days(name, counts)
            day_rows[name] = counts
        backend.commit()
    except BaseException:
        backend.rollback()
        raise
    return RawLoadResult(
        commits_loaded=len(pending),
        changed_days={name: tuple(sorted(d)) for name, d in days.items()},
        new_rows=new_rows,
        day_rows=day_rows,
        oldest_new_received_at=oldest,
        new_offsets=new_offsets,
    )


def new_row_ranges(records: Sequence[CommitRecord]) -> tuple[tuple[int, int, int], ...] | None:
    """The ``(bus_partition, first_offset, last_offset)`` ranges of the events topic that
    ``records`` cover, merged per partition; None when a record does not say (the rows of
    such a commit cannot be told from older ones).

    A range may also hold offsets no new row has (a quarantined record): harmless, since
    only rows of the changed days are looked at, and those offsets are new too.
    """
    spans: dict[int, list[tuple[int, int]]] = {}
    for record in records:
        if not any(f.path.startswith(EVENTS_DIR + "/") for f in record.files):
            continue  # no event rows (a quarantine-only commit)
        meta = record.meta or {}
        try:
            if meta.get("topic", "events") != "events":
                return None
            part, first, last = (
                int(meta["partition"]),
                int(meta["first_offset"]),
                int(meta["last_offset"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        spans.setdefault(part, []).append((first, last))
    out: list[tuple[int, int, int]] = []
    for part, ranges in sorted(spans.items()):
        ranges.sort()
        lo, hi = ranges[0]
        for first, last in ranges[1:]:
            if first <= hi + 1:
                hi = max(hi, last)
            else:
                out.append((part, lo, hi))
                lo, hi = first, last
        out.append((part, lo, hi))
    return tuple(out)


def oldest_received_at(lake: Lake, paths: Sequence[str]) -> dt.datetime | None:
    """The oldest ``received_at`` in the committed files ``paths`` (UTC; None: no rows).

    Read from each file's Parquet footer (row-group minimums, written by pyarrow by
    default); a file without statistics for the column is read for that one column.

    Raises:
        WarehouseError: a file cannot be read.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    oldest: dt.datetime | None = None
    for rel in paths:
        try:
            with lake.fs.open_input_file(lake.path(rel)) as source:
                pf = pq.ParquetFile(source)
                names = pf.schema_arrow.names
                if "received_at" not in names:
                    continue
                meta = pf.metadata
                col = pf.metadata.schema.to_arrow_schema().get_field_index("received_at")
                found: dt.datetime | None = None
                complete = True
                for i in range(meta.num_row_groups):
                    stats = meta.row_group(i).column(col).statistics
                    if stats is None or not stats.has_min_max:
                        complete = False
                        break
                    value = stats.min
                    if isinstance(value, dt.datetime):
                        found = value if found is None else min(found, value)
                    else:
                        complete = False
                        break
                if not complete:
                    table = pf.read(columns=["received_at"])
                    value = pc.min(table.column(0)).as_py()
                    found = value if isinstance(value, dt.datetime) else None
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise WarehouseError(f"cannot read received_at of lake file {rel}: {exc}") from exc
        if found is None:
            continue
        if found.tzinfo is None:
            found = found.replace(tzinfo=dt.UTC)
        oldest = found if oldest is None else min(oldest, found)
    return oldest
