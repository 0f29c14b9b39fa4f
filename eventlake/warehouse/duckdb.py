"""The DuckDB warehouse (``warehouse.backend = "duckdb"``, the embedded default).

``warehouse.path`` is what every reader opens: a symbolic link to the published one of two
generation files (``<path>.g0``, ``<path>.g1``; ``_duckdb_generations.py``), a plain
DuckDB file for any DuckDB client. DuckDB lets one process write a database file or many
read it, never both; the API and the dashboard keep reading while builds and loads run.
So the published file is never written in place:

- **write transaction** (:func:`write_transaction`): an exclusive lock file beside the
  database; the *other* generation is brought up to date with the published one by
  copying only what the runs since it changed (the change log ``raw._changes``), or by a
  whole copy when that cannot be trusted; the run's changes (raw load, dbt build) go to it
  through the stable path ``<name>.next``; then the symlink is replaced (atomic
  ``rename``). A body that raises publishes nothing: the symlink still names the last good
  generation, and the next run sees the failed run's lake commits as new again. dbt-duckdb
  keeps one process-wide connection to the working file, which
  :meth:`DuckDBDbtTarget.after_build` closes before the publish (a connection still open
  would publish a torn database: the publish refuses while a ``.wal`` is left);
- **readers** (:class:`DuckDBReader`, ``_duckdb_reader.py``) attach the published file
  read-only to a private, sandboxed in-memory instance and reopen it when its identity
  (inode, mtime, size) changes; a statement that started on the old file finishes on it,
  and an idle reader lets go of a superseded generation within half a second so that the
  next run can write it;
- the raw layer runs in one DuckDB transaction on the working generation
  (``_duckdb_raw.py``), and so does each load of a batch source's commits
  (``_duckdb_sources.py``); each logs what it changed for the next catch-up.

``duckdb`` is imported inside the functions: importing this module imports no engine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from eventlake.config import WarehouseConfig
from eventlake.errors import WarehouseError
from eventlake.fsutil import flock_exclusive
from eventlake.lake import Lake
from eventlake.warehouse._duckdb_generations import (
    is_lock_conflict,
    prepare_generation,
    publish_generation,
    published_file,
)
from eventlake.warehouse._duckdb_reader import DuckDBReader, connect_sandboxed
from eventlake.warehouse.base import (
    ColumnTypes,
    ReaderOptions,
    WarehouseCounts,
    failed_rows_sql,
    rows_text,
)
from eventlake.warehouse.raw import RawLoadResult, load_raw
from eventlake.warehouse.source_tables import SourceLoad, SourceLoadResult

__all__ = [
    "DuckDBDbtTarget",
    "DuckDBReader",
    "DuckDBTransaction",
    "DuckDBWarehouse",
    "connect_read_only",
    "connect_sandboxed",
    "write_transaction",
]


def connect_read_only(path: Path, *, attempts: int = 40) -> Any:
    """Open the published warehouse read-only (raises WarehouseError if it does not exist).

    ``path`` is the warehouse's name (a symlink to the published generation); a generation
    a writer grabbed between the symlink's read and the open is retried on the new one.
    """
    import duckdb

    for attempt in range(attempts):
        target = published_file(Path(path))
        if target is None:
            raise WarehouseError(
                f"warehouse {path} does not exist yet: run `eventlake build` (or `eventlake demo`)"
            )
        try:
            return duckdb.connect(str(target), read_only=True)
        except duckdb.Error as exc:
            if not is_lock_conflict(exc) or attempt == attempts - 1:
                raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
            time.sleep(0.05)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def write_transaction(path: Path, *, timeout: float = 600.0, threads: int = 1) -> Iterator[Path]:
    """Yield the working generation of the warehouse (``<path>.next``); publish it
    atomically on success.

    Exclusive across processes (a lock file beside the database). If the body raises,
    nothing is published: ``path`` keeps naming the last good generation.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a+") as lock:
        if not flock_exclusive(lock.fileno(), timeout):
            raise WarehouseError(
                f"warehouse {path} is locked by another writer for over {timeout:.0f} s"
            )
        try:
            gen = prepare_generation(path, threads)
            yield gen.work
            publish_generation(path, gen)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


_COLUMN_TYPES_SQL = (
    "select table_schema, table_name, column_name, data_type "
    "from information_schema.columns order by ordinal_position"
)


