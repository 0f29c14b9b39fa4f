"""The bus protocol: a durable, partitioned, append-only log with consumer groups.

Every backend (``bus/local.py`` embedded on disk, ``bus/kafka.py`` for scale-out) implements
exactly this shape, and ``tests/integration/bus`` runs one suite over all of them:

- :class:`Bus`: one configured backend (``eventlake.bus.open_bus``, the only code that
  reads ``bus.backend``). It opens producers and consumers and answers questions about the
  log as a whole (what waits past given offsets, a group's committed offsets).
- :class:`Producer`: appends records.
- :class:`Consumer`: one member of a consumer group; reads records one by one (``poll``)
  or as runs of consecutive records (``poll_chunks``, the lander's path).

Contracts:
- ``Producer.append`` returns only once every record is durable (fsync for the local log,
  ``acks=all`` for Kafka); it raises ``BusFullError`` (retryable) instead of buffering
  without bound.
- Offsets are per (topic, partition), dense and increasing from 0; a consumer reads from an
  offset, and ``commit`` stores the *next* offset to read for its group.
- Records of one key go to one partition, so one user's events keep their order.
- A lander does not trust the group's committed offsets alone: the lake's commit records say
  which offsets are already in Parquet, and it ``seek``s past them (exactly once).
- ``Consumer.watermarks`` tells what the log holds *now*, so a one-shot reader can stop once
  it has read everything that was there when it started.
- ``Bus.backlog`` counts *events*, not records: an Arrow or request record holds many
  (``bus/records.py``, ``record_rows``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from eventlake.config import BusConfig

__all__ = [
    "EVENTS",
    "QUARANTINE",
    "Backlog",
    "Bus",
    "BusProbe",
    "Chunk",
    "Consumer",
    "OffsetRange",
    "Producer",
    "Record",
    "StartOffsets",
    "TopicPartition",
]

#: Topic of valid events (lands in ``<lake>/events``).
EVENTS = "events"
#: Topic of quarantined events, each carrying its reason (lands in ``<lake>/quarantine``).
QUARANTINE = "quarantine"


@dataclass(frozen=True, slots=True)
class TopicPartition:
    """One partition of one topic."""

    topic: str
    partition: int


#: Asked for the first offset to read of each assigned partition (None: the group's own).
StartOffsets = Callable[[TopicPartition], "int | None"]


@dataclass(frozen=True, slots=True)
class Record:
    """One record read back from the bus."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """Records of consecutive offsets of one partition as one newline-delimited block.

    ``values`` is every value followed by ``b"\\n"`` (a read-only view; on the local log a
    view of the frame itself, no copy); ``value_lens`` are the values' lengths without it,
    so a reader finds each value by position even when it contains newlines (Arrow).
    """

    tp: TopicPartition
    first_offset: int
    count: int
    values: memoryview
    value_lens: npt.NDArray[np.uint32]

    @property
    def last_offset(self) -> int:
        return self.first_offset + self.count - 1


@dataclass(frozen=True, slots=True)
class OffsetRange:
    """The offsets a partition holds: ``first`` (older ones were deleted by retention) up to
    ``end``, the offset the next appended record will get (Kafka's high watermark)."""

    first: int
    end: int


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits on one partition past a given offset, read from the log itself."""

    tp: TopicPartition
    #: First offset counted: the given offset, or the partition's first one if that is later.
    start: int
    #: The partition's end (next offset to be written) when it was read.
    end: int
    #: Events in the records ``start .. end - 1`` (a JSON record is one, an Arrow or
    #: request record its row count).
    events: int

    @property
    def records(self) -> int:
        return max(0, self.end - self.start)


@runtime_checkable
class Producer(Protocol):
    """Appends records; thread-safe; durable on return."""

    def append(
        self,
        topic: str,
        values: Sequence[bytes],
        keys: Sequence[bytes | None] | None = None,
        *,
        partitions: Sequence[int] | None = None,
    ) -> list[tuple[int, int]]:
        """Append ``values`` to ``topic``; return ``(partition, offset)`` for each, in order.

        ``partitions`` (one per value) puts each value in that partition instead of its
        key's. Durable on return. Raises ``BusFullError`` when the bus cannot accept now.
        """
        ...

    def partition_for(self, topic: str, key: bytes) -> int:
        """The partition a record with ``key`` goes to."""
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

    def poll_chunks(
        self, max_records: int, timeout: float, max_bytes: int = 1 << 62
    ) -> list[Chunk]:
        """Like :meth:`poll`, as runs of consecutive records (the lander's path).

        Returns about ``max_records`` records and ``max_bytes`` value bytes at most (the
        last chunk may go past ``max_bytes``); in offset order per partition.
        """
        ...

    def watermarks(self) -> dict[TopicPartition, OffsetRange]:
        """The offsets every partition of this consumer's topics holds now, read from the
        log (assigned to this member or not)."""
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


@dataclass(frozen=True, slots=True)
class BusProbe:
    """Whether an append can succeed now (:meth:`Bus.probe`) and, in words, why (not)."""

    backend: str
    writable: bool
    detail: str

    def to_dict(self) -> dict[str, object]:
        return {"backend": self.backend, "writable": self.writable, "detail": self.detail}


@runtime_checkable
class Bus(Protocol):
    """One configured bus backend; cheap to create, holds no connection of its own."""

    @property
    def config(self) -> BusConfig:
        """The ``[bus]`` settings it was opened with."""
        ...

    def describe(self) -> str:
        """Where the log is, in a few words for people (``local bus /srv/bus``)."""
        ...

    def producer(self) -> Producer:
        """A new producer (the caller closes it)."""
        ...

    def consumer(
        self,
        group: str,
        topics: Sequence[str] = (EVENTS, QUARANTINE),
        start_offsets: StartOffsets | None = None,
    ) -> Consumer:
        """A new member of consumer group ``group`` reading ``topics`` (the caller closes it).

        ``start_offsets`` is asked for the start of every partition the consumer is given
        (once at open for the local log, on every assignment for Kafka).
        """
        ...

    def crc32_partitions(self, topic: str) -> int | None:
        """Capability: the partition count N when a key's partition is CRC-32(key) % N, so a
        producer may group its records by partition itself (Arrow records, parallel
        writers); None when the backend maps keys otherwise."""
        ...

    def committed(
        self, group: str, topics: Sequence[str] = (EVENTS, QUARANTINE)
    ) -> dict[TopicPartition, int]:
        """The next offsets ``group`` has committed, per partition that has one (read-only:
        does not join the group)."""
        ...

    def backlog(
        self, after: Mapping[TopicPartition, int], topics: Sequence[str] = (EVENTS, QUARANTINE)
    ) -> list[Backlog]:
        """Per partition of ``topics``: the events in the records at or past ``after[tp]``
        (0 when absent), e.g. a group's committed offsets or the lake's landed ones.

        Read-only; reads the waiting records themselves (their event counts are inside
        them) with bounded memory. Raises ``BusError`` when the log does not exist at all
        (no local log folder, no Kafka topic): a wrong setting must not read as "nothing
        waits".
        """
        ...

    def probe(self, timeout: float = 2.0) -> BusProbe:
        """Whether an append can succeed right now, without appending anything (what a
        collector's ``/healthz`` must answer): the local log's folder takes a small fsynced
        file and the log is under ``bus.max_bytes``; Kafka's brokers answer and both
        topics exist. Never raises for an unhealthy bus: the answer says why."""
        ...

    def end_offsets(self) -> dict[TopicPartition, int] | None:
        """The next offset to be written per partition of both topics, read cheaply (the
        lander's lag for ``/healthz``); None when the backend cannot tell cheaply (Kafka:
        the broker's own consumer-lag tools show it) or no log exists yet."""
        ...
