"""On-disk layout of the local log: folders, topic metadata, segments, group offsets.

Shared by the producer (``bus/local.py``), the consumer (``bus/local_consumer.py``) and the
admin commands (``bus/local_admin.py``)::

    topics/<topic>/meta.json                       {"partitions": N, "format": 1}
    topics/<topic>/<partition:04d>/.lock           flock held while appending
    topics/<topic>/<partition:04d>/<base:020d>.seg segments of frames (``bus/frames.py``)
    groups/<group>.json                            committed next offsets of a group
    groups/.<group>.member                         flock of the group's one consumer
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from eventlake.bus.base import OffsetRange, TopicPartition
from eventlake.bus.frames import HEADER_SIZE, MAGIC, MAX_PAYLOAD, read_frame
from eventlake.errors import BusError
from eventlake.fsutil import create_exclusive

__all__ = [
    "SEGMENT_SUFFIX",
    "flocked",
    "list_segments",
    "log_bytes",
    "partition_dir",
    "partition_range",
    "read_group_offsets",
    "segment_end",
    "segment_path",
    "topic_partitions",
]

SEGMENT_SUFFIX = ".seg"


def topic_partitions(root: Path, topic: str, default: int) -> int:
    """Partitions of ``topic``, creating the topic with ``default`` partitions if new.

    Safe against several processes creating it at once: the first link wins.
    """
    tdir = root / "topics" / topic
    meta = tdir / "meta.json"
    try:
        return int(json.loads(meta.read_bytes())["partitions"])
    except FileNotFoundError:
        pass
    if default < 1:
        raise BusError(f"topic {topic!r}: partitions must be >= 1, got {default}")
    tdir.mkdir(parents=True, exist_ok=True)
    for p in range(default):
        (tdir / f"{p:04d}").mkdir(exist_ok=True)
    try:
        create_exclusive(meta, json.dumps({"partitions": default, "format": 1}).encode())
    except FileExistsError:
        pass
    return int(json.loads(meta.read_bytes())["partitions"])


def partition_dir(root: Path, tp: TopicPartition) -> Path:
    return root / "topics" / tp.topic / f"{tp.partition:04d}"


def list_segments(pdir: Path) -> list[int]:
    """Base offsets of the segments of a partition folder, ascending."""
    try:
        names = os.listdir(pdir)
    except FileNotFoundError:
        return []
    return sorted(
        int(n[: -len(SEGMENT_SUFFIX)])
        for n in names
        if n.endswith(SEGMENT_SUFFIX) and not n.startswith(".")
    )


def segment_path(pdir: Path, base: int) -> Path:
    return pdir / f"{base:020d}{SEGMENT_SUFFIX}"


_FRAME_HEADER = struct.Struct("<4sIQII")


def segment_end(pdir: Path, base: int) -> int:
    """The offset after the last whole frame of a segment, from the frame headers alone
    (24 bytes read per frame; payloads are skipped, not checked: cheap enough for a health
    check every second, unlike :func:`partition_range`)."""
    try:
        fd = os.open(segment_path(pdir, base), os.O_RDONLY)
    except FileNotFoundError:  # compacted away meanwhile
        return base
    try:
        size = os.fstat(fd).st_size
        pos, end = 0, base
        while pos + HEADER_SIZE <= size:
            magic, length, first, count, _ = _FRAME_HEADER.unpack(os.pread(fd, HEADER_SIZE, pos))
            if magic != MAGIC or length > MAX_PAYLOAD or pos + HEADER_SIZE + length > size:
                break  # a frame being written, or a torn tail
            pos, end = pos + HEADER_SIZE + length, first + count
        return end
    finally:
        os.close(fd)


def partition_range(pdir: Path) -> OffsetRange:
    """First offset held and the offset after the last complete frame (read-only).

    Reads the frames of the last segment only; a torn or in-progress tail frame is not
    counted (it was never acknowledged).
    """
    segs = list_segments(pdir)
    if not segs:
        return OffsetRange(0, 0)
    try:
        fd = os.open(segment_path(pdir, segs[-1]), os.O_RDONLY)
    except FileNotFoundError:  # compacted between the listing and the open
        return partition_range(pdir)
    try:
        pos, end = 0, segs[-1]
        while (frame := read_frame(fd, pos)) is not None:
            pos, end = frame.next_pos, frame.end_offset
    finally:
        os.close(fd)
    return OffsetRange(segs[0], end)


def log_bytes(root: Path) -> int:
    """Bytes of every segment of every topic under ``root``."""
    total = 0
    tops = root / "topics"
    if not tops.is_dir():
        return 0
    for tdir in os.scandir(tops):
        if not tdir.is_dir():
            continue
        for pdir in os.scandir(tdir.path):
            if not pdir.is_dir():
                continue
            for seg in os.scandir(pdir.path):
                if seg.name.endswith(SEGMENT_SUFFIX):
                    total += seg.stat().st_size
    return total


def read_group_offsets(root: Path, group: str) -> dict[str, dict[int, int]]:
    """``topic -> partition -> next offset`` committed by ``group`` ({} when none)."""
    try:
        raw = json.loads((root / "groups" / f"{group}.json").read_bytes())
    except FileNotFoundError:
        return {}
    return {t: {int(p): int(o) for p, o in parts.items()} for t, parts in raw.items()}


@contextmanager
def flocked(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)
