"""Reading Kafka: a consumer-group member (the lander's) and the read-only backlog count.

Consumer groups: the lake, not Kafka, is the source of truth for what has landed. A
consumer may be given ``start_offsets`` (called on every assignment, e.g. after a
rebalance) and any ``seek``; records below a partition's seek position that were already
fetched are dropped, so a lander never re-lands them. Committing offsets to Kafka is
advisory: a commit for a partition revoked by a rebalance is ignored.

Joining and leaving the group:

- The consumer joins (subscribes) at its first ``poll``/``poll_chunks``, not when it is
  opened, so one opened only to read ``watermarks`` (a one-shot land with nothing to do)
  never touches the group.
- ``close`` never leaves in the middle of a join. A member that sends LeaveGroup while its
  JoinGroup waits at the coordinator wedges the group on the tansu broker (0.6.0) the tests
  use: tansu makes the first joiner of a forming generation its leader and its LeaveGroup
  removes the member but not the leadership, so every later member is handed a generation
  whose leader is gone, waits in SyncGroup for an assignment nobody sends, and rejoins the
  same generation forever (measured: no assignment in 240 s; a member killed without
  leaving costs only the 6 s session timeout). So ``close`` first lets a pending join
  finish (bounded by ``join_timeout``), then leaves a formed group, which every broker
  handles. Apache Kafka itself removes a leaving member from a pending join.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from eventlake.bus.base import (
    EVENTS,
    QUARANTINE,
    Backlog,
    Chunk,
    OffsetRange,
    Record,
    StartOffsets,
    TopicPartition,
)
from eventlake.bus.kafka_client import (
    base_conf,
    client,
    ensure_topics,
    partitions_of,
    topic_names,
)
from eventlake.config import BusConfig
from eventlake.errors import BusError

__all__ = ["KafkaConsumer", "kafka_backlog", "kafka_committed"]

#: Messages taken from librdkafka's queue per call (bounds the overshoot past max_bytes).
_SLICE = 10_000
#: librdkafka's own timeout for metadata, watermark and committed-offset requests.
_REQUEST_TIMEOUT = 10.0


class KafkaConsumer:
    """A member of a Kafka consumer group reading the events and quarantine topics."""

    def __init__(
        self,
        cfg: BusConfig,
        group: str,
        *,
        topics: Sequence[str] = (EVENTS, QUARANTINE),
        start_offsets: StartOffsets | None = None,
        join_timeout: float = 20.0,
    ) -> None:
        kafka = client()
        self._kafka = kafka
        self._cfg = cfg
        self._names = {t: topic_names(cfg)[t] for t in topics}
        self._protocol = {v: k for k, v in self._names.items()}
        self._start_offsets = start_offsets
        self._join_timeout = join_timeout
        self._assigned: set[TopicPartition] = set()
        self._floor: dict[TopicPartition, int] = {}
        self._subscribed = False
        self._in_group = False  # between an assignment and the next revoke/loss
        self._closing = False
        self._closed = False
        ensure_topics(cfg)
        conf = {
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # group joins wait ~23 s on the test broker with the default (DESIGN.md)
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            "enable.partition.eof": False,
            **base_conf(cfg),
        }
        self._consumer = kafka.Consumer(conf)

    # -- group membership ----------------------------------------------------------------
    def _subscribe(self) -> None:
        if self._subscribed:
            return
        self._consumer.subscribe(
            list(self._names.values()),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        self._subscribed = True

    def _tp(self, ktp: Any) -> TopicPartition:
        return TopicPartition(self._protocol[ktp.topic], ktp.partition)

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self._in_group = True
        for ktp in partitions:
            tp = self._tp(ktp)
            self._assigned.add(tp)
            if self._closing:
                continue  # only finishing the join in order to leave cleanly
            start = self._start_offsets(tp) if self._start_offsets else None
            if start is not None:
                ktp.offset = start
                self._floor[tp] = start
            elif tp in self._floor:
                ktp.offset = self._floor[tp]
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        self._in_group = False
        for ktp in partitions:
            self._assigned.discard(self._tp(ktp))

    def assignment(self) -> list[TopicPartition]:
        """Partitions assigned now (known after the first ``poll``)."""
        return sorted(self._assigned, key=lambda tp: (tp.topic, tp.partition))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Start ``tp`` at ``offset``; records below it already fetched are dropped."""
        self._floor[tp] = offset
        if tp in self._assigned:
            try:
                self._consumer.seek(
                    self._kafka.TopicPartition(self._names[tp.topic], tp.partition, offset)
                )
            except self._kafka.KafkaException:
                pass  # not fetching yet: the floor and the next assignment apply it

    # -- reading -------------------------------------------------------------------------
    def _fetch(self, max_records: int, timeout: float, max_bytes: int) -> list[Any]:
        """Messages in offset order per partition; errors and records below a floor dropped.

        Waits up to ``timeout`` for the first; then takes only what librdkafka already has.
        """
        self._subscribe()
        deadline = time.monotonic() + timeout
        out: list[Any] = []
        size = 0
        while len(out) < max_records and size < max_bytes:
            wait = 0.0 if out else max(0.0, deadline - time.monotonic())
            batch = self._consumer.consume(min(max_records - len(out), _SLICE), wait)
            if not batch:
                if out or time.monotonic() >= deadline:
                    break
                continue
            for m in batch:
                err = m.error()
                if err is not None:
                    if err.fatal():
                        raise BusError(f"Kafka consumer failed: {err}")
                    continue
                if m.offset() < self._floor.get(self._tp_of(m), 0):
                    continue
                out.append(m)
                size += len(m.value() or b"")
        return out

    def _tp_of(self, message: Any) -> TopicPartition:
        return TopicPartition(self._protocol[message.topic()], message.partition())

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        """Up to ``max_records`` records, in offset order per partition."""
        return [
            Record(tp.topic, tp.partition, m.offset(), m.value() or b"", m.key())
            for m in self._fetch(max_records, timeout, 1 << 62)
            for tp in (self._tp_of(m),)
        ]

    def poll_chunks(
        self, max_records: int, timeout: float, max_bytes: int = 1 << 62
    ) -> list[Chunk]:
        """Like :meth:`poll` as runs of consecutive offsets, one block of values each."""
        runs: dict[TopicPartition, list[tuple[int, list[bytes]]]] = {}
        for m in self._fetch(max_records, timeout, max_bytes):
            tp, offset = self._tp_of(m), m.offset()
            parts = runs.setdefault(tp, [])
            if parts and parts[-1][0] + len(parts[-1][1]) == offset:
                parts[-1][1].append(m.value() or b"")
            else:  # a gap (compaction, transaction markers) starts a new chunk
                parts.append((offset, [m.value() or b""]))
        return [
            Chunk(
                tp,
                first,
                len(values),
                memoryview(b"".join(itertools.chain.from_iterable((v, b"\n") for v in values))),
                np.fromiter(map(len, values), dtype=np.uint32, count=len(values)),
            )
            for tp, parts in runs.items()
            for first, values in parts
        ]

    def watermarks(self) -> dict[TopicPartition, OffsetRange]:
        """Low and high watermark of every partition of the topics, asked of the brokers,
        the high one confirmed by reading the partition's last record batch (``_ends``)."""
        held = _held(self._consumer, self._cfg, tuple(self._names))
        ends = _ends(self._cfg, held)
        return {tp: OffsetRange(low, ends[tp]) for tp, (low, _) in held.items()}

    # -- offsets of the group ------------------------------------------------------------
    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Store next offsets for the group (advisory: the lake is the source of truth)."""
        ktps = [
            self._kafka.TopicPartition(self._names[tp.topic], tp.partition, off)
            for tp, off in offsets.items()
            if tp in self._assigned
        ]
        if not ktps:
            return
        try:
            self._consumer.commit(offsets=ktps, asynchronous=False)
        except self._kafka.KafkaException:
            pass  # a rebalance revoked the partition; its new owner starts from the lake

    def committed(self, tp: TopicPartition) -> int:
        """The group's stored next offset for ``tp`` (0 when none)."""
        ktp = self._kafka.TopicPartition(self._names[tp.topic], tp.partition)
        result = self._consumer.committed([ktp], timeout=_REQUEST_TIMEOUT)
        offset = int(result[0].offset) if result else -1
        return max(offset, 0)

    def close(self) -> None:
        """Leave the group, after letting a join in progress finish (see the module doc)."""
        if self._closed:
            return
        self._closing = True
        if self._subscribed and not self._in_group:
            deadline = time.monotonic() + self._join_timeout
            while not self._in_group and time.monotonic() < deadline:
                self._consumer.consume(_SLICE, 0.1)  # dropped: nothing is committed
        self._closed = True
        self._consumer.close()


