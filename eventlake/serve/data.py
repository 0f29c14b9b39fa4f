"""Running read-only queries for the API: per-thread cursors, a result cache, encoders.

Queries run in Starlette's threadpool (DuckDB releases the GIL while it works). Each worker
thread keeps its own cursor on the newest published warehouse (``ReadOnlyWarehouse``) and
takes a new one when the warehouse ``version`` changes; a cursor closed under it by a reopen
in another thread is retried once. Encoded responses are kept in a small LRU keyed by the
warehouse version, the catalog version and the canonical request, so a dashboard reload (or
sixteen people opening the same dashboard) costs one query.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from eventlake.warehouse.duck import ReadOnlyWarehouse

__all__ = ["QueryResult", "QueryRunner", "ResultCache", "encode_csv", "encode_json", "etag_for"]

_JSON = msgspec.json.Encoder(decimal_format="number")


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
    """

    def __init__(self, path: Path) -> None:
        self.warehouse = ReadOnlyWarehouse(path)
        # thread id -> (generation, cursor). Not threading.local: cursors must be closed by
        # close() (at shutdown), not destroyed with their thread during interpreter exit.
        self._cursors: dict[int, tuple[int, Any]] = {}
        self._rw = _ReadWriteLock()
        self._generation = 0
        self._version: str | None = None

    @property
    def version(self) -> str:
        return self.warehouse.version

    def _fresh_cursor(self, version: str) -> Any:
        with self._rw.write():
            if version != self._version:
                self._generation += 1
                self._version = version
            cur = self.warehouse.cursor()  # reopens if the file was replaced
            self._cursors[threading.get_ident()] = (self._generation, cur)
            return cur

    def _mine(self) -> Any:
        entry = self._cursors.get(threading.get_ident())
        return entry[1] if entry is not None and entry[0] == self._generation else None

    @contextmanager
    def session(self) -> Iterator[Any]:
        """This thread's cursor on the newest published warehouse, safe to use inside.

        Raises:
            WarehouseError: no warehouse file yet, or it cannot be opened.
        """
        version = self.warehouse.version
        if version != self._version or self._mine() is None:
            self._fresh_cursor(version)
        with self._rw.read():
            cur = self._mine()  # None if another thread reopened in between
            if cur is not None:
                yield cur
                return
        cur = self._fresh_cursor(self.warehouse.version)
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

    def close(self) -> None:
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


class ResultCache:
    """An LRU of encoded responses bounded by entries and bytes (thread-safe)."""

    def __init__(self, max_entries: int, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: str, body: bytes) -> None:
        if self.max_entries <= 0 or len(body) > self.max_bytes // 4:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[key] = body
            self._bytes += len(body)
            while self._items and (
                len(self._items) > self.max_entries or self._bytes > self.max_bytes
            ):
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)
