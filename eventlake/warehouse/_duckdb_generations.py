"""DuckDB's publish without copying the history: two generation files and a catch-up.

Private to ``warehouse/duckdb.py``. DuckDB lets one process write a file or many read it,
never both, and serve keeps reading while a run writes, so a run never writes the
published file. Instead of copying the whole published file for every run (what this
replaced: O(history) per run, seconds at 10M events), the warehouse keeps two generation
files beside ``warehouse.path`` and publishes by swapping a symbolic link::

    warehouse.duckdb        -> warehouse.duckdb.g1   (symlink: what readers open)
    warehouse.duckdb.g0     the previous generation: the next run's working file
    warehouse.duckdb.g1     the published generation (never written while published)
    warehouse.duckdb.next   -> the working generation during a run (dbt's stable path)

A run (:func:`prepare_generation`, then the body, then :func:`publish_generation`):

1. brings the unpublished generation up to date with the published one, in ONE DuckDB
   transaction, from the published file ATTACHed read-only: only what the runs since that
   generation changed (:func:`catch_up`), read from the change log the runs wrote;
2. bumps its version, and the body (raw load, dbt build) changes it;
3. publishes it by replacing the symlink (atomic ``rename``), after DuckDB closed it
   (checkpointed: no WAL left).

**The change log.** ``raw._generation`` holds the file's version (one row); every run that
writes the file appends to ``raw._changes`` (version, relation, day column, day, key
column; a null day = the whole relation) what it rebuilt: the raw layer the days it
replaced, the DuckDB materializations of the dbt project the days of a day-partitioned
incremental model (``macros/generation_log.sql``), a batch-source load its table.
``raw._day_tables`` lists the relations managed by day. A day that only got new messages
is logged at row level: the raw load logs which rows arrived (``raw._arrivals``: day, bus
partition, offset range, as the models get them in ``new_rows``) and names the day with
``key_column = message_id`` for ``raw.events``; ``stg_events``, ``fct_purchases``,
``fct_guild_joins`` and ``conversion_funnel``, which then replace only the arriving
messages' rows of that day, name it with their messageId column. The catch-up then copies, per
table:

- a day-managed table (``raw.events``, ``stg_events``, ``fct_*``, ``int_user_days``...):
  the logged days (delete, insert from the published file), and of a day logged at row
  level only the rows whose key is a messageId that arrived in the versions caught up
  (read once from the published ``raw.events``, pruned by day and offsets); for
  ``raw.events`` itself, whose rows are only ever added, each once, just those arrived
  rows, inserted by day and offsets; and where the log says none of those messages had a
  row before (``appended``: every copy of each arrived in that run), only inserted, with
  no delete to look for, and in a table with a ``received_at`` column (``stg_events``:
  each message's winning copy, one of those arrived rows) bounded by the arrived rows'
  earliest ``received_at``, so DuckDB reads the day's last row groups only; nothing if
  nothing was logged;
- another table of schema ``raw`` (a batch source's): when logged, whole; else nothing;
- every other table (dimensions, metrics, identity map, bookkeeping): whole (they are
  small: days x dimensions, or one row per user);
- views: re-created when their SQL or comment differs; tables whose DDL differs (a full
  refresh changed columns) are re-created and copied whole.

It is verified by counting every table's rows on both sides; any doubt (no version, a
version gap larger than the log keeps, a generation ahead of the published one after a
failed or killed run, a file another process holds open, a count that differs) falls
back to a plain copy of the published file, the old way. So the cost of a run is what it
changes (twice: once built, once caught up), not the history, and for the row-level
tables of a day that only got new messages, not the day either.

**Readers** open the symlink's target read-only. A reader holding the unpublished
generation open makes the catch-up wait (DuckDB refuses a writer while a reader holds the
file), up to :data:`READER_WAIT` seconds, then the generation is replaced by a copy (a
rename: the reader keeps its file). ``DuckDBReader`` releases a superseded generation
within half a second when idle, so serve never blocks the writer.

**Crashes.** The published file and the symlink change only by ``rename``; a run killed at
any point leaves the previous symlink, hence the last good warehouse; the half-written
generation has a version ahead of the published one (or did not commit its catch-up, one
transaction), so the next run copies or catches it up from scratch.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventlake.errors import WarehouseError

__all__ = [
    "GENERATIONS",
    "KEEP_VERSIONS",
    "READER_WAIT",
    "Generation",
    "catch_up",
    "generation_paths",
    "is_lock_conflict",
    "log_ddl",
    "prepare_generation",
    "publish_generation",
    "published_file",
    "read_version",
    "record_arrivals",
    "record_days",
    "record_whole",
]

log = logging.getLogger("eventlake.warehouse")

#: Suffixes of the two generation files (``<warehouse.path><suffix>``).
GENERATIONS = (".g0", ".g1")
#: Versions of change log kept: a generation further behind is copied, not caught up.
KEEP_VERSIONS = 16
#: Seconds a run waits for readers to release the generation it is about to write.
READER_WAIT = 5.0
#: The attached published file's alias during a catch-up.
_SRC = "__eventlake_published"

_LOG_TABLES = (
    "CREATE SCHEMA IF NOT EXISTS raw",
    "CREATE TABLE IF NOT EXISTS raw._generation (version BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS raw._changes (version BIGINT NOT NULL, relation VARCHAR NOT "
    "NULL, day_column VARCHAR, day DATE)",
    # a file logged before row-level entries existed gets the column (null: the whole day)
    "ALTER TABLE raw._changes ADD COLUMN IF NOT EXISTS key_column VARCHAR",
    # a row-level entry whose messages had no row before: the catch-up only inserts them
    "ALTER TABLE raw._changes ADD COLUMN IF NOT EXISTS appended BOOLEAN",
    "CREATE TABLE IF NOT EXISTS raw._day_tables (relation VARCHAR PRIMARY KEY, "
    "day_column VARCHAR NOT NULL)",
    "CREATE TABLE IF NOT EXISTS raw._arrivals (version BIGINT NOT NULL, day DATE NOT NULL, "
    "bus_partition INTEGER NOT NULL, first_offset BIGINT NOT NULL, last_offset BIGINT NOT NULL)",
)


def log_ddl() -> tuple[str, ...]:
    """The change log's tables (idempotent)."""
    return _LOG_TABLES


