"""DuckDB's read side: a sandboxed read-only connection and the reader built on it.

Used by the DuckDB warehouse (the published file) and by the Spark reader (a small file of
views over the Parquet files Spark wrote). Private: the public names are re-exported by
``warehouse/duckdb.py``.

Every reader has its own in-memory DuckDB instance in which the warehouse file is ATTACHed
``READ_ONLY`` (so its settings never leak into another connection of the process, which
DuckDB would share an instance with), with file access off, Python replacement scans off,
nothing spilled to disk, dates in UTC, and the configuration locked. A publish replaces the
file: the next statement opens the new one, and the old instance is closed once the
statements running on it have finished, so no request ever fails because of a publish. The
DuckDB warehouse's name is a symlink to its published generation
(``_duckdb_generations.py``): the reader opens the symlink's target, retries when a writer
took that file between the symlink's read and the open, and lets go of a superseded
generation within :data:`RELEASE_SECONDS` even when no statement comes (the next run
writes that file, which DuckDB refuses while a reader holds it).
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eventlake.errors import (
    QueryError,
    QueryMemoryError,
    QueryRefusedError,
    QueryTimeoutError,
    SchemaMismatchError,
    WarehouseError,
    WarehouseMissingError,
)
from eventlake.warehouse._duckdb_generations import is_lock_conflict, published_file
from eventlake.warehouse.base import NO_VERSION, ReaderOptions, ReadResult

__all__ = ["RELEASE_SECONDS", "DuckDBReader", "connect_sandboxed", "file_version"]

#: How soon an idle reader closes a generation that is no longer the published one.
RELEASE_SECONDS = 0.5
#: Opens retried when a writer holds the file the symlink named a moment before.
_OPEN_ATTEMPTS = 40


def connect_sandboxed(
    path: Path,
    *,
    allowed_directories: Sequence[Path] = (),
    settings: Mapping[str, Any] | None = None,
) -> Any:
    """Open ``path`` read-only in a private DuckDB instance with file access disabled.

    The warehouse is ATTACHed ``READ_ONLY`` to a fresh in-memory database and made the
    default catalog; ``settings`` (``threads``, ``memory_limit``...) are applied, then
    ``enable_external_access`` is turned off and the configuration locked.
    ``allowed_directories`` stay readable (views over lake files).

    Raises:
        WarehouseMissingError: ``path`` does not exist (nothing published yet).
        WarehouseError: it cannot be opened.
    """
    import duckdb

    path = Path(path)
    conn = duckdb.connect(":memory:")
    try:
        alias = path.stem.replace('"', "")
        for attempt in range(_OPEN_ATTEMPTS):
            target = published_file(path)
            if target is None:
                raise WarehouseMissingError(
                    f"warehouse {path} does not exist yet: run `eventlake build` "
                    "(or `eventlake run`)"
                )
            try:
                conn.execute(f'ATTACH ? AS "{alias}" (READ_ONLY)', [str(target)])
                break
            except duckdb.Error as exc:
                if not is_lock_conflict(exc) or attempt == _OPEN_ATTEMPTS - 1:
                    raise
                time.sleep(0.05)
        conn.execute(f'USE "{alias}"')
        if allowed_directories:
            dirs = [str(d).rstrip("/") + "/" for d in allowed_directories]
            conn.execute("SET allowed_directories = ?", [dirs])
        # GLOBAL: cursors are connections of their own, which do not inherit a session's
        # settings (a cursor would resolve unknown tables to Python variables again).
        # Nothing is written next to the process (an in-memory instance spills to ./.tmp).
        conn.execute("SET GLOBAL temp_directory = ''")
        conn.execute("SET GLOBAL python_enable_replacements = false")
        for name, value in (settings or {}).items():
            try:
                conn.execute(f"SET GLOBAL {name} = ?", [value])
            except duckdb.Error:
                if name != "disabled_optimizers":  # an engine without that optimizer
                    raise
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
    except duckdb.Error as exc:
        conn.close()
        raise WarehouseError(f"cannot open warehouse {path} read-only: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def file_version(path: Path) -> str:
    """A published file's version: its inode, mtime and size (NO_VERSION when missing)."""
    ident = _identity(path)
    return NO_VERSION if ident is None else "-".join(str(x) for x in ident)


