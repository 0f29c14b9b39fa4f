"""DuckDB warehouse file: read-only connections and copy-on-write publishing.

DuckDB lets one process write a database file or many read it, never both; the API and the
dashboard keep reading while builds and loads run. So the published file is never written
in place. A writer (model build, raw-layer load, batch-source load) takes an exclusive lock,
copies the published file to ``<name>.next``, changes the copy, and publishes it with an
atomic ``os.replace``. Readers that opened the old file keep a consistent snapshot until they
reopen (:class:`ReadOnlyWarehouse` reopens when the file's identity changes). A failed write
(e.g. a failing dbt test) leaves the previous good file served.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eventlake.errors import WarehouseError

__all__ = ["ReadOnlyWarehouse", "connect_read_only", "write_transaction"]


def connect_read_only(path: Path) -> Any:
    """Open the published warehouse read-only (raises WarehouseError if it does not exist)."""
    import duckdb

    if not path.exists():
        raise WarehouseError(
            f"warehouse {path} does not exist yet: run `eventlake build` (or `eventlake demo`)"
        )
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc


@contextlib.contextmanager
def write_transaction(path: Path, *, timeout: float = 600.0) -> Iterator[Path]:
    """Yield a private working copy of the warehouse; publish it atomically on success.

    Exclusive across processes (a lock file beside the database). If the body raises,
    the working copy is discarded and the published file is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    work = path.with_name(path.name + ".next")
    with open(lock_path, "a+") as lock:
        _lock_exclusive(lock.fileno(), timeout, path)
        try:
            for leftover in (work, work.with_name(work.name + ".wal")):
                leftover.unlink(missing_ok=True)
            if path.exists():
                shutil.copyfile(path, work)
            yield work
            wal = work.with_name(work.name + ".wal")
            if wal.exists():
                # A clean close checkpoints the WAL; one left over means a connection is
                # still open on the working copy, which would publish a torn database.
                raise WarehouseError(f"{work} still has an open connection; close it first")
            if work.exists():
                with open(work, "rb") as fh:
                    os.fsync(fh.fileno())
                os.replace(work, path)
                dir_fd = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        finally:
            for leftover in (work, work.with_name(work.name + ".wal")):
                leftover.unlink(missing_ok=True)
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _lock_exclusive(fd: int, timeout: float, path: Path) -> None:
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise WarehouseError(
                    f"warehouse {path} is locked by another writer for over {timeout:.0f} s"
                ) from None
            time.sleep(0.05)


class ReadOnlyWarehouse:
    """A read-only connection that follows publishes: reopens when the file is replaced.

    Thread-safe: each call to :meth:`cursor` returns a cursor of the current connection.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: Any = None
        self._identity: tuple[int, int, int] | None = None

    def _current_identity(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    @property
    def version(self) -> str:
        """Changes whenever a new warehouse is published (usable in ETags)."""
        ident = self._current_identity()
        return "none" if ident is None else "-".join(str(x) for x in ident)

    def cursor(self) -> Any:
        """A DuckDB cursor on the newest published warehouse."""
        with self._lock:
            ident = self._current_identity()
            if self._conn is None or ident != self._identity:
                # DuckDB caches one database instance per path and process: the old
                # connection must be closed first or the new one would see the old file.
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                self._conn = connect_read_only(self.path)
                self._identity = ident
            return self._conn.cursor()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
