"""Durable hand-offs on the local filesystem: atomic replace and exclusive create.

Every stage that hands a local file to the next one (the run history, the tracker's disk
buffer, the local bus's metadata, the lake's commit records, the warehouse's published
DuckDB file, a CSV error report) writes it the same way: a hidden temporary file in the same
folder (``.<name>.<pid>.<thread>.tmp``, so concurrent writers never share one), fsynced,
then renamed or linked into place, then the folder fsynced. A reader sees the old file or
the new one, never a torn one, and the change survives a power cut once the call returns.

Folders that hold such files may be left with a ``.*.tmp`` after a crash; their owners
delete those on recovery.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

__all__ = [
    "create_exclusive",
    "flock_exclusive",
    "fsync_path",
    "publish_file",
    "temp_name",
    "write_atomic",
]


def fsync_path(path: Path | str) -> None:
    """Make a file's bytes, or a folder's entries (a rename, a new name), durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(path: Path) -> Path:
    """A hidden temporary name beside ``path``, unique to this process and thread."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically; durable on return."""
    path = Path(path)
    tmp = temp_name(path)
    try:
        _write_synced(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def create_exclusive(path: Path, data: bytes) -> None:
    """Create ``path`` holding ``data``, atomically and only if it does not exist yet.

    Durable on return. Raises ``FileExistsError`` when the name exists (another writer won:
    ``link()`` is an atomic, exclusive create).
    """
    path = Path(path)
    tmp = temp_name(path)
    try:
        _write_synced(tmp, data)
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_path(path.parent)


def publish_file(work: Path, path: Path) -> None:
    """Fsync the finished file ``work`` and rename it over ``path``; durable on return."""
    with open(work, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(work, path)
    fsync_path(Path(path).parent)


def flock_exclusive(fd: int, timeout: float, *, poll: float = 0.05) -> bool:
    """Take an exclusive ``flock`` on ``fd``, waiting up to ``timeout`` seconds.

    Polls (a blocking ``flock`` could not be given up). False when still held by another
    process at the deadline; the caller says what is locked.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(poll)