def _watermarks(kafka: Any, consumer: Any, name: str, partition: int) -> tuple[int, int]:
    try:
        low, high = consumer.get_watermark_offsets(
            kafka.TopicPartition(name, partition), timeout=_REQUEST_TIMEOUT, cached=False
        )
    except kafka.KafkaException as exc:
        raise BusError(
            f"cannot read the offsets of Kafka topic {name} [{partition}]: {exc}"
        ) from exc
    return int(low), int(high)


def kafka_committed(cfg: BusConfig, group: str, topics: Sequence[str]) -> dict[TopicPartition, int]:
    """The offsets ``group`` committed, read without joining it."""
    kafka = client()
    names = topic_names(cfg)
    consumer = kafka.Consumer({"group.id": group, "enable.auto.commit": False, **base_conf(cfg)})
    try:
        ktps = [
            kafka.TopicPartition(names[t], p)
            for t in topics
            for p in partitions_of(consumer, names[t], cfg.bootstrap_servers)
        ]
        if not ktps:
            return {}
        try:
            result = consumer.committed(ktps, timeout=_REQUEST_TIMEOUT)
        except kafka.KafkaException as exc:
            raise BusError(f"cannot read the offsets of group {group!r}: {exc}") from exc
        protocol = {v: k for k, v in names.items()}
        return {
            TopicPartition(protocol[k.topic], k.partition): int(k.offset)
            for k in result
            if k.offset >= 0
        }
    finally:
        consumer.close()


