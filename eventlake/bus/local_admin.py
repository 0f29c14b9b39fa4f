"""Inspection and retention of the local log: ``eventlake bus status`` and ``bus compact``.

Compaction deletes whole segments whose every record each consumer group has committed
past. A partition no group has committed keeps everything, and the live (last) segment is
never deleted, so producers and readers never lose a file they are using.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from eventlake.bus.base import TopicPartition
from eventlake.bus.frames import read_frame
from eventlake.bus.local import (
    list_segments,
    partition_dir,
    read_group_offsets,
    segment_path,
)

__all__ = ["CompactResult", "PartitionStatus", "compact", "list_groups", "status"]


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


def _end_offset(pdir: Path, base: int) -> int:
    """Offset after the last complete frame of the segment starting at ``base``."""
    fd = os.open(segment_path(pdir, base), os.O_RDONLY)
    try:
        pos, end = 0, base
        while (frame := read_frame(fd, pos)) is not None:
            pos, end = frame.next_pos, frame.end_offset
        return end
    finally:
        os.close(fd)


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
            start = segs[0] if segs else 0
            end = _end_offset(pdir, segs[-1]) if segs else 0
            committed = {
                g: offs[topic][p] for g, offs in groups.items() if p in offs.get(topic, {})
            }
            out.append(PartitionStatus(topic, p, start, end, len(segs), size, committed))
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
