"""The local backend as a :class:`~eventlake.bus.base.Bus`: the log in one folder on disk.

``eventlake.bus.open_bus`` builds it for ``bus.backend = "local"``; it opens
``LocalProducer``/``LocalConsumer`` (``bus/local.py``, ``bus/local_consumer.py``) with the
``[bus]`` settings and answers the read-only questions from the files
(``bus/local_admin.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from eventlake.bus.base import (
    EVENTS,
    QUARANTINE,
    Backlog,
    StartOffsets,
    TopicPartition,
)
from eventlake.bus.local import LocalProducer
from eventlake.bus.local_consumer import LocalConsumer
from eventlake.bus.local_layout import read_group_offsets, topic_partitions
from eventlake.config import BusConfig

if TYPE_CHECKING:
    from eventlake.bus.local_admin import LocalAdmin

__all__ = ["LocalBus"]


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

    def admin(self) -> LocalAdmin:
        """``eventlake bus status|compact`` on this log."""
        from eventlake.bus.local_admin import LocalAdmin

        return LocalAdmin(self.root)