def generation_paths(path: Path) -> tuple[Path, Path]:
    """The two generation files of the warehouse ``path``."""
    return tuple(path.with_name(path.name + s) for s in GENERATIONS)  # type: ignore[return-value]


def published_file(path: Path) -> Path | None:
    """The file readers open for ``path``: the symlink's target, ``path`` itself when it is
    a plain file (a warehouse written before generations), None when nothing is published."""
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        return target if target.exists() else None
    return path if path.exists() else None


def is_lock_conflict(exc: BaseException) -> bool:
    """Whether a DuckDB error says another process holds the file (a reader, a writer)."""
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def record_days(
    conn: Any, relation: str, column: str, days: Iterable[Any], key_column: str | None = None
) -> None:
    """Log that ``relation`` (``schema.table``) was rebuilt on ``days`` of ``column``, in
    the current transaction; nothing when the file has no change log (a plain file).

    With ``key_column``, only the rows of those days whose ``key_column`` is the messageId
    of a row that arrived in this version (:func:`record_arrivals`) changed: the catch-up
    copies those rows, not the days."""
    if not _has_log(conn):
        return
    wanted = sorted(set(days))
    conn.execute("INSERT OR IGNORE INTO raw._day_tables VALUES (?, ?)", [relation, column])
    if wanted:
        conn.execute(
            "INSERT INTO raw._changes (version, relation, day_column, day, key_column) "
            "SELECT g.version, ?, ?, d.day, ? FROM raw._generation AS g, "
            "(SELECT unnest(?::DATE[]) AS day) AS d",
            [relation, column, key_column, wanted],
        )


