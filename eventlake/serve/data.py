"""Running read-only queries for the API: a small pool of query threads, a result cache,
encoders.

The warehouse is read through its engine's reader (``Warehouse.reader()``: DuckDB,
PostgreSQL or the Spark reader alike), which follows publishes by itself: a statement runs
on the newest published warehouse, one in flight when a build lands finishes on what it
started with. What stays here is engine-neutral:

- metric queries run on a dedicated pool of ``serve.query_workers`` threads (the engines
  release the GIL while they work): a few statements at a time beat many fighting over
  two cores, and requests beyond them wait in FIFO order;
- the warehouse's version is asked for at most every ``serve.reload_check_ms`` (a stat on
  DuckDB, a small query on PostgreSQL, a small file on Spark), off the event loop, which
  bounds how long a new publish takes to be served;
- encoded responses are kept in a small LRU keyed by the warehouse version, the catalog
  version and the canonical request, so a dashboard reload (or sixteen people opening the
  same dashboard) costs one query;
- SQL typed by users (``POST /api/query``) runs on a second, sandboxed reader
  (``warehouse.query_timeout``, ``warehouse.query_memory_mb``) on threads of its own, so
  it never takes a metric query's place.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import hashlib
import io
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from eventlake.errors import WarehouseError
from eventlake.warehouse.base import NO_VERSION, ReadResult, WarehouseReader

__all__ = [
    "CachedResponse",
    "QueryRunner",
    "ResultCache",
    "encode_csv",
    "encode_json",
    "etag_for",
]

_JSON = msgspec.json.Encoder(decimal_format="number")
_T = TypeVar("_T")


class QueryRunner:
    """Runs SQL on the published warehouse from any thread (thread-safe).

    Args:
        reader: the warehouse's reader for the API's own (generated) SQL.
        workers: threads of the pool :meth:`run_async` uses (metric and dimension queries).
        check_interval: seconds between two version checks; a publish is seen by the first
            request after at most this long (0 = every request).
        sandbox: opens the sandboxed reader of ``POST /api/query`` on first use (None: the
            endpoint is off).
    """

    def __init__(
        self,
        reader: WarehouseReader,
        *,
        workers: int = 2,
        check_interval: float = 0.1,
        sandbox: Callable[[], WarehouseReader] | None = None,
    ) -> None:
        self.reader = reader
        self.workers = max(1, workers)
        self.check_interval = max(0.0, check_interval)
        self._open_sandbox = sandbox
        self._sandbox: WarehouseReader | None = None
        self._version = NO_VERSION
        self._problem: str | None = None
        self._checked_at = -math.inf
        self._check_lock = threading.Lock()
        self._pending: asyncio.Future[str] | None = None
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._checker: ThreadPoolExecutor | None = None
        self._adhoc: ThreadPoolExecutor | None = None

    def _check(self) -> str:
        """Ask the reader for the version now (blocking); remember it and any problem."""
        with self._check_lock:
            try:
                version, problem = self.reader.version(), None
            except WarehouseError as exc:
                version, problem = NO_VERSION, str(exc)
            self._version, self._problem = version, problem
            self._checked_at = time.monotonic()
            return version

    @property
    def version(self) -> str:
        """The published warehouse's version (``"none"`` without one, or when it cannot be
        reached: see :attr:`problem`), asked for at most every ``check_interval`` seconds.
        Blocks while it asks: on the event loop, await :meth:`current_version`."""
        if time.monotonic() - self._checked_at >= self.check_interval:
            return self._check()
        return self._version

    async def current_version(self) -> str:
        """:attr:`version` without blocking the event loop: a due check runs on a thread of
        its own (never behind slow queries); concurrent requests share one check."""
        if time.monotonic() - self._checked_at < self.check_interval:
            return self._version
        pending = self._pending
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = asyncio.ensure_future(
                loop.run_in_executor(self._pool("checker"), self._check)
            )
            self._pending = pending
            pending.add_done_callback(self._checked)
        return await asyncio.shield(pending)

    def _checked(self, done: asyncio.Future[str]) -> None:
        if self._pending is done:
            self._pending = None

    @property
    def problem(self) -> str | None:
        """Why the last version check found no warehouse, if it could not reach it."""
        return self._problem

    def run(
        self, sql: str, params: Sequence[Any] = (), *, max_rows: int | None = None
    ) -> ReadResult:
        """Execute one statement of the API on the reader (at most ``max_rows`` rows).

        Raises:
            WarehouseError: and its neutral subclasses (``eventlake.errors``): nothing
                published, a table the catalog names is missing, a limit, the engine down.
        """
        return self.reader.execute(sql, params, limit=max_rows)

    def sandbox(self) -> WarehouseReader:
        """The sandboxed reader for SQL typed by users (opened on first use).

        Raises:
            WarehouseError: the endpoint is off (no sandbox given).
        """
        with self._lock:
            if self._sandbox is None:
                if self._open_sandbox is None:
                    raise WarehouseError("no sandboxed reader: POST /api/query is disabled")
                self._sandbox = self._open_sandbox()
            return self._sandbox

    def _pool(self, which: str) -> ThreadPoolExecutor:
        with self._lock:
            if which == "checker":
                if self._checker is None:
                    self._checker = ThreadPoolExecutor(1, "eventlake-version")
                return self._checker
            if which == "adhoc":
                if self._adhoc is None:
                    self._adhoc = ThreadPoolExecutor(self.workers, "eventlake-adhoc")
                return self._adhoc
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, "eventlake-query")
            return self._executor

    async def run_async(self, fn: Callable[..., _T], /, *args: Any) -> _T:
        """``fn(*args)`` on the query pool; requests beyond ``workers`` wait their turn."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool("query"), functools.partial(fn, *args))

    async def run_adhoc(self, fn: Callable[..., _T], /, *args: Any) -> _T:
        """``fn(*args)`` on the threads of users' SQL (as many as ``workers``), apart from
        the metric queries' pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool("adhoc"), functools.partial(fn, *args))

    def close(self) -> None:
        with self._lock:
            pools = [self._executor, self._adhoc, self._checker]
            self._executor = self._adhoc = self._checker = None
            sandbox, self._sandbox = self._sandbox, None
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self.reader.close()
        if sandbox is not None:
            sandbox.close()


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