def _column_types(con: Any) -> ColumnTypes:
    out: ColumnTypes = {}
    for schema, table, column, dtype in con.execute(_COLUMN_TYPES_SQL).fetchall():
        out.setdefault((str(schema), str(table)), {})[str(column)] = str(dtype).lower()
    return out


def _models_built(path: Path) -> bool:
    """Whether the file holds built models: a table outside ``raw`` and ``main``."""
    if not path.exists():
        return False
    conn = connect_read_only(path)
    try:
        row = conn.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name NOT IN ('raw', 'main')"
        ).fetchall()[0]
    finally:
        conn.close()
    return bool(row and row[0])


@contextlib.contextmanager
def _dbt_connection() -> Iterator[Any]:
    """dbt-duckdb's process-wide open connection (None when it has none)."""
    manager = _dbt_connection_manager()
    if manager is None:
        yield None
        return
    with manager._LOCK:
        env = manager._ENV
        yield None if env is None else getattr(env, "conn", None)


def _dbt_connection_manager() -> Any:
    """dbt-duckdb's connection manager class, if dbt-duckdb was imported (else None: no
    build ran in this process, so there is no connection to close, and no reason to pay
    for importing dbt)."""
    module = sys.modules.get("dbt.adapters.duckdb.connections")
    return None if module is None else module.DuckDBConnectionManager


class DuckDBDbtTarget:
    """dbt-duckdb building in the working copy of a write transaction.

    The catalog's column types and a failed test's rows are read on dbt-duckdb's still-open
    connection (no second open of the file), which :meth:`after_build` then closes so the
    copy can be published.
    """

    name = "duckdb"

    def __init__(self, work: Path, threads: int) -> None:
        self.work = Path(work)
        self.threads = max(1, threads)

    def profile_output(self) -> dict[str, Any]:
        return {
            "type": "duckdb",
            # absolute, not resolved: the stable name of the working generation keeps
            # the profile, hence dbt's partial parse, the same from run to run
            "path": str(self.work.absolute()),
            "schema": "main",
            "threads": self.threads,
            # Dates of timestamptz values must not depend on the machine's time zone.
            "settings": {"TimeZone": "UTC"},
        }

    def before_build(self) -> None:
        """Nothing to prepare: dbt-duckdb opens the file itself."""

    def failure_samples(self, tests: Mapping[str, str], rows: int) -> dict[str, str]:
        import duckdb

        out: dict[str, str] = {}
        with _dbt_connection() as conn:
            if conn is None:
                return out
            cursor = conn.cursor()
            try:
                for unique_id, sql in tests.items():
                    try:
                        cursor.execute(failed_rows_sql(sql, rows))
                        names = [d[0] for d in cursor.description]
                        out[unique_id] = rows_text(names, cursor.fetchall())
                    except duckdb.Error:
                        continue
            finally:
                cursor.close()
        return out

    def column_types(self) -> ColumnTypes:
        import duckdb

        with _dbt_connection() as conn:
            if conn is not None:
                cursor = conn.cursor()
                try:
                    return _column_types(cursor)
                except duckdb.Error:
                    pass  # read again from the file once dbt's connection is closed
                finally:
                    cursor.close()
        self.after_build()
        con = duckdb.connect(str(self.work), read_only=True)
        try:
            return _column_types(con)
        finally:
            con.close()

    def after_build(self) -> None:
        manager = _dbt_connection_manager()
        if manager is None:
            return
        with manager._LOCK:
            env = manager._ENV
            if env is not None:
                try:
                    env.close()
                finally:
                    manager._ENV = None


class DuckDBTransaction:
    """The changes of one run, made on the private working copy ``work``."""

    def __init__(self, work: Path, threads: int) -> None:
        self.work = Path(work)
        self.threads = max(1, threads)

    def models_built(self) -> bool:
        return _models_built(self.work)

    def load_raw(self, lake: Lake, *, reload_days: Iterable[dt.date] = ()) -> RawLoadResult:
        import duckdb

        from eventlake.warehouse._duckdb_raw import DuckRawBackend

        try:
            conn = duckdb.connect(str(self.work), config={"threads": self.threads})
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open warehouse {self.work} for loading: {exc}") from exc
        backend = DuckRawBackend(conn)
        try:
            return load_raw(backend, lake, reload_days=reload_days)
        finally:
            backend.close()

    def load_source(self, lake: Lake, load: SourceLoad) -> SourceLoadResult:
        import duckdb

        from eventlake.warehouse._duckdb_sources import load_source

        try:
            conn = duckdb.connect(str(self.work), config={"threads": self.threads})
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open warehouse {self.work} for loading: {exc}") from exc
        try:
            return load_source(conn, lake, load)
        finally:
            conn.close()

    def dbt_target(self) -> DuckDBDbtTarget:
        return DuckDBDbtTarget(self.work, self.threads)