def record_arrivals(conn: Any, days: Iterable[Any], ranges: Sequence[tuple[int, int, int]]) -> None:
    """Log the rows that arrived in this version: the ``raw.events`` rows of ``days`` whose
    ``(bus_partition, bus_offset)`` lies in one of ``ranges`` (``(partition, first, last)``,
    what the models get as ``new_rows``). Their messageIds are what row-level entries of
    the change log (``key_column``) stand for."""
    if not _has_log(conn):
        return
    rows = [[d, int(p), int(lo), int(hi)] for d in sorted(set(days)) for p, lo, hi in ranges]
    if rows:
        conn.executemany(
            "INSERT INTO raw._arrivals SELECT version, ?, ?, ?, ? FROM raw._generation", rows
        )


def record_whole(conn: Any, relation: str) -> None:
    """Log that ``relation`` was rewritten whole (nothing without a change log)."""
    if not _has_log(conn):
        return
    conn.execute(
        "INSERT INTO raw._changes (version, relation) SELECT version, ? FROM raw._generation",
        [relation],
    )


def _has_log(conn: Any) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'raw' AND table_name = '_generation'"
    ).fetchall()  # fetched to the end: a pending result would refuse a later register()
    return bool(row and row[0][0])


def read_version(conn: Any, catalog: str | None = None) -> int | None:
    """The version in ``raw._generation`` of ``catalog`` (default: the current one)."""
    db = catalog or conn.execute("SELECT current_database()").fetchone()[0]
    found = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'raw' "
        "AND table_name = '_generation'",
        [db],
    ).fetchone()
    if not found or not found[0]:
        return None
    row = conn.execute(f'SELECT max(version) FROM "{db}".raw._generation').fetchone()
    return None if row is None or row[0] is None else int(row[0])


@dataclass(frozen=True, slots=True)
class Generation:
    """The working generation of one run: ``file`` (a generation file), reached through
    the stable symlink ``work``; ``version`` it will publish; ``caught_up`` whether it was
    caught up (False: copied whole, or new); ``seconds`` spent preparing it."""

    file: Path
    work: Path
    version: int
    caught_up: bool
    seconds: float


def _connect(path: Path, threads: int) -> Any:
    import duckdb

    return duckdb.connect(str(path), config={"threads": max(1, threads)})


def _connect_waiting(path: Path, threads: int, wait: float) -> Any | None:
    """A read-write connection to ``path``, waiting up to ``wait`` s for readers to let go;
    None if they did not."""
    import duckdb

    deadline = time.monotonic() + wait
    while True:
        try:
            return _connect(path, threads)
        except duckdb.Error as exc:
            if not is_lock_conflict(exc):
                raise
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)