class _Watchdog:
    """Interrupts statements past their deadline: one thread per reader, not one per
    statement (a ``threading.Timer`` costs a thread start on every query)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._cursors: dict[int, Any] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, cursor: Any, seconds: float) -> int:
        import time

        token = next(self._ids)
        with self._cond:
            self._cursors[token] = cursor
            heapq.heappush(self._heap, (time.monotonic() + seconds, token))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="eventlake-query-timeout", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return token

    def done(self, token: int) -> None:
        with self._cond:
            self._cursors.pop(token, None)

    def _run(self) -> None:
        import time

        with self._cond:
            while not self._closed:
                while self._heap and self._heap[0][1] not in self._cursors:
                    heapq.heappop(self._heap)  # finished in time
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, token = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                cursor = self._cursors.pop(token, None)
                if cursor is not None:
                    cursor.interrupt()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()


class _Generation:
    """One opened version of the published file, its per-thread cursors and the statements
    running on it."""

    def __init__(self, conn: Any, identity: tuple[int, int, int] | None) -> None:
        self.conn = conn
        self.identity = identity
        self.catalog = str(conn.execute("SELECT current_database()").fetchall()[0][0])
        self.cursors: dict[int, Any] = {}
        self.users = 0
        self.retired = False

    def cursor(self) -> Any:
        """This thread's cursor (a cursor does not inherit the connection's ``USE``)."""
        ident = threading.get_ident()
        cursor = self.cursors.get(ident)
        if cursor is None:
            cursor = self.conn.cursor()
            cursor.execute(f'USE "{self.catalog}"')
            self.cursors[ident] = cursor
        return cursor

    def close(self) -> None:
        for cursor in self.cursors.values():
            cursor.close()
        self.conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# Statements serve generates start like this and hold no ';': no parse needed to know they
# are one query (DuckDB's parser costs ~0.1 ms, a tenth of a small metric query).
_PLAIN_QUERY = ("select ", "with ", "from ")


def _check_one_query(sql: str) -> None:
    """Refuse, before running it, anything but one query (a clear error, not DuckDB's)."""
    import duckdb

    head = sql.lstrip()[:7].lower()
    if ";" not in sql and head.startswith(_PLAIN_QUERY):
        return
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error:
        return  # the statement's own parse error is clearer: let execute() raise it
    if len(statements) != 1:
        raise QueryRefusedError(
            f"{len(statements)} statements given: the reader runs one read-only query"
        )
    kind = statements[0].type.name
    if kind not in ("SELECT", "PRAGMA"):
        raise QueryRefusedError(
            f"{kind} refused: the DuckDB warehouse is read-only here (one SELECT at a time)"
        )


def error_from_duckdb(exc: Exception, *, timeout: float, memory_mb: int | None) -> WarehouseError:
    """The neutral error (``eventlake.errors``) for a DuckDB exception of a read."""
    import duckdb

    first = _first_line(exc)
    text = str(exc)
    if isinstance(exc, duckdb.InterruptException):
        return QueryTimeoutError(f"query cancelled after the {timeout:g} s time limit")
    if isinstance(exc, duckdb.OutOfMemoryException):
        limit = f" of {memory_mb} MB" if memory_mb else ""
        return QueryMemoryError(f"query needs more than the memory limit{limit}: {first}")
    if isinstance(exc, duckdb.PermissionException) or "configuration has been locked" in text:
        return QueryRefusedError(f"refused: the query reaches outside the warehouse: {first}")
    if "read-only" in text or "read only" in text:
        return QueryRefusedError(f"the DuckDB warehouse is read here: {first}")
    if isinstance(exc, duckdb.CatalogException) or (
        # the binder also enforces the expression depth limit: the query's own fault
        isinstance(exc, duckdb.BinderException) and "depth" not in text
    ):
        return SchemaMismatchError(f"query does not match the warehouse: {first}")
    if isinstance(exc, duckdb.IOException):
        # a Parquet file behind a view vanished (a Spark build rewriting the table)
        return WarehouseError(f"the warehouse cannot be read right now: {first}")
    return QueryError(f"query failed on DuckDB: {first}")


def reader_settings(options: ReaderOptions) -> dict[str, Any]:
    """DuckDB settings of a reader's private instance."""
    settings: dict[str, Any] = {"TimeZone": "UTC"}
    if options.threads:
        settings["threads"] = int(options.threads)
    if options.memory_mb:
        settings["memory_limit"] = f"{int(options.memory_mb)}MB"
    # Compressing columns before a sort or an aggregate saves memory on big inputs and
    # costs ~8% of every small metric query's CPU; results are identical.
    settings["disabled_optimizers"] = "compressed_materialization"
    # Views over Parquet files (the Spark reader's tables, batch-source views) would read
    # every file's footer again on every query; cached entries are checked against the
    # file's modification time.
    settings["parquet_metadata_cache"] = True
    return settings


class DuckDBReader:
    """Read-only statements on the newest published DuckDB file; thread-safe.

    Each thread gets its own cursor on the reader's private instance (see
    :func:`connect_sandboxed`). When a new build is published the next statement opens the
    new file; the old one is closed once the statements running on it finished. A
    statement past ``timeout`` seconds is interrupted.
    """

    engine = "duckdb"

    def __init__(
        self,
        path: Path,
        *,
        read_dirs: Sequence[Path] = (),
        timeout: float = 30.0,
        options: ReaderOptions | None = None,
    ) -> None:
        self.path = Path(path)
        self.read_dirs = tuple(read_dirs)
        self.options = options or ReaderOptions()
        self.timeout = self.options.timeout if self.options.timeout is not None else timeout
        self._settings = reader_settings(self.options)
        self._lock = threading.Lock()
        self._current: _Generation | None = None
        self._watchdog = _Watchdog()
        self._closed = threading.Event()
        self._releaser: threading.Thread | None = None

    def version(self) -> str:
        return file_version(self.path)

    def _acquire(self) -> tuple[_Generation, Any]:
        with self._lock:
            ident = _identity(self.path)
            gen = self._current
            if gen is None or gen.identity != ident:
                conn = connect_sandboxed(
                    self.path, allowed_directories=self.read_dirs, settings=self._settings
                )
                if gen is not None:
                    gen.retired = True
                    if gen.users == 0:
                        gen.close()
                gen = self._current = _Generation(conn, ident)
                if self._releaser is None:
                    self._releaser = threading.Thread(
                        target=self._release_superseded,
                        name="eventlake-reader-release",
                        daemon=True,
                    )
                    self._releaser.start()
            gen.users += 1
            return gen, gen.cursor()

    def _release_superseded(self) -> None:
        """Close the open generation once a publish superseded it and no statement runs
        on it, so that the writer may reuse its file."""
        while not self._closed.wait(RELEASE_SECONDS):
            with self._lock:
                gen = self._current
                if gen is None or gen.users or _identity(self.path) == gen.identity:
                    continue
                self._current = None
                gen.retired = True
                gen.close()

    def _release(self, gen: _Generation) -> None:
        with self._lock:
            gen.users -= 1
            if gen.retired and gen.users == 0:
                gen.close()

    def execute(
        self, sql: str, params: Sequence[Any] = (), *, limit: int | None = None
    ) -> ReadResult:
        import duckdb

        _check_one_query(sql)
        gen, cursor = self._acquire()
        try:
            token = self._watchdog.watch(cursor, self.timeout) if self.timeout else None
            try:
                cursor.execute(sql, list(params))
                description = cursor.description or []
                rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit + 1)
            except duckdb.Error as exc:
                raise error_from_duckdb(
                    exc, timeout=self.timeout, memory_mb=self.options.memory_mb
                ) from exc
            finally:
                if token is not None:
                    self._watchdog.done(token)
                if limit is not None:
                    _discard_pending(cursor)
        finally:
            self._release(gen)
        truncated = limit is not None and len(rows) > limit
        rows = rows[:limit] if truncated else rows
        columns = [d[0] for d in description]
        types = [str(d[1]) for d in description]
        return ReadResult(columns, types, [tuple(r) for r in rows], truncated)

    def close(self) -> None:
        self._watchdog.close()
        self._closed.set()
        with self._lock:
            gen, self._current = self._current, None
            if gen is not None:
                gen.retired = True
                if gen.users == 0:
                    gen.close()


def _discard_pending(cursor: Any) -> None:
    """Drop the unread rest of a result, so the cursor holds no memory until its next use."""
    import duckdb

    try:
        cursor.execute("SELECT 1")
    except duckdb.Error:
        pass
