"""Kafka backend specifics against a real Kafka-protocol broker (tansu on 127.0.0.1)."""

from __future__ import annotations

import time
import uuid

import pytest

from eventlake.bus.base import EVENTS, QUARANTINE, TopicPartition
from eventlake.bus.kafka import KafkaConsumer, KafkaProducer
from eventlake.config import BusConfig

pytestmark = pytest.mark.integration


def _cfg(broker: str, partitions: int = 3) -> BusConfig:
    tag = uuid.uuid4().hex[:8]
    return BusConfig(
        backend="kafka",
        bootstrap_servers=broker,
        topic=f"ev-{tag}",
        quarantine_topic=f"q-{tag}",
        partitions=partitions,
    )


def _drain(consumer: KafkaConsumer, n: int, rounds: int = 60) -> list:
    out: list = []
    for _ in range(rounds):
        out.extend(consumer.poll(10_000, 0.5))
        if len(out) >= n:
            break
    return out


def test_append_is_acknowledged_with_offsets_and_keys_keep_one_partition(
    kafka_broker: str,
) -> None:
    cfg = _cfg(kafka_broker)
    producer = KafkaProducer(cfg)
    try:
        values = [f"v{i}".encode() for i in range(30)]
        keys = [b"user-a" if i % 2 else b"user-b" for i in range(30)]
        placed = producer.append(EVENTS, values, keys)
    finally:
        producer.close()
    assert len(placed) == 30
    parts_a = {placed[i][0] for i in range(30) if i % 2}
    parts_b = {placed[i][0] for i in range(30) if not i % 2}
    assert len(parts_a) == 1 and len(parts_b) == 1
    offsets_a = [placed[i][1] for i in range(30) if i % 2]
    assert offsets_a == sorted(offsets_a)


def test_consumer_reads_protocol_topic_names_and_honours_start_offsets(
    kafka_broker: str,
) -> None:
    cfg = _cfg(kafka_broker, partitions=1)
    producer = KafkaProducer(cfg)
    producer.append(EVENTS, [f"e{i}".encode() for i in range(10)])
    producer.append(QUARANTINE, [b"bad"])
    producer.close()

    consumer = KafkaConsumer(
        cfg,
        group=f"g-{uuid.uuid4().hex[:6]}",
        start_offsets=lambda tp: 4 if tp.topic == EVENTS else None,
    )
    try:
        records = _drain(consumer, 7)
        events = [r for r in records if r.topic == EVENTS]
        quarantined = [r for r in records if r.topic == QUARANTINE]
        assert [r.offset for r in events] == list(range(4, 10))
        assert [r.value for r in quarantined] == [b"bad"]
        assert TopicPartition(EVENTS, 0) in consumer.assignment()
        consumer.commit({TopicPartition(EVENTS, 0): 10})
        assert consumer.committed(TopicPartition(EVENTS, 0)) == 10
    finally:
        consumer.close()


def test_group_resumes_from_committed_offsets(kafka_broker: str) -> None:
    cfg = _cfg(kafka_broker, partitions=1)
    producer = KafkaProducer(cfg)
    producer.append(EVENTS, [f"e{i}".encode() for i in range(6)])
    group = f"g-{uuid.uuid4().hex[:6]}"
    first = KafkaConsumer(cfg, group, topics=(EVENTS,))
    got = _drain(first, 6)
    assert len(got) == 6
    first.commit({TopicPartition(EVENTS, 0): 6})
    first.close()
    producer.append(EVENTS, [b"e6", b"e7"])
    producer.close()
    second = KafkaConsumer(cfg, group, topics=(EVENTS,))
    try:
        assert [r.value for r in _drain(second, 2)] == [b"e6", b"e7"]
    finally:
        second.close()


def test_seek_drops_records_below_the_floor(kafka_broker: str) -> None:
    cfg = _cfg(kafka_broker, partitions=1)
    producer = KafkaProducer(cfg)
    producer.append(EVENTS, [f"e{i}".encode() for i in range(8)])
    producer.close()
    consumer = KafkaConsumer(cfg, f"g-{uuid.uuid4().hex[:6]}", topics=(EVENTS,))
    try:
        consumer.seek(TopicPartition(EVENTS, 0), 5)
        assert [r.offset for r in _drain(consumer, 3)] == [5, 6, 7]
    finally:
        consumer.close()


def _wait_for_assignment(consumer: KafkaConsumer, timeout: float) -> list[TopicPartition]:
    deadline = time.monotonic() + timeout
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(100, 0.2)
    return consumer.assignment()


def test_a_consumer_closed_in_the_middle_of_its_join_leaves_the_group_usable(
    kafka_broker: str,
) -> None:
    """Leaving while the JoinGroup waits at the coordinator wedged the group on tansu (every
    later member waited forever); close() now lets the join finish first."""
    cfg = _cfg(kafka_broker, partitions=2)
    group = f"g-{uuid.uuid4().hex[:6]}"
    early = KafkaConsumer(cfg, group)
    early.poll(100, 0.5)  # joining: the broker holds a new group's first join for ~3 s
    assert early.assignment() == []  # so this close happens in the middle of the join
    early.close()
    late = KafkaConsumer(cfg, group)
    try:
        # 30 s: well above a join here (~3 s), far below the wedge (no assignment ever)
        assigned = _wait_for_assignment(late, 30)
    finally:
        late.close()
    assert {(tp.topic, tp.partition) for tp in assigned} == {
        (t, p) for t in (EVENTS, QUARANTINE) for p in range(2)
    }


def test_a_consumer_that_never_polled_joins_nothing(kafka_broker: str) -> None:
    """Opened to read watermarks only (a one-shot land with nothing to do): no join, so
    nothing can be left half-joined, and closing costs no wait."""
    cfg = _cfg(kafka_broker, partitions=1)
    producer = KafkaProducer(cfg)
    producer.append(EVENTS, [b"a", b"b", b"c"], [b"k"] * 3)
    producer.close()
    group = f"g-{uuid.uuid4().hex[:6]}"
    idle = KafkaConsumer(cfg, group)
    marks = idle.watermarks()
    idle.close()
    assert (marks[TopicPartition(EVENTS, 0)].first, marks[TopicPartition(EVENTS, 0)].end) == (0, 3)
    assert idle.assignment() == []
    reader = KafkaConsumer(cfg, group)
    try:
        assert [r.value for r in _drain(reader, 3)] == [b"a", b"b", b"c"]
    finally:
        reader.close()
