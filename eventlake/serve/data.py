"""Running read-only queries for the API: a small pool of query threads, a result cache,
encoders.

Metric queries run on a dedicated pool of ``serve.query_workers`` threads (DuckDB releases the
GIL while it works), each with its own cursor on the newest published warehouse
(``ReadOnlyWarehouse``), taking a new one when the warehouse ``version`` changes; a cursor
closed under it by a reopen in another thread is retried once. A few workers running
single-threaded DuckDB queries (``serve.duckdb_threads``) beat many queries fighting over two
cores: fewer context switches and no per-query parallelism overhead on small metric tables.
The warehouse file is stat()ed at most every ``serve.reload_check_ms``, which bounds how long
a new publish takes to be served. Encoded responses are kept in a small LRU keyed by the
warehouse version, the catalog version and the canonical request, so a dashboard reload (or
sixteen people opening the same dashboard) costs one query.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import hashlib
import io
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from eventlake.warehouse.duckdb import ReadOnlyWarehouse

__all__ = [
    "CachedResponse",
    "QueryResult",
    "QueryRunner",
    "ResultCache",
    "encode_csv",
    "encode_json",
    "etag_for",
]

_JSON = msgspec.json.Encoder(decimal_format="number")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Column names and rows of one query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


class _ReadWriteLock:
    """Many readers or one writer; a waiting writer goes before new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class QueryRunner:
    """Runs SQL on the published warehouse from any thread (thread-safe).

    DuckDB keeps one database instance per path and process, so following a publish means
    closing the old connection before opening the new file, which must not happen under a
    query still running on it. Queries therefore hold a shared lock; the reopen (and the
    creation of cursors, which may trigger it) holds it exclusively.

    Args:
        path: the published warehouse file.
        workers: threads of the pool :meth:`run_async` uses (metric and dimension queries).
        duckdb_threads: DuckDB's ``threads`` setting for this process's read-only instance
            (0 leaves DuckDB's default, one per core).
        check_interval: seconds between two stat() calls on the warehouse file; a publish is
            seen by the first request after at most this long (0 = every request).
    """

    def __init__(
        self,
        path: Path,
        *,
        workers: int = 2,
        duckdb_threads: int = 1,
        check_interval: float = 0.1,
    ) -> None:
        self.warehouse = ReadOnlyWarehouse(path)
        self._path = os.fspath(path)
        self.workers = max(1, workers)
        self.duckdb_threads = max(0, duckdb_threads)
        self.check_interval = max(0.0, check_interval)
        # thread id -> (generation, cursor). Not threading.local: cursors must be closed by
        # close() (at shutdown), not destroyed with their thread during interpreter exit.
        self._cursors: dict[int, tuple[int, Any]] = {}
        self._rw = _ReadWriteLock()
        self._generation = 0
        self._version: str | None = None
        self._seen: tuple[int, int, int] | None = None
        self._seen_version = "none"
        self._checked_at = -math.inf
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    @property
    def version(self) -> str:
        """The published warehouse's version ("none" without one), re-checked at most every
        ``check_interval`` seconds."""
        now = time.monotonic()
        if now - self._checked_at >= self.check_interval:
            try:
                st = os.stat(self._path)
                ident: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                ident = None
            if ident != self._seen:
                self._seen_version = "none" if ident is None else "-".join(map(str, ident))
                self._seen = ident
            self._checked_at = now
        return self._seen_version

    def _fresh_cursor(self, version: str) -> Any:
        with self._rw.write():
            if version != self._version:
                self._generation += 1
                self._version = version
            cur = self.warehouse.cursor()  # reopens if the file was replaced
            self._tune(cur)
            self._cursors[threading.get_ident()] = (self._generation, cur)
            return cur

    def _tune(self, cur: Any) -> None:
        """Settings of the process-local, read-only database instance (idempotent; re-applied
        after a reopen, which makes a new instance)."""
        import duckdb

        if self.duckdb_threads:
            cur.execute(f"SET threads = {int(self.duckdb_threads)}")
        try:
            # Compressing columns before a sort or an aggregate saves memory on big inputs
            # and costs ~8% of every small metric query's CPU; results are identical.
            cur.execute("SET disabled_optimizers = 'compressed_materialization'")
        except duckdb.Error:  # an engine without that optimizer: nothing to turn off
            pass

    def _mine(self) -> Any:
        entry = self._cursors.get(threading.get_ident())
        return entry[1] if entry is not None and entry[0] == self._generation else None

    @contextmanager
    def session(self) -> Iterator[Any]:
        """This thread's cursor on the newest published warehouse, safe to use inside.

        Raises:
            WarehouseError: no warehouse file yet, or it cannot be opened.
        """
        version = self.version
        if version != self._version or self._mine() is None:
            self._fresh_cursor(version)
        with self._rw.read():
            cur = self._mine()  # None if another thread reopened in between
            if cur is not None:
                yield cur
                return
        cur = self._fresh_cursor(self.version)
        with self._rw.read():
            yield cur

    def run(
        self, sql: str, params: Sequence[Any] = (), *, max_rows: int | None = None
    ) -> QueryResult:
        """Execute one statement and fetch its rows (at most ``max_rows`` when given).

        Raises:
            WarehouseError: no warehouse file yet, or it cannot be opened.
            duckdb.Error: the statement failed (the caller maps it to an HTTP status).
        """
        with self.session() as cur:
            cur.execute(sql, list(params))
            columns = [d[0] for d in cur.description or []]
            rows = cur.fetchall() if max_rows is None else cur.fetchmany(max_rows)
            return QueryResult(columns, rows)

    def _pool(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.workers, thread_name_prefix="eventlake-query"
                )
            return self._executor

    async def run_async(self, fn: Callable[..., _T], /, *args: Any) -> _T:
        """``fn(*args)`` on the query pool; requests beyond ``workers`` wait their turn."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), functools.partial(fn, *args))

    def close(self) -> None:
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        with self._rw.write():
            for _gen, cur in self._cursors.values():
                cur.close()
            self._cursors.clear()
            self.warehouse.close()
            self._generation += 1
            self._version = None


def encode_json(payload: Any) -> bytes:
    """JSON bytes; dates as ISO strings, decimals as numbers, NaN as null."""
    return _JSON.encode(payload)


def encode_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """CSV with a header row; NULL as an empty field; RFC 4180 quoting."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue().encode("utf-8")


def etag_for(*parts: str) -> str:
    """A strong ETag over the given parts."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=12).hexdigest()
    return f'"{digest}"'


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """An encoded response body and its ETag, computed once per (warehouse, catalog, request)."""

    etag: str
    body: bytes


class ResultCache:
    """An LRU of encoded responses bounded by entries and bytes (thread-safe).

    ``hits`` and ``misses`` count lookups (exported on /metrics); with ``max_entries`` 0 the
    cache is off and every lookup misses.
    """

    def __init__(self, max_entries: int, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, CachedResponse] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> CachedResponse | None:
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                self.misses += 1
            else:
                self.hits += 1
                self._items.move_to_end(key)
            return entry

    def put(self, key: str, entry: CachedResponse) -> None:
        if self.max_entries <= 0 or len(entry.body) > self.max_bytes // 4:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._items[key] = entry
            self._bytes += len(entry.body)
            while self._items and (
                len(self._items) > self.max_entries or self._bytes > self.max_bytes
            ):
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped.body)

    def __len__(self) -> int:
        return len(self._items)
