"""The local backend as a :class:`~eventlake.bus.base.Bus`: the log in one folder on disk.

``eventlake.bus.open_bus`` builds it for ``bus.backend = "local"``; it opens
``LocalProducer``/``LocalConsumer`` (``bus/local.py``, ``bus/local_consumer.py``) with the
``[bus]`` settings and answers the read-only questions from the files
(``bus/local_admin.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from eventlake.bus.base import (
    EVENTS,
    QUARANTINE,
    Backlog,
    BusProbe,
    StartOffsets,
    TopicPartition,
)
from eventlake.bus.local import LocalProducer
from eventlake.bus.local_consumer import LocalConsumer
from eventlake.bus.local_layout import (
    list_segments,
    log_bytes,
    read_group_offsets,
    segment_end,
    topic_partitions,
)
from eventlake.config import BusConfig

if TYPE_CHECKING:
    from eventlake.bus.local_admin import LocalAdmin

__all__ = ["LocalBus"]

#: File the writability probe creates, fsyncs and removes in the log's folder.
_PROBE_NAME = ".healthz-probe"


class LocalBus:
    """The local log at ``root`` (``bus.path`` resolved against the project folder)."""

    def __init__(self, cfg: BusConfig, root: Path) -> None:
        self._cfg = cfg
        self.root = Path(root)

    @property
    def config(self) -> BusConfig:
        return self._cfg

    def describe(self) -> str:
        return f"local bus {self.root}"

    def producer(self) -> LocalProducer:
        cfg = self._cfg
        return LocalProducer(
            self.root,
            partitions=cfg.partitions,
            segment_bytes=cfg.segment_bytes,
            max_bytes=cfg.max_bytes,
            max_pending_bytes=cfg.max_pending_bytes,
        )

    def consumer(
        self,
        group: str,
        topics: Sequence[str] = (EVENTS, QUARANTINE),
        start_offsets: StartOffsets | None = None,
    ) -> LocalConsumer:
        return LocalConsumer(
            self.root,
            group,
            list(topics),
            partitions=self._cfg.partitions,
            start_offsets=start_offsets,
        )

    def crc32_partitions(self, topic: str) -> int:
        """Partitions of ``topic`` (created with ``bus.partitions`` if new): keys map by
        CRC-32 on the local log."""
        return topic_partitions(self.root, topic, self._cfg.partitions)

    def committed(
        self, group: str, topics: Sequence[str] = (EVENTS, QUARANTINE)
    ) -> dict[TopicPartition, int]:
        offsets = read_group_offsets(self.root, group)
        return {
            TopicPartition(topic, p): off
            for topic in topics
            for p, off in sorted(offsets.get(topic, {}).items())
        }

    def backlog(
        self, after: Mapping[TopicPartition, int], topics: Sequence[str] = (EVENTS, QUARANTINE)
    ) -> list[Backlog]:
        from eventlake.bus.local_admin import backlog

        return backlog(self.root, after, topics)

    def probe(self, timeout: float = 2.0) -> BusProbe:
        root, max_bytes = self.root, self._cfg.max_bytes
        if not root.is_dir():
            return BusProbe("local", False, f"the bus folder {root} does not exist or is no folder")
        probe = root / _PROBE_NAME
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, b"ok")
                os.fsync(fd)
            finally:
                os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            return BusProbe(
                "local", False, f"cannot write to the bus folder {root}: {exc.strerror or exc}"
            )
        try:
            size = log_bytes(root)
        except OSError as exc:
            return BusProbe("local", False, f"cannot list the bus folder {root}: {exc}")
        if size >= max_bytes:
            return BusProbe(
                "local",
                False,
                f"the bus is full: it holds {size:,} bytes, bus.max_bytes is {max_bytes:,}; "
                "land and run `eventlake bus compact` to make room",
            )
        return BusProbe("local", True, f"{size:,} of {max_bytes:,} bytes used")

    def end_offsets(self) -> dict[TopicPartition, int] | None:
        topics = self.root / "topics"
        if not topics.is_dir():
            return None
        out: dict[TopicPartition, int] = {}
        for topic in (EVENTS, QUARANTINE):
            tdir = topics / topic
            if not tdir.is_dir():
                continue
            for pdir in sorted(p for p in tdir.iterdir() if p.is_dir() and p.name.isdigit()):
                segments = list_segments(pdir)
                if segments:
                    out[TopicPartition(topic, int(pdir.name))] = segment_end(pdir, segments[-1])
        return out

    def admin(self) -> LocalAdmin:
        """``eventlake bus status|compact`` on this log."""
        from eventlake.bus.local_admin import LocalAdmin

        return LocalAdmin(self.root)
