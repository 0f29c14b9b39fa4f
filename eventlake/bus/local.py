"""The embedded durable log: fsynced segment files on local disk (``bus.backend = "local"``).

Layout in ``bus/local_layout.py``, frame format in ``bus/frames.py``, why in
``docs/bus.md``. This module writes; ``bus/local_consumer.py`` reads.

Writers: a :class:`LocalProducer` is thread-safe and batches the appends of concurrent
threads into one frame and one fsync per partition (group commit); several processes may
append at once, serialised per partition by an ``flock``. Before writing, the lock holder
re-reads the tail other processes wrote and truncates a torn frame left by a killed writer
(it was never acknowledged).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from eventlake.bus.base import Chunk, TopicPartition
from eventlake.bus.frames import encode_frame, encode_parts, read_frame
from eventlake.bus.local_consumer import LocalConsumer
from eventlake.bus.local_layout import (
    list_segments,
    log_bytes,
    partition_dir,
    read_group_offsets,
    segment_path,
    topic_partitions,
)
from eventlake.errors import AppendTooLargeError, BusError, BusFullError
from eventlake.fsutil import fsync_path

__all__ = [
    "Chunk",
    "LocalConsumer",
    "LocalProducer",
    "list_segments",
    "log_bytes",
    "partition_dir",
    "read_group_offsets",
    "segment_path",
    "topic_partitions",
]

#: One frame carries at most this much of a group commit; the rest goes in the next frame.
_MAX_FRAME_BYTES = 32 * 1024 * 1024
_DISK_CHECK_SECONDS = 1.0


class _PartitionWriter:
    """Append state of one partition in this process; used under the partition's flock."""

    def __init__(self, pdir: Path, segment_bytes: int) -> None:
        self.pdir = pdir
        self.segment_bytes = segment_bytes
        self.lock_fd = os.open(pdir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        self.seg_fd = -1
        self.seg_base = -1
        self.end_pos = 0
        self.next_offset = 0

    def close(self) -> None:
        if self.seg_fd >= 0:
            os.close(self.seg_fd)
            self.seg_fd = -1
        os.close(self.lock_fd)

    def _open_segment(self, base: int, create: bool) -> None:
        if self.seg_fd >= 0:
            os.close(self.seg_fd)
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        self.seg_fd = os.open(segment_path(self.pdir, base), flags, 0o644)
        if create:
            fsync_path(self.pdir)
        self.seg_base = base
        self.end_pos = 0
        self.next_offset = base

    def _scan_tail(self) -> None:
        """Follow frames other processes appended; cut a torn frame (we hold the lock)."""
        size = os.fstat(self.seg_fd).st_size
        while self.end_pos < size:
            frame = read_frame(self.seg_fd, self.end_pos)
            if frame is None or frame.base_offset != self.next_offset:
                # Only a killed writer leaves this, and its append was never acknowledged.
                os.ftruncate(self.seg_fd, self.end_pos)
                os.fsync(self.seg_fd)
                return
            self.end_pos = frame.next_pos
            self.next_offset = frame.end_offset

    def sync(self) -> None:
        """Bring the cached tail up to date with the disk; roll the segment when full."""
        if self.seg_fd < 0:
            segs = list_segments(self.pdir)
            self._open_segment(segs[-1] if segs else 0, create=not segs)
        self._scan_tail()
        if self.end_pos >= self.segment_bytes:
            segs = list_segments(self.pdir)
            if segs and segs[-1] > self.seg_base:
                self._open_segment(segs[-1], create=False)
                self._scan_tail()
            if self.end_pos >= self.segment_bytes:
                self._open_segment(self.next_offset, create=True)

    def write(self, count: int, areas: Sequence[bytes]) -> int:
        """Append one frame and fsync it; return its base offset. Caller holds the flock."""
        base = self.next_offset
        chunks = encode_frame(base, count, areas)
        want = sum(len(c) for c in chunks)
        try:
            written = os.pwritev(self.seg_fd, chunks, self.end_pos)
            if written != want:
                raise OSError(f"short write ({written} of {want} bytes)")
            os.fsync(self.seg_fd)
        except OSError:
            os.ftruncate(self.seg_fd, self.end_pos)
            raise
        self.end_pos += want
        self.next_offset += count
        return base


@dataclass(slots=True)
class _Request:
    """One ``append`` call waiting for its group commit."""

    topic: str
    # partition -> (indices into the call's values, payload areas)
    parts: dict[int, tuple[list[int], tuple[bytes, bytes, bytes, bytes]]]
    count: int
    nbytes: int
    results: list[tuple[int, int]] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False


class LocalProducer:
    """Appends to the local log; thread-safe, multi-process safe, durable on return."""

    def __init__(
        self,
        path: Path,
        *,
        partitions: int = 4,
        segment_bytes: int = 64 * 1024 * 1024,
        max_bytes: int = 16 * 1024**3,
        max_pending_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.root = Path(path)
        self.root.mkdir(parents=True, exist_ok=True)
        self.default_partitions = partitions
        self.segment_bytes = segment_bytes
        self.max_bytes = max_bytes
        self.max_pending_bytes = max_pending_bytes
        self._cond = threading.Condition()
        self._queue: list[_Request] = []
        self._pending_bytes = 0
        self._flushing = False
        self._closed = False
        self._nparts: dict[str, int] = {}
        self._writers: dict[TopicPartition, _PartitionWriter] = {}
        self._rr = 0
        self._disk_bytes = 0
        self._disk_checked = 0.0
        self._pool: ThreadPoolExecutor | None = None

    def _partitions(self, topic: str) -> int:
        n = self._nparts.get(topic)
        if n is None:
            n = self._nparts[topic] = topic_partitions(self.root, topic, self.default_partitions)
        return n

    def partition_for(self, topic: str, key: bytes) -> int:
        """The partition a record with ``key`` goes to (CRC-32 of the key, mod partitions)."""
        return zlib.crc32(key) % self._partitions(topic)

    def append(
        self,
        topic: str,
        values: Sequence[bytes],
        keys: Sequence[bytes | None] | None = None,
        *,
        partitions: Sequence[int] | None = None,
    ) -> list[tuple[int, int]]:
        """Append ``values`` to ``topic``; ``(partition, offset)`` of each, in order.

        Durable on return (fsynced). Records with the same key go to the same partition
        (CRC-32 of the key, see :meth:`partition_for`); records without a key go, per call,
        to the next partition in turn; ``partitions`` (one per value) overrides both, e.g.
        for a columnar record of many users grouped by ``partition_for``. Raises
        ``BusFullError`` (retryable) when the log or the queue is full, and
        ``AppendTooLargeError`` (terminal) when this one append is larger than the queue.
        """
        if not values:
            return []
        if keys is not None and len(keys) != len(values):
            raise BusError(f"append: {len(values)} values but {len(keys)} keys")
        n = self._partitions(topic)
        if partitions is not None:
            if len(partitions) != len(values):
                raise BusError(f"append: {len(values)} values but {len(partitions)} partitions")
            if any(not 0 <= p < n for p in partitions):
                raise BusError(f"append: topic {topic!r} has partitions 0..{n - 1}")
        request = self._build_request(topic, n, values, keys, partitions)
        if request.nbytes > self.max_pending_bytes:
            raise AppendTooLargeError(
                f"an append of {request.nbytes} bytes can never fit the producer's queue "
                f"(bus.max_pending_bytes = {self.max_pending_bytes}); append fewer records"
            )
        with self._cond:
            if self._closed:
                raise BusError("append on a closed producer")
            if self._pending_bytes + request.nbytes > self.max_pending_bytes:
                raise BusFullError(
                    f"bus producer queue is full ({self._pending_bytes} bytes pending); "
                    "retry shortly"
                )
            self._queue.append(request)
            self._pending_bytes += request.nbytes
            while not request.done and self._flushing:
                self._cond.wait()
            if request.done:
                return self._result(request)
            self._flushing = True
            batch, self._queue = self._queue, []
        try:
            self._flush(batch)
        finally:
            with self._cond:
                for r in batch:
                    r.done = True
                    self._pending_bytes -= r.nbytes
                self._flushing = False
                self._cond.notify_all()
        return self._result(request)

    @staticmethod
    def _result(request: _Request) -> list[tuple[int, int]]:
        if request.error is not None:
            raise request.error
        return request.results

    def _build_request(
        self,
        topic: str,
        n: int,
        values: Sequence[bytes],
        keys: Sequence[bytes | None] | None,
        partitions: Sequence[int] | None = None,
    ) -> _Request:
        nbytes = sum(map(len, values))
        if partitions is not None:
            chosen: dict[int, list[int]] = {}
            for i, p in enumerate(partitions):
                chosen.setdefault(p, []).append(i)
            return _Request(
                topic,
                {
                    p: (
                        ids,
                        encode_parts(
                            [values[i] for i in ids],
                            None if keys is None else [keys[i] for i in ids],
                        ),
                    )
                    for p, ids in chosen.items()
                },
                len(values),
                nbytes,
            )
        if keys is None or all(k is None for k in keys):
            p = self._rr % n
            self._rr += 1
            parts = {p: (list(range(len(values))), encode_parts(values, None))}
            return _Request(topic, parts, len(values), nbytes)
        idx: dict[int, list[int]] = {}
        rr = self._rr % n
        self._rr += 1
        for i, k in enumerate(keys):
            p = rr if k is None else zlib.crc32(k) % n
            idx.setdefault(p, []).append(i)
        built = {}
        for p, ids in idx.items():
            if len(ids) == len(values):
                built[p] = (ids, encode_parts(values, keys))
            else:
                built[p] = (ids, encode_parts([values[i] for i in ids], [keys[i] for i in ids]))
        return _Request(topic, built, len(values), nbytes)

    def _check_disk(self) -> None:
        now = time.monotonic()
        if now - self._disk_checked > _DISK_CHECK_SECONDS:
            self._disk_bytes = log_bytes(self.root)
            self._disk_checked = now
        if self._disk_bytes >= self.max_bytes:
            raise BusFullError(
                f"local bus {self.root} holds {self._disk_bytes} bytes (bus.max_bytes = "
                f"{self.max_bytes}); run `eventlake land` and `eventlake bus compact`"
            )

    def _flush(self, batch: list[_Request]) -> None:
        if self._closed:
            for r in batch:
                r.error = BusError("append on a closed producer")
            return
        by_tp: dict[TopicPartition, list[_Request]] = {}
        for r in batch:
            r.results = [(0, 0)] * r.count
            for p in r.parts:
                by_tp.setdefault(TopicPartition(r.topic, p), []).append(r)
        try:
            self._check_disk()
        except BusFullError as exc:
            for r in batch:
                r.error = exc
            return
        for tp in by_tp:
            if tp not in self._writers:
                pdir = partition_dir(self.root, tp)
                pdir.mkdir(parents=True, exist_ok=True)
                self._writers[tp] = _PartitionWriter(pdir, self.segment_bytes)
        items = list(by_tp.items())
        if len(items) == 1:
            self._flush_partition_safe(*items[0])
        else:
            # fsyncs of several files issued together share the filesystem's journal
            # commit: measured here, 4 in parallel cost about one, 4 in a row four.
            if self._pool is None:
                self._pool = ThreadPoolExecutor(thread_name_prefix="bus-fsync")
            list(self._pool.map(lambda item: self._flush_partition_safe(*item), items))

    def _flush_partition_safe(self, tp: TopicPartition, reqs: list[_Request]) -> None:
        try:
            self._flush_partition(tp, reqs)
        except OSError as exc:
            err = BusError(f"cannot append to {partition_dir(self.root, tp)}: {exc}")
            for r in reqs:
                r.error = err

    def _flush_partition(self, tp: TopicPartition, reqs: list[_Request]) -> None:
        writer = self._writers[tp]
        start = 0
        while start < len(reqs):
            # one frame per at most _MAX_FRAME_BYTES of requests
            end, size = start, 0
            while end < len(reqs) and (end == start or size < _MAX_FRAME_BYTES):
                size += sum(len(a) for a in reqs[end].parts[tp.partition][1])
                end += 1
            group = reqs[start:end]
            areas = [b"".join(r.parts[tp.partition][1][i] for r in group) for i in range(4)]
            count = sum(len(r.parts[tp.partition][0]) for r in group)
            fcntl.flock(writer.lock_fd, fcntl.LOCK_EX)
            try:
                writer.sync()
                offset = writer.write(count, areas)
            finally:
                fcntl.flock(writer.lock_fd, fcntl.LOCK_UN)
            for r in group:
                for i in r.parts[tp.partition][0]:
                    r.results[i] = (tp.partition, offset)
                    offset += 1
            start = end

    def close(self) -> None:
        """Release file handles; appends after this raise ``BusError``."""
        with self._cond:
            while self._flushing:
                self._cond.wait()
            self._closed = True
            for w in self._writers.values():
                w.close()
            self._writers.clear()
            if self._pool is not None:
                self._pool.shutdown(wait=False)
