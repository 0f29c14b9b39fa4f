"""Inspection and retention of the local log: ``eventlake bus status``, ``bus compact``,
and the backlog ``eventlake status`` reconciles against.

Compaction deletes whole segments whose every record each consumer group has committed
past. A partition no group has committed keeps everything, and the live (last) segment is
never deleted, so producers and readers never lose a file they are using.

Everything here but ``compact`` is read-only: it never creates a topic or takes a lock a
producer or consumer waits for.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eventlake.bus.base import Backlog, TopicPartition
from eventlake.bus.frames import read_frame
from eventlake.bus.local_layout import (
    list_segments,
    partition_dir,
    partition_range,
    read_group_offsets,
    segment_path,
)
from eventlake.bus.records import record_rows
from eventlake.errors import BusError

__all__ = [
    "CompactResult",
    "LocalAdmin",
    "PartitionStatus",
    "backlog",
    "compact",
    "list_groups",
    "status",
]


@dataclass(frozen=True, slots=True)
class PartitionStatus:
    """One partition: its offset range on disk and each group's committed offset."""

    topic: str
    partition: int
    start_offset: int
    end_offset: int
    segments: int
    bytes: int
    committed: dict[str, int] = field(default_factory=dict)

    def lag(self, group: str) -> int:
        return self.end_offset - max(self.committed.get(group, 0), self.start_offset)

    def to_dict(self) -> dict[str, object]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "start_offset": self.start_offset,
            "end_offset": self.end_offset,
            "segments": self.segments,
            "bytes": self.bytes,
            "committed": dict(self.committed),
            "lag": {g: self.lag(g) for g in self.committed},
        }


@dataclass(frozen=True, slots=True)
class CompactResult:
    """What ``compact`` deleted."""

    segments_deleted: int
    bytes_freed: int
    partitions: dict[str, int]  # "topic/partition" -> new start offset

    def to_dict(self) -> dict[str, object]:
        return {
            "segments_deleted": self.segments_deleted,
            "bytes_freed": self.bytes_freed,
            "partitions": dict(self.partitions),
        }


def list_groups(root: Path) -> list[str]:
    """Consumer groups that have committed offsets in the log at ``root``."""
    gdir = Path(root) / "groups"
    if not gdir.is_dir():
        return []
    return sorted(
        n[: -len(".json")] for n in os.listdir(gdir) if n.endswith(".json") and n[0] != "."
    )


def _topics(root: Path) -> dict[str, int]:
    tdir = root / "topics"
    out: dict[str, int] = {}
    if not tdir.is_dir():
        return out
    for name in sorted(os.listdir(tdir)):
        meta = tdir / name / "meta.json"
        if meta.is_file():
            out[name] = int(json.loads(meta.read_bytes())["partitions"])
    return out


def status(root: Path) -> list[PartitionStatus]:
    """Offset range, size and every group's committed offset of each partition."""
    root = Path(root)
    groups = {g: read_group_offsets(root, g) for g in list_groups(root)}
    out = []
    for topic, n in _topics(root).items():
        for p in range(n):
            pdir = partition_dir(root, TopicPartition(topic, p))
            segs = list_segments(pdir)
            size = sum(segment_path(pdir, b).stat().st_size for b in segs)
            held = partition_range(pdir)
            committed = {
                g: offs[topic][p] for g, offs in groups.items() if p in offs.get(topic, {})
            }
            out.append(PartitionStatus(topic, p, held.first, held.end, len(segs), size, committed))
    return out


def compact(root: Path) -> CompactResult:
    """Delete the segments every consumer group has fully consumed; idempotent."""
    root = Path(root)
    groups = [read_group_offsets(root, g) for g in list_groups(root)]
    deleted = freed = 0
    starts: dict[str, int] = {}
    for topic, n in _topics(root).items():
        for p in range(n):
            if not groups:
                continue
            safe = min(g.get(topic, {}).get(p, 0) for g in groups)
            pdir = partition_dir(root, TopicPartition(topic, p))
            lock = os.open(pdir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)  # no segment roll while we choose
                segs = list_segments(pdir)
                for base, next_base in zip(segs, segs[1:], strict=False):
                    if next_base > safe:
                        break
                    path = segment_path(pdir, base)
                    freed += path.stat().st_size
                    path.unlink()
                    deleted += 1
                segs = list_segments(pdir)
                starts[f"{topic}/{p}"] = segs[0] if segs else 0
            finally:
                os.close(lock)
    if deleted:
        for topic in _topics(root):
            for p in range(_topics(root)[topic]):
                pdir = partition_dir(root, TopicPartition(topic, p))
                fd = os.open(pdir, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
    return CompactResult(deleted, freed, starts)


def _partition_backlog(pdir: Path, tp: TopicPartition, after: int) -> Backlog:
    """Events in the records of one partition at or past ``after``, frame by frame.

    Reads from the segment holding ``after`` to the last complete frame; memory is one
    frame at a time. A JSON record is one event, an Arrow or request record its row count
    (``record_rows``: IPC metadata or the request header, not the events themselves).
    """
    segs = list_segments(pdir)
    if not segs:
        return Backlog(tp, after, after, 0)
    start = max(after, segs[0])
    first = max(b for b in segs if b <= start)
    end, events = first, 0
    for base in (b for b in segs if b >= first):
        try:
            fd = os.open(segment_path(pdir, base), os.O_RDONLY)
        except FileNotFoundError:  # compacted meanwhile: every group had read it
            continue
        try:
            pos = 0
            while (frame := read_frame(fd, pos)) is not None:
                pos = frame.next_pos
                end = max(end, frame.end_offset)
                if frame.end_offset <= start:
                    continue
                at = frame.values_start()
                view = memoryview(frame.payload)
                for i, n in enumerate(frame.value_lens().tolist()):
                    if frame.base_offset + i >= start:
                        events += record_rows(view[at : at + n])
                    at += n + 1
        finally:
            os.close(fd)
    return Backlog(tp, start, end, events)


def backlog(
    root: Path, after: Mapping[TopicPartition, int], topics: Sequence[str]
) -> list[Backlog]:
    """Per partition of ``topics`` that exists: the events at or past ``after[tp]``.

    Raises:
        BusError: there is no log at ``root`` (a wrong ``bus.path``, or nothing collected
            yet): "nothing waits" would be a guess.
    """
    root = Path(root)
    if not (root / "topics").is_dir():
        raise BusError(f"no local bus at {root} (nothing collected yet?)")
    existing = _topics(root)
    return [
        _partition_backlog(partition_dir(root, tp), tp, after.get(tp, 0))
        for topic in topics
        if topic in existing
        for tp in (TopicPartition(topic, p) for p in range(existing[topic]))
    ]


class LocalAdmin:
    """``eventlake bus status|compact`` on the local log at ``root``.

    Only the local backend has one (``eventlake.bus.open_local_admin``); a Kafka cluster
    has its own tools and retention settings.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def status(self) -> list[PartitionStatus]:
        """Offset range, size and every group's committed offset of each partition."""
        return status(self.root)

    def compact(self) -> CompactResult:
        """Delete the segments every consumer group has fully consumed; idempotent."""
        return compact(self.root)