class DuckDBWarehouse:
    """The DuckDB warehouse file ``config.path`` (absolute)."""

    engine = "duckdb"

    def __init__(
        self,
        config: WarehouseConfig,
        *,
        read_dirs: Sequence[Path] = (),
        read_timeout: float = 30.0,
    ) -> None:
        self.path = Path(config.path)
        self.threads = max(1, config.threads)
        self.read_dirs = tuple(read_dirs)
        self.read_timeout = read_timeout

    @contextlib.contextmanager
    def transaction(self) -> Iterator[DuckDBTransaction]:
        with write_transaction(self.path, threads=self.threads) as work:
            tx = DuckDBTransaction(work, self.threads)
            try:
                yield tx
            finally:
                # whatever the body did, dbt-duckdb must not keep the copy open
                tx.dbt_target().after_build()

    def models_built(self) -> bool:
        return _models_built(self.path)

    def counts(self) -> WarehouseCounts:
        if not self.path.exists():
            return WarehouseCounts()
        conn = connect_read_only(self.path)
        try:
            return _counts(conn)
        finally:
            conn.close()

    def source_commits(self) -> Mapping[str, frozenset[str]]:
        from eventlake.warehouse.source_tables import (
            SOURCE_COMMITS_QUERY,
            SOURCE_COMMITS_TABLE,
            source_commits_from_rows,
        )

        if not self.path.exists():
            return {}
        conn = connect_read_only(self.path)
        try:
            found = conn.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name = ?",
                [SOURCE_COMMITS_TABLE],
            ).fetchall()[0][0]
            if not found:
                return {}
            return source_commits_from_rows(conn.execute(SOURCE_COMMITS_QUERY).fetchall())
        finally:
            conn.close()

    def column_types(self) -> ColumnTypes:
        conn = connect_read_only(self.path)
        try:
            return _column_types(conn)
        finally:
            conn.close()

    def reader(self, options: ReaderOptions | None = None) -> DuckDBReader:
        return DuckDBReader(
            self.path, read_dirs=self.read_dirs, timeout=self.read_timeout, options=options
        )

    def close(self) -> None:
        """Nothing is held between calls."""


def _counts(conn: Any) -> WarehouseCounts:
    tables = {
        (s, t)
        for s, t in conn.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() UNION ALL "
            "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
    }
    loaded: dict[str, set[str]] = {}
    lake_rows: dict[str, int] = {}
    raw_events = distinct = 0
    newest = modeled = None
    if ("raw", "_loaded_commits") in tables:
        for stream, cid in conn.execute(
            "SELECT stream, commit_id FROM raw._loaded_commits"
        ).fetchall():
            loaded.setdefault(stream, set()).add(cid)
        for table, rows in conn.execute(
            "SELECT raw_table, sum(rows) FROM raw._lake_files GROUP BY raw_table"
        ).fetchall():
            lake_rows[str(table)] = int(rows or 0)
    if ("raw", "events") in tables:
        total, distinct, newest = conn.execute(
            "SELECT count(*), count(DISTINCT message_id), max(received_at) FROM raw.events"
        ).fetchall()[0]
        raw_events = int(total)
    stg = [s for (s, t) in tables if t == "stg_events"]
    if stg:
        row = conn.execute(f'SELECT count(*) FROM "{stg[0]}".stg_events').fetchall()[0]
        modeled = int(row[0]) if row else 0
    return WarehouseCounts(
        loaded_commits={s: frozenset(ids) for s, ids in loaded.items()},
        lake_rows=lake_rows,
        raw_events=raw_events,
        distinct_events=int(distinct),
        modeled=modeled,
        newest_received_at=newest,
    )
