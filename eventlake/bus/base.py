"""The bus protocol: a durable, partitioned, append-only log with consumer groups.

Every backend (``bus/local.py`` embedded on disk, ``bus/kafka.py`` for scale-out) implements
exactly this shape, and ``tests/integration/bus`` runs one suite over all of them.

Contracts:
- ``Producer.append`` returns only once every record is durable (fsync for the local log,
  ``acks=all`` for Kafka); it raises ``BusFullError`` (retryable) instead of buffering
  without bound.
- Offsets are per (topic, partition), dense and increasing from 0; a consumer reads from an
  offset, and ``commit`` stores the *next* offset to read for its group.
- Records of one key go to one partition, so one user's events keep their order.
- A lander does not trust the group's committed offsets alone: the lake's commit records say
  which offsets are already in Parquet, and it ``seek``s past them (exactly once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Consumer", "Producer", "Record", "TopicPartition", "EVENTS", "QUARANTINE"]

#: Topic of valid events (lands in ``<lake>/events``).
EVENTS = "events"
#: Topic of quarantined events, each carrying its reason (lands in ``<lake>/quarantine``).
QUARANTINE = "quarantine"


@dataclass(frozen=True, slots=True)
class TopicPartition:
    """One partition of one topic."""

    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Record:
    """One record read back from the bus."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None


@runtime_checkable
class Producer(Protocol):
    """Appends records; thread-safe; durable on return."""

    def append(
        self, topic: str, values: Sequence[bytes], keys: Sequence[bytes | None] | None = None
    ) -> list[tuple[int, int]]:
        """Append ``values`` to ``topic``; return ``(partition, offset)`` for each, in order.

        Durable on return. Raises ``BusFullError`` when the bus cannot accept now.
        """
        ...

    def close(self) -> None:
        """Flush and release resources."""
        ...


@runtime_checkable
class Consumer(Protocol):
    """Reads records for one consumer group; not thread-safe (one per lander)."""

    def assignment(self) -> list[TopicPartition]:
        """Partitions currently assigned to this consumer (changes on rebalance)."""
        ...

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Make the next ``poll`` for ``tp`` start at ``offset``."""
        ...

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        """Return up to ``max_records`` records in offset order per partition.

        Waits at most ``timeout`` seconds when nothing is available; may return [].
        """
        ...

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Store, for this group, the next offset to read of each partition."""
        ...

    def committed(self, tp: TopicPartition) -> int:
        """The group's stored next offset for ``tp`` (0 when none)."""
        ...

    def close(self) -> None:
        """Leave the group and release resources."""
        ...
