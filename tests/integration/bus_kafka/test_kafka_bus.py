"""Kafka backend specifics against a real Kafka-protocol broker (tansu on 127.0.0.1)."""

from __future__ import annotations

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
