"""The tracker's on-disk buffer: batches that could not be kept in memory or sent yet.

A buffer is a folder of batch files ``<sequence:020d>.batch``, each holding encoded Segment
messages, one JSON object per line. A file appears atomically (temporary name, fsync,
rename, fsync of the folder) and is deleted only once the collector acknowledged it, so a
batch survives a full queue, a collector that is down and a restart of the process; a
message may be sent twice (a reply lost after the collector made it durable), which the
warehouse's deduplication by ``messageId`` absorbs. One process uses a folder at a time
(an ``flock`` on ``.lock``).
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from eventlake.errors import EventlakeError
from eventlake.fsutil import write_atomic

__all__ = ["BufferInUseError", "DiskBuffer"]

_SUFFIX = ".batch"


class BufferInUseError(EventlakeError):
    """Another live client holds the buffer folder."""


class DiskBuffer:
    """A FIFO of message batches in a folder; thread-safe; durable once ``push`` returns."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._lock_fd)
            raise BufferInUseError(
                f"tracker buffer {self.directory} is used by another client; give each "
                "client its own buffer_dir"
            ) from exc
        self._mutex = threading.Lock()
        for name in os.listdir(self.directory):
            if name.startswith(".") and name.endswith(".tmp"):
                os.unlink(self.directory / name)  # a push interrupted before its rename
        self._files = sorted(int(n[: -len(_SUFFIX)]) for n in self._names())
        self._next = (self._files[-1] + 1) if self._files else 0
        self._count = sum(len(self.read(seq)) for seq in self._files)

    def _names(self) -> list[str]:
        return [n for n in os.listdir(self.directory) if n.endswith(_SUFFIX)]

    def _path(self, seq: int) -> Path:
        return self.directory / f"{seq:020d}{_SUFFIX}"

    @property
    def messages(self) -> int:
        """Messages held on disk."""
        with self._mutex:
            return self._count

    def __len__(self) -> int:
        with self._mutex:
            return len(self._files)

    def push(self, messages: Sequence[bytes]) -> None:
        """Store one batch (encoded messages without newlines); durable on return."""
        if not messages:
            return
        with self._mutex:
            seq = self._next
            self._next += 1
            final = self._path(seq)
            write_atomic(final, b"\n".join(messages) + b"\n")
            self._files.append(seq)
            self._count += len(messages)

    def peek(self) -> tuple[int, list[bytes]] | None:
        """The oldest batch (its sequence number and messages), or None when empty."""
        with self._mutex:
            if not self._files:
                return None
            seq = self._files[0]
        return seq, self.read(seq)

    def read(self, seq: int) -> list[bytes]:
        data = self._path(seq).read_bytes()
        return [line for line in data.split(b"\n") if line]

    def remove(self, seq: int, count: int) -> None:
        """Forget a delivered (or rejected for good) batch."""
        with self._mutex:
            self._path(seq).unlink(missing_ok=True)
            if seq in self._files:
                self._files.remove(seq)
                self._count -= count

    def close(self) -> None:
        """Release the folder for another client."""
        if self._lock_fd >= 0:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = -1
