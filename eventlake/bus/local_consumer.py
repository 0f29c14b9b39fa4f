"""Reading the local log: one consumer per group, all partitions (``bus.backend = "local"``).

Readers never write the log: they stop at the first incomplete frame (the live tail, or a
torn frame a killed writer left, which the next writer truncates) and follow segment rolls.
``poll_chunks`` hands out runs of records as one newline-delimited view of the frame, the
lander's fast path.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from eventlake.bus.base import Chunk, OffsetRange, Record, StartOffsets, TopicPartition
from eventlake.bus.frames import Frame, read_frame
from eventlake.bus.local_layout import (
    flocked,
    list_segments,
    partition_dir,
    partition_range,
    read_group_offsets,
    segment_path,
    topic_partitions,
)
from eventlake.errors import BusCorruptError, BusError
from eventlake.fsutil import write_atomic

__all__ = ["LocalConsumer"]


class _PartitionReader:
    """Read position of one partition; never writes, stops at the first incomplete frame."""

    def __init__(self, pdir: Path, offset: int) -> None:
        self.pdir = pdir
        self.offset = offset
        self.fd = -1
        self.seg_base = -1
        self.pos = 0
        self.frame: Frame | None = None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.frame = None

    def seek(self, offset: int) -> None:
        self.close()
        self.offset = offset

    def _locate(self) -> bool:
        segs = list_segments(self.pdir)
        if not segs:
            return False
        if self.offset < segs[0]:
            self.offset = segs[0]  # compacted away: every group had consumed it
        base = max(b for b in segs if b <= self.offset)
        try:
            self.fd = os.open(segment_path(self.pdir, base), os.O_RDONLY)
        except FileNotFoundError:
            return False  # compacted meanwhile; next poll locates again
        self.seg_base, self.pos, self.frame = base, 0, None
        return True

    def _next_frame(self) -> Frame | None:
        """The frame holding ``self.offset``, or None when it is not (yet) readable."""
        if self.frame is not None and self.frame.base_offset <= self.offset:
            if self.offset < self.frame.end_offset:
                return self.frame
            self.pos = self.frame.next_pos
            self.frame = None
        if self.fd < 0 and not self._locate():
            return None
        while True:
            frame = read_frame(self.fd, self.pos)
            if frame is None:
                if not self._roll_over():
                    return None
                continue
            if frame.end_offset <= self.offset:
                self.pos = frame.next_pos
                continue
            if frame.base_offset > self.offset:
                raise BusCorruptError(
                    f"{self.pdir}: offset {self.offset} missing (frame at byte {frame.pos} "
                    f"of segment {self.seg_base} starts at {frame.base_offset})"
                )
            self.frame = frame
            return frame

    def _roll_over(self) -> bool:
        """At an unreadable frame: move to the next segment if this one is finished."""
        newer = [b for b in list_segments(self.pdir) if b > self.seg_base]
        if not newer:
            return False  # the live tail: a write in progress or a torn frame
        # The writer rolled only after this segment's last frame was durable: read again.
        if read_frame(self.fd, self.pos) is not None:
            return True
        if self.pos < os.fstat(self.fd).st_size:
            raise BusCorruptError(
                f"{segment_path(self.pdir, self.seg_base)}: unreadable frame at byte "
                f"{self.pos} before the end of a finished segment"
            )
        os.close(self.fd)
        self.fd = os.open(segment_path(self.pdir, newer[0]), os.O_RDONLY)
        self.seg_base, self.pos, self.frame = newer[0], 0, None
        return True

    def read_chunk(self, tp: TopicPartition, max_records: int) -> Chunk | None:
        frame = self._next_frame()
        if frame is None:
            return None
        skip = self.offset - frame.base_offset
        take = min(frame.count - skip, max_records)
        vstart = frame.values_start()
        view = memoryview(frame.payload)  # slices share the frame's bytes: no copy
        if skip == 0 and take == frame.count:
            values = view[vstart:]
        else:
            vl = frame.value_lens().astype("i8") + 1
            lo = vstart + int(vl[:skip].sum())
            hi = lo + int(vl[skip : skip + take].sum())
            values = view[lo:hi]
        chunk = Chunk(tp, self.offset, take, values, frame.value_lens()[skip : skip + take])
        self.offset += take
        return chunk

    def read_records(self, tp: TopicPartition, max_records: int) -> list[Record]:
        frame = self._next_frame()
        if frame is None:
            return []
        skip = self.offset - frame.base_offset
        take = min(frame.count - skip, max_records)
        klens = frame.key_lens().tolist()
        vlens = frame.value_lens().tolist()
        payload = frame.payload
        kpos = frame.keys_start()
        vpos = kpos + sum(k for k in klens if k > 0)
        out: list[Record] = []
        for i in range(skip + take):
            kl, vl = klens[i], vlens[i]
            if i >= skip:
                key = None if kl < 0 else payload[kpos : kpos + kl]
                value = payload[vpos : vpos + vl]
                out.append(Record(tp.topic, tp.partition, frame.base_offset + i, value, key))
            kpos += max(kl, 0)
            vpos += vl + 1
        self.offset += take
        return out


class LocalConsumer:
    """Reads the local log for one consumer group; one process reads all partitions.

    Not thread-safe. Starts each partition where ``start_offsets`` says, else at the
    group's committed offset.
    """

    def __init__(
        self,
        path: Path,
        group: str,
        topics: Sequence[str],
        *,
        partitions: int = 4,
        poll_interval: float = 0.005,
        start_offsets: StartOffsets | None = None,
    ) -> None:
        self.root = Path(path)
        self.group = group
        self.poll_interval = poll_interval
        (self.root / "groups").mkdir(parents=True, exist_ok=True)
        self._member_fd = self._join(group)
        committed = read_group_offsets(self.root, group)
        self._readers: dict[TopicPartition, _PartitionReader] = {}
        for topic in topics:
            for p in range(topic_partitions(self.root, topic, partitions)):
                tp = TopicPartition(topic, p)
                start = start_offsets(tp) if start_offsets is not None else None
                if start is None:
                    start = committed.get(topic, {}).get(p, 0)
                self._readers[tp] = _PartitionReader(partition_dir(self.root, tp), start)
        self._order = list(self._readers)
        self._turn = 0

    def _join(self, group: str) -> int:
        """Become the group's only member: the local log has no partition assignment, so a
        second member would read (and land) everything twice."""
        path = self.root / "groups" / f".{group}.member"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise BusError(
                f"consumer group {group!r} already has a member (pid {holder}) on the local "
                f"bus {self.root}; the local log serves one consumer per group (stop the other "
                "lander, or use bus.backend = 'kafka' for several)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return fd

    def assignment(self) -> list[TopicPartition]:
        return list(self._order)

    def position(self, tp: TopicPartition) -> int:
        """The next offset ``poll`` will return for ``tp``."""
        return self._reader(tp).offset

    def _reader(self, tp: TopicPartition) -> _PartitionReader:
        try:
            return self._readers[tp]
        except KeyError:
            raise BusError(f"{tp.topic}/{tp.partition} is not assigned to this consumer") from None

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if offset < 0:
            raise BusError(f"seek to negative offset {offset}")
        self._reader(tp).seek(offset)

    def _rotation(self) -> list[TopicPartition]:
        n = len(self._order)
        self._turn = (self._turn + 1) % max(n, 1)
        return self._order[self._turn :] + self._order[: self._turn]

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        deadline = time.monotonic() + timeout
        while True:
            out: list[Record] = []
            for tp in self._rotation():
                reader = self._readers[tp]
                while len(out) < max_records:
                    got = reader.read_records(tp, max_records - len(out))
                    if not got:
                        break
                    out.extend(got)
            if out or time.monotonic() >= deadline:
                return out
            time.sleep(min(self.poll_interval, max(0.0, deadline - time.monotonic())))

    def poll_chunks(
        self, max_records: int, timeout: float, max_bytes: int = 1 << 62
    ) -> list[Chunk]:
        """Like :meth:`poll` but returns whole runs of records (the lander's fast path)."""
        deadline = time.monotonic() + timeout
        while True:
            out: list[Chunk] = []
            n = size = 0
            for tp in self._rotation():
                reader = self._readers[tp]
                while n < max_records and size < max_bytes:
                    chunk = reader.read_chunk(tp, max_records - n)
                    if chunk is None:
                        break
                    out.append(chunk)
                    n += chunk.count
                    size += len(chunk.values)
            if out or time.monotonic() >= deadline:
                return out
            time.sleep(min(self.poll_interval, max(0.0, deadline - time.monotonic())))

    def watermarks(self) -> dict[TopicPartition, OffsetRange]:
        """The offsets each partition of this consumer's topics holds on disk now."""
        return {tp: partition_range(reader.pdir) for tp, reader in self._readers.items()}

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Durably store the next offsets to read for this group (merged with the rest)."""
        if not offsets:
            return
        gdir = self.root / "groups"
        with flocked(gdir / f".{self.group}.lock"):
            current = read_group_offsets(self.root, self.group)
            for tp, off in offsets.items():
                current.setdefault(tp.topic, {})[tp.partition] = int(off)
            data = {
                t: {str(p): o for p, o in sorted(parts.items())}
                for t, parts in sorted(current.items())
            }
            write_atomic(gdir / f"{self.group}.json", json.dumps(data, indent=1).encode())

    def committed(self, tp: TopicPartition) -> int:
        return read_group_offsets(self.root, self.group).get(tp.topic, {}).get(tp.partition, 0)

    def close(self) -> None:
        """Release file handles and leave the group."""
        for r in self._readers.values():
            r.close()
        if self._member_fd >= 0:
            os.close(self._member_fd)
            self._member_fd = -1