def _unlink(*paths: Path) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _point(link: Path, target: Path) -> None:
    """Make ``link`` a symlink to ``target`` (same folder), atomically."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.link")
    _unlink(tmp)
    os.symlink(target.name, tmp)
    os.replace(tmp, link)


def _migrate(path: Path) -> None:
    """A plain warehouse file (written before generations) becomes generation 0, with no
    moment where readers find nothing: hard link, then the symlink replaces the name."""
    g0, _ = generation_paths(path)
    _unlink(g0, _wal(g0))
    os.link(path, g0)
    _point(path, g0)
    _fsync_dir(path.parent)


def prepare_generation(path: Path, threads: int, *, wait: float = READER_WAIT) -> Generation:
    """Make the unpublished generation equal to the published warehouse (or create the
    first one), bump its version and point ``<path>.next`` at it. Called under the
    writer's lock.

    Raises:
        WarehouseError: a generation cannot be written.
    """
    import duckdb

    started = time.perf_counter()
    work = path.with_name(path.name + ".next")
    _unlink(work, _wal(work))  # a killed run's leftovers
    if path.exists() and not path.is_symlink():
        _migrate(path)
    current = published_file(path)
    g0, g1 = generation_paths(path)
    target = g1 if current == g0 else g0
    caught_up = False
    version = 1
    try:
        if current is None:
            _unlink(target, _wal(target))
        else:
            _unlink(_wal(target))  # a killed run's WAL would replay onto the wrong file
            if target.exists():
                caught_up = _try_catch_up(target, current, threads, wait)
            if not caught_up:
                _copy(current, target)
        _point(work, target)
        conn = _connect(work, threads)
        try:
            for ddl in _LOG_TABLES:
                conn.execute(ddl)
            old = read_version(conn) or 0
            version = old + 1
            conn.execute("BEGIN")
            conn.execute("DELETE FROM raw._generation")
            conn.execute("INSERT INTO raw._generation VALUES (?)", [version])
            for log_table in ("_changes", "_arrivals"):
                conn.execute(
                    f"DELETE FROM raw.{log_table} WHERE version <= ?", [version - KEEP_VERSIONS]
                )
            conn.execute("COMMIT")
        finally:
            conn.close()
    except (duckdb.Error, OSError) as exc:
        raise WarehouseError(f"cannot prepare warehouse generation {target}: {exc}") from exc
    gen = Generation(target, work, version, caught_up, time.perf_counter() - started)
    how = "caught up" if caught_up else ("copied" if current is not None else "created")
    log.info(
        "warehouse generation %s %s for version %d in %.2f s",
        target.name,
        how,
        version,
        gen.seconds,
    )
    return gen


def _try_catch_up(target: Path, current: Path, threads: int, wait: float) -> bool:
    """Catch ``target`` up with ``current``; False when it cannot be (the caller copies)."""
    import duckdb

    try:
        conn = _connect_waiting(target, threads, wait)
        if conn is None:
            log.info("a reader holds %s: copying the published warehouse instead", target)
            return False
        try:
            return catch_up(conn, current)
        finally:
            conn.close()
    except duckdb.Error as exc:  # a damaged generation (a killed run): copy over it
        log.warning("cannot catch up %s (%s): copying the published warehouse", target, exc)
        _unlink(_wal(target))
        return False


def _copy(current: Path, target: Path) -> None:
    """``target`` becomes a copy of ``current``, by rename (a reader keeps its old file)."""
    tmp = target.with_name(target.name + ".copy")
    _unlink(tmp, _wal(tmp))
    shutil.copyfile(current, tmp)
    _unlink(_wal(target))
    os.replace(tmp, target)


def publish_generation(path: Path, gen: Generation) -> None:
    """Publish the run's generation: ``path`` now points at it (atomic rename).

    Raises:
        WarehouseError: a connection to the working file is still open (its WAL is there).
    """
    for wal in (_wal(gen.work), _wal(gen.file)):
        if wal.exists():
            # A clean close checkpoints the WAL; one left over means a connection is
            # still open on the working copy, which would publish a torn database.
            raise WarehouseError(f"{gen.work} still has an open connection; close it first")
    fd = os.open(gen.file, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    _point(path, gen.file)
    _fsync_dir(path.parent)


# -- the catch-up ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Relation:
    schema: str
    name: str
    sql: str
    comment: str | None

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}"

    def ident(self, catalog: str | None = None) -> str:
        head = f'"{catalog}".' if catalog else ""
        return f'{head}"{self.schema}"."{self.name}"'


def _tables(conn: Any, db: str) -> dict[str, _Relation]:
    rows = conn.execute(
        "SELECT schema_name, table_name, sql, comment FROM duckdb_tables() "
        "WHERE database_name = ? AND NOT temporary",
        [db],
    ).fetchall()
    return {f"{s}.{t}": _Relation(s, t, sql, c) for s, t, sql, c in rows}


def _views(conn: Any, db: str) -> dict[str, _Relation]:
    rows = conn.execute(
        "SELECT schema_name, view_name, sql, comment FROM duckdb_views() "
        "WHERE database_name = ? AND NOT internal AND NOT temporary",
        [db],
    ).fetchall()
    return {f"{s}.{t}": _Relation(s, t, sql, c) for s, t, sql, c in rows}


def _count(conn: Any, ident: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {ident}").fetchone()
    return int(row[0]) if row else 0


def _quote(text: str | None) -> str:
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class _ChangeSet:
    """What the runs between two versions changed: per day-managed relation, the days
    changed whole and the days where only the rows of arrived messages changed (by key
    column), and of those the days where some of them had rows before; the relations
    rewritten whole; the rows that arrived (``raw._arrivals``)."""

    days: dict[str, set[Any]]
    rows: dict[str, dict[str, set[Any]]]
    #: per relation, the row-level days with an entry not ``appended`` (rows replaced)
    replaced: dict[str, set[Any]]
    whole: set[str]
    day_tables: dict[str, str]
    arrivals: list[tuple[Any, int, int, int]]


def _has_column(conn: Any, catalog: str, table: str, column: str, schema: str = "raw") -> bool:
    row = conn.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? "
        "AND table_name = ? AND column_name = ?",
        [catalog, schema, table, column],
    ).fetchone()
    return bool(row and row[0])


def _changes(conn: Any, since: int, until: int) -> _ChangeSet:
    """The changes of versions (since, until] logged in the published file (the caller
    checked that the log still holds them: it keeps :data:`KEEP_VERSIONS`)."""
    src = f'"{_SRC}"'
    days: dict[str, set[Any]] = {}
    rows: dict[str, dict[str, set[Any]]] = {}
    replaced: dict[str, set[Any]] = {}
    whole: set[str] = set()
    # a file logged before row-level entries has no key column: every entry is a day; one
    # logged before `appended` existed replaced its rows
    key = "key_column" if _has_column(conn, _SRC, "_changes", "key_column") else "NULL"
    appended = "appended" if _has_column(conn, _SRC, "_changes", "appended") else "NULL"
    for relation, day, key_column, only_added in conn.execute(
        f"SELECT relation, day, {key}, coalesce({appended}, false) FROM {src}.raw._changes "
        "WHERE version > ? AND version <= ?",
        [since, until],
    ).fetchall():
        if day is None:
            whole.add(str(relation))
        elif key_column is None:
            days.setdefault(str(relation), set()).add(day)
        else:
            rows.setdefault(str(relation), {}).setdefault(str(key_column), set()).add(day)
            if not only_added:
                replaced.setdefault(str(relation), set()).add(day)
    day_tables = {
        str(r): str(c)
        for r, c in conn.execute(
            f"SELECT relation, day_column FROM {src}.raw._day_tables"
        ).fetchall()
    }
    arrivals: list[tuple[Any, int, int, int]] = []
    if _has_column(conn, _SRC, "_arrivals", "version"):
        arrivals = [
            (d, int(p), int(lo), int(hi))
            for d, p, lo, hi in conn.execute(
                f"SELECT DISTINCT day, bus_partition, first_offset, last_offset "
                f"FROM {src}.raw._arrivals WHERE version > ? AND version <= ?",
                [since, until],
            ).fetchall()
        ]
    return _ChangeSet(days, rows, replaced, whole, day_tables, arrivals)


def catch_up(conn: Any, published: Path) -> bool:
    """Bring the generation open on ``conn`` (read-write) up to the ``published`` file.

    One DuckDB transaction: all of it or nothing. Returns False (having changed nothing)
    when the generation cannot be caught up from the change log: the caller copies.
    """
    import duckdb

    conn.execute(f"ATTACH '{_sql_path(published)}' AS \"{_SRC}\" (READ_ONLY)")
    try:
        here = str(conn.execute("SELECT current_database()").fetchone()[0])
        mine = read_version(conn)
        theirs = read_version(conn, _SRC)
        if mine is None or theirs is None or mine > theirs or theirs - mine >= KEEP_VERSIONS:
            return False
        if mine == theirs:
            return True  # caught up already (only a completed catch-up leaves equal versions)
        changes = _changes(conn, mine, theirs)
        conn.execute("BEGIN")
        try:
            _sync(conn, here, changes)
            conn.execute("COMMIT")
        except duckdb.Error as exc:
            conn.execute("ROLLBACK")
            log.warning("catch-up of the warehouse generation failed (%s): copying instead", exc)
            return False
        except _Mismatch as exc:
            log.warning("catch-up of the warehouse generation left %s: copying instead", exc)
            return False
        return True
    finally:
        conn.execute(f'DETACH "{_SRC}"')


class _Mismatch(Exception):
    """The caught-up generation does not equal the published file (rolled back)."""


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _sync(conn: Any, here: str, changes: _ChangeSet) -> None:
    """Make ``here`` equal ``_SRC``: schemas, tables (by the change set), views."""
    src_tables, dst_tables = _tables(conn, _SRC), _tables(conn, here)
    src_views, dst_views = _views(conn, _SRC), _views(conn, here)
    if conn.execute(
        "SELECT count(*) FROM duckdb_indexes() WHERE database_name = ?", [_SRC]
    ).fetchone()[0]:
        raise _Mismatch("an index (not synchronised)")
    schemas = {
        s
        for (s,) in conn.execute(
            "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ? AND NOT internal",
            [_SRC],
        ).fetchall()
    }
    for schema in sorted(schemas):
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{here}"."{schema}"')
    for key, view in dst_views.items():
        if key not in src_views or src_views[key].sql != view.sql:
            conn.execute(f"DROP VIEW IF EXISTS {view.ident(here)}")
    for key, table in dst_tables.items():
        if key not in src_tables or src_tables[key].sql != table.sql:
            conn.execute(f"DROP TABLE {table.ident(here)}")
    conn.execute(f'USE "{here}"')
    arrived = _Arrived(conn, changes.arrivals)
    for key, table in src_tables.items():
        src_ident, dst_ident = table.ident(_SRC), table.ident(here)
        fresh = key not in dst_tables or dst_tables[key].sql != table.sql
        if fresh:
            conn.execute(table.sql)
            conn.execute(f"INSERT INTO {dst_ident} SELECT * FROM {src_ident}")
        elif key in changes.day_tables and key not in changes.whole:
            column = changes.day_tables[key]
            days = changes.days.get(key, set())
            wheres = []
            if days:
                # literal dates: DuckDB prunes row groups on them (zone maps), where a
                # list parameter or a subquery would scan the whole day column
                wheres.append(_in_days(column, sorted(days)))
            added = []  # rows that are not here yet: inserted, nothing to delete
            for key_column, row_days in sorted(changes.rows.get(key, {}).items()):
                if not row_days - days:
                    continue
                if key == "raw.events":
                    # raw rows are only ever added, each once: the arrived rows themselves,
                    # by their offsets (pruned)
                    added.append(_arrivals_where(changes.arrivals, row_days - days))
                    continue
                arrived.create()  # the rows of arrived messages on those days
                replaced = (row_days - days) & changes.replaced.get(key, set())
                only_added = row_days - days - replaced
                # rows only added, of a table holding each message's winning copy with its
                # arrival time (stg_events): bounded by that time too, so only the last row
                # groups of the day are read
                bound = (
                    arrived.time_bound()
                    if only_added
                    and _has_column(conn, _SRC, table.name, "received_at", table.schema)
                    else ""
                )
                for part, part_days, extra in ((wheres, replaced, ""), (added, only_added, bound)):
                    if part_days:
                        part.append(
                            f"({_in_days(column, sorted(part_days))} AND "
                            f'"{key_column}" IN (SELECT message_id FROM {_ARRIVED}){extra})'
                        )
            if wheres:
                where = " OR ".join(wheres)
                conn.execute(f"DELETE FROM {dst_ident} WHERE {where}")
                conn.execute(f"INSERT INTO {dst_ident} SELECT * FROM {src_ident} WHERE {where}")
            if added:
                where = " OR ".join(added)
                conn.execute(f"INSERT INTO {dst_ident} SELECT * FROM {src_ident} WHERE {where}")
        elif table.schema == "raw" and not table.name.startswith("_") and key not in changes.whole:
            pass  # a batch source's table: its loads log it when they change it
        else:
            conn.execute(f"DELETE FROM {dst_ident}")
            conn.execute(f"INSERT INTO {dst_ident} SELECT * FROM {src_ident}")
        if fresh or (dst_tables[key].comment != table.comment):
            conn.execute(f"COMMENT ON TABLE {dst_ident} IS {_quote(table.comment)}")
    _sync_views(conn, here, src_views, dst_views)
    arrived.drop()
    for key, table in src_tables.items():
        theirs, mine = _count(conn, table.ident(_SRC)), _count(conn, table.ident(here))
        if theirs != mine:
            raise _Mismatch(f"{key} with {mine:,} rows, the published file has {theirs:,}")


#: The temporary table of the messageIds that arrived in the versions caught up.
_ARRIVED = "__eventlake_arrived"


class _Arrived:
    """The messageIds of the rows that arrived in the versions being caught up, read once
    from the published ``raw.events`` (pruned on the days' literals, then on the offsets),
    when a row-level entry first needs them."""

    def __init__(self, conn: Any, arrivals: Sequence[tuple[Any, int, int, int]]) -> None:
        self.conn, self.arrivals, self.made = conn, arrivals, False
        self._bound: str | None = None

    def time_bound(self) -> str:
        """`` AND "received_at" >= <the earliest received_at of the arrived rows>``, or ""
        when a row has none: for the rows, in a table of winning copies, of messages whose
        every copy arrived in these versions (``appended``), which DuckDB prunes on (the
        models' ``arrival_time_bound``, docs/models.md)."""
        if self._bound is None:
            self.create()  # its rows carry their earliest arrival: no second read
            earliest, kind, whole = self.conn.execute(
                "SELECT CAST(min(first_at) AS VARCHAR), typeof(min(first_at)), "
                f"count(*) > 0 AND sum(untimed) = 0 FROM {_ARRIVED}"
            ).fetchone()
            bound = f' AND "received_at" >= CAST({_quote(earliest)} AS {kind})'
            self._bound = bound if whole else ""
        return self._bound

    def create(self) -> None:
        if self.made:
            return
        where = _arrivals_where(self.arrivals)  # raises _Mismatch without any arrival
        self.conn.execute(
            f"CREATE OR REPLACE TEMP TABLE {_ARRIVED} AS SELECT message_id, "
            "min(received_at) AS first_at, count(*) - count(received_at) AS untimed "
            f'FROM "{_SRC}".raw.events WHERE {where} GROUP BY message_id'
        )
        self.made = True

    def drop(self) -> None:
        if self.made:
            self.conn.execute(f"DROP TABLE IF EXISTS {_ARRIVED}")
            self.made = False


def _arrivals_where(
    arrivals: Sequence[tuple[Any, int, int, int]], days: set[Any] | None = None
) -> str:
    """The ``raw.events`` rows that arrived (of ``days`` only, if given): literal days and
    offset ranges, which DuckDB prunes row groups on. Raises _Mismatch when there are
    none: a row-level entry without its arrivals means the log is not whole."""
    by_day: dict[Any, list[str]] = {}
    for day, part, lo, hi in arrivals:
        if days is None or day in days:
            by_day.setdefault(day, []).append(
                f"(bus_partition = {part} AND bus_offset BETWEEN {lo} AND {hi})"
            )
    if not by_day or (days is not None and set(by_day) != set(days)):
        raise _Mismatch("row-level changes logged without the rows that arrived")
    return " OR ".join(
        f"(event_date = DATE '{day.isoformat()}' AND ({' OR '.join(spans)}))"
        for day, spans in sorted(by_day.items())
    )


def _in_days(column: str, days: Sequence[Any]) -> str:
    """``"column" IN (DATE '...', ...)`` for dates."""
    literals = ", ".join(f"DATE '{d.isoformat()}'" for d in days)
    return f'"{column}" IN ({literals})'


def _sync_views(
    conn: Any, here: str, src_views: dict[str, _Relation], dst_views: dict[str, _Relation]
) -> None:
    """Create the views that are missing or differ; a view over another view waits for it."""
    import duckdb

    pending = [v for k, v in src_views.items() if k not in dst_views or dst_views[k].sql != v.sql]
    for key, view in src_views.items():
        if (
            key in dst_views
            and dst_views[key].sql == view.sql
            and (dst_views[key].comment != view.comment)
        ):
            conn.execute(f"COMMENT ON VIEW {view.ident(here)} IS {_quote(view.comment)}")
    while pending:
        failed: list[_Relation] = []
        error: Exception | None = None
        for view in pending:
            try:
                conn.execute(view.sql)
            except duckdb.CatalogException as exc:  # depends on a view not created yet
                failed.append(view)
                error = exc
                continue
            if view.comment is not None:
                conn.execute(f"COMMENT ON VIEW {view.ident(here)} IS {_quote(view.comment)}")
        if len(failed) == len(pending):
            raise _Mismatch(f"views that cannot be created: {error}")
        pending = failed