def _scan(
    cfg: BusConfig,
    starts: Mapping[TopicPartition, int],
    visit: Callable[[TopicPartition, int, bytes], None],
    *,
    stall_timeout: float = 30.0,
) -> dict[TopicPartition, int]:
    """Read each partition from ``starts[tp]`` to its end; return the offset after the last
    record read (``starts[tp]`` when none). ``visit`` sees every record.

    Reads with a consumer of its own that joins no group (``assign``) and commits nothing;
    memory is librdkafka's fetch queue. It reads to the end of the partition (partition
    EOF) rather than to the high watermark, because the tansu broker (0.6.0) the tests use
    reports the high watermark as the *first* offset of the last record batch plus one (a
    batch of 40 records at offsets 0-39 gives 1); Apache Kafka gives 40, and there this
    costs one fetch per partition.
    """
    if not starts:
        return {}
    kafka = client()
    names = topic_names(cfg)
    protocol = {v: k for k, v in names.items()}
    consumer = kafka.Consumer(
        {
            "group.id": f"eventlake-scan-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            # a start past the end (a recreated topic) reads nothing instead of everything
            "auto.offset.reset": "latest",
            "queued.max.messages.kbytes": 16 * 1024,
            **base_conf(cfg),
        }
    )
    try:
        ends = dict(starts)
        consumer.assign(
            [kafka.TopicPartition(names[tp.topic], tp.partition, off) for tp, off in starts.items()]
        )
        todo = set(starts)
        progressed = time.monotonic()
        while todo:
            for m in consumer.consume(1000, 0.5):
                tp = TopicPartition(protocol[m.topic()], m.partition())
                err = m.error()
                if err is not None:
                    if err.code() == kafka.KafkaError._PARTITION_EOF:
                        todo.discard(tp)
                        progressed = time.monotonic()
                    elif err.fatal():
                        raise BusError(f"Kafka consumer failed: {err}")
                    continue
                if tp not in todo or m.offset() < starts[tp]:
                    continue
                progressed = time.monotonic()
                visit(tp, m.offset(), m.value() or b"")
                ends[tp] = max(ends[tp], m.offset() + 1)
            if todo and time.monotonic() - progressed > stall_timeout:
                raise BusError(
                    f"reading Kafka at {cfg.bootstrap_servers}: no record of "
                    f"{sorted(f'{tp.topic}/{tp.partition}' for tp in todo)} in "
                    f"{stall_timeout:.0f} s"
                )
        return ends
    finally:
        consumer.close()


def _held(
    handle: Any, cfg: BusConfig, topics: Sequence[str]
) -> dict[TopicPartition, tuple[int, int]]:
    """(low, high) watermark of every partition of ``topics`` that exists, via ``handle``."""
    kafka = client()
    names = topic_names(cfg)
    return {
        TopicPartition(topic, p): _watermarks(kafka, handle, names[topic], p)
        for topic in topics
        for p in partitions_of(handle, names[topic], cfg.bootstrap_servers)
    }


def _ends(
    cfg: BusConfig, held: Mapping[TopicPartition, tuple[int, int]]
) -> dict[TopicPartition, int]:
    """The offset after each partition's last record: its high watermark, confirmed by
    reading the last record batch (the tansu broker reports less, see :func:`_scan`)."""
    probe = {tp: max(low, high - 1) for tp, (low, high) in held.items() if high > low}
    read = _scan(cfg, probe, lambda tp, offset, value: None)
    return {tp: max(high, read.get(tp, high)) for tp, (_, high) in held.items()}


def kafka_backlog(
    cfg: BusConfig, after: Mapping[TopicPartition, int], topics: Sequence[str]
) -> list[Backlog]:
    """Per partition: the events in the records from ``after[tp]`` to the partition's end,
    read and counted one record at a time (``record_rows``), so memory stays bounded.
    Creates no topic and joins no group."""
    from eventlake.bus.records import record_rows  # pyarrow: only when counting

    kafka = client()
    handle = kafka.Consumer({"group.id": "eventlake-backlog", **base_conf(cfg)})
    try:
        held = _held(handle, cfg, topics)
    finally:
        handle.close()
    if not held:
        names = topic_names(cfg)
        raise BusError(
            f"no Kafka topic {', '.join(names[t] for t in topics)} at {cfg.bootstrap_servers} "
            "(nothing produced yet?)"
        )
    ends = _ends(cfg, held)
    starts = {tp: max(after.get(tp, 0), low) for tp, (low, _) in held.items()}
    events = dict.fromkeys(held, 0)

    def count(tp: TopicPartition, offset: int, value: bytes) -> None:
        events[tp] += record_rows(value)

    # a fetch past the end waits on tansu instead of failing: read only what is there
    read = _scan(cfg, {tp: start for tp, start in starts.items() if start < ends[tp]}, count)
    return [
        Backlog(tp, start, max(ends[tp], read.get(tp, 0)), events[tp])
        for tp, start in starts.items()
    ]
