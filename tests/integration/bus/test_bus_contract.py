"""The bus protocol, run against every backend (see conftest.BACKENDS)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest

from eventlake.bus import (
    EVENTS,
    QUARANTINE,
    Bus,
    Consumer,
    Producer,
    TopicPartition,
    open_bus,
    open_consumer,
    open_producer,
)
from eventlake.config import Settings
from eventlake.errors import BusError

pytestmark = pytest.mark.integration


def _drain(consumer: Consumer, expected: int, timeout: float = 30.0) -> list:
    out: list = []
    deadline = time.monotonic() + timeout
    while len(out) < expected and time.monotonic() < deadline:
        out.extend(consumer.poll(10_000, 0.2))
    return out


def test_backend_implements_the_protocol(bus_settings: Settings) -> None:
    producer = open_producer(bus_settings)
    consumer = open_consumer(bus_settings, "g")
    try:
        assert isinstance(producer, Producer)
        assert isinstance(consumer, Consumer)
        deadline = time.monotonic() + 20
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(10, 0.5)  # group backends learn their assignment while polling
        topics = {tp.topic for tp in consumer.assignment()}
        assert topics == {EVENTS, QUARANTINE}
    finally:
        producer.close()
        consumer.close()


def test_append_returns_dense_offsets_and_poll_reads_them_in_order(
    bus_settings: Settings,
) -> None:
    producer = open_producer(bus_settings)
    values = [f'{{"n":{i}}}'.encode() for i in range(300)]
    keys = [f"user-{i % 7}".encode() for i in range(300)]
    acks = producer.append(EVENTS, values, keys)
    acks += producer.append(EVENTS, values[:5])
    producer.close()
    assert len(acks) == 305
    per_partition: dict[int, list[int]] = defaultdict(list)
    for p, off in acks:
        per_partition[p].append(off)
    for offs in per_partition.values():
        assert offs == list(range(len(offs)))
    key_partition: dict[bytes, set[int]] = defaultdict(set)
    for (p, _), k in zip(acks[:300], keys, strict=True):
        key_partition[k].add(p)
    assert all(len(ps) == 1 for ps in key_partition.values())

    consumer = open_consumer(bus_settings, "reader", topics=[EVENTS])
    records = _drain(consumer, 305)
    consumer.close()
    assert len(records) == 305
    by_tp: dict[int, list[int]] = defaultdict(list)
    for r in records:
        assert r.topic == EVENTS
        by_tp[r.partition].append(r.offset)
    for offs in by_tp.values():
        assert offs == sorted(offs)
    got = {(r.partition, r.offset): r.value for r in records}
    sent = dict(zip(acks, values + values[:5], strict=True))
    assert got == sent


def test_commit_is_per_group_and_a_new_consumer_resumes_there(bus_settings: Settings) -> None:
    producer = open_producer(bus_settings)
    acks = producer.append(EVENTS, [b'{"i":%d}' % i for i in range(50)], [b"k"] * 50)
    producer.close()
    partition = acks[0][0]
    tp = TopicPartition(EVENTS, partition)

    first = open_consumer(bus_settings, "a", topics=[EVENTS])
    assert first.committed(tp) == 0
    records = _drain(first, 50)
    assert [r.offset for r in records] == list(range(50))
    first.commit({tp: 20})
    assert first.committed(tp) == 20
    first.close()

    again = open_consumer(bus_settings, "a", topics=[EVENTS])
    assert [r.offset for r in _drain(again, 30)] == list(range(20, 50))
    again.close()
    other = open_consumer(bus_settings, "b", topics=[EVENTS])
    assert other.committed(tp) == 0
    assert len(_drain(other, 50)) == 50
    other.close()


def test_seek_rereads_from_any_offset(bus_settings: Settings) -> None:
    producer = open_producer(bus_settings)
    acks = producer.append(QUARANTINE, [b'{"i":%d}' % i for i in range(40)], [b"k"] * 40)
    producer.close()
    tp = TopicPartition(QUARANTINE, acks[0][0])
    consumer = open_consumer(bus_settings, "s", topics=[QUARANTINE])
    assert len(_drain(consumer, 40)) == 40
    consumer.seek(tp, 33)
    assert [r.offset for r in _drain(consumer, 7)] == list(range(33, 40))
    consumer.seek(tp, 0)
    assert [r.value for r in _drain(consumer, 40)][:2] == [b'{"i":0}', b'{"i":1}']
    consumer.close()


def test_poll_on_an_empty_bus_returns_nothing(bus_settings: Settings) -> None:
    consumer = open_consumer(bus_settings, "empty")
    assert consumer.poll(100, 0.05) == []
    consumer.close()


def test_concurrent_threads_get_distinct_offsets_and_every_record_reads_back(
    bus_settings: Settings,
) -> None:
    producer = open_producer(bus_settings)
    results: list[list[tuple[int, int]]] = [[] for _ in range(8)]

    def worker(n: int) -> None:
        for j in range(20):
            vals = [f'{{"w":{n},"j":{j},"i":{i}}}'.encode() for i in range(25)]
            results[n].extend(producer.append(EVENTS, vals, [f"u{i}".encode() for i in range(25)]))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    producer.close()
    acks = [a for r in results for a in r]
    assert len(acks) == len(set(acks)) == 8 * 20 * 25
    consumer = open_consumer(bus_settings, "c", topics=[EVENTS])
    records = _drain(consumer, len(acks))
    consumer.close()
    assert {(r.partition, r.offset) for r in records} == set(acks)


def _arrow_record(n: int, tag: str) -> bytes:
    from eventlake.bus.records import encode_arrow_batch

    return encode_arrow_batch(
        {"message_id": [f"{tag}-{i}" for i in range(n)], "type": ["track"] * n},
        compression="lz4",
    )


def test_the_factory_returns_a_bus_that_opens_protocol_objects(bus_settings: Settings) -> None:
    bus = open_bus(bus_settings.bus, bus_settings.base_dir)
    assert isinstance(bus, Bus)
    assert bus.config == bus_settings.bus
    assert bus_settings.bus.backend in bus.describe()
    producer = bus.producer()
    consumer = bus.consumer("protocol", [EVENTS])
    try:
        assert isinstance(producer, Producer)
        assert isinstance(consumer, Consumer)
    finally:
        producer.close()
        consumer.close()


def test_poll_chunks_hands_out_runs_of_consecutive_records(bus_settings: Settings) -> None:
    producer = open_producer(bus_settings)
    values = [b'{"n":%d,"note":"a\\nb"}' % i for i in range(200)]
    values[7] = _arrow_record(5, "arrow")  # binary, newlines and all
    keys = [f"user-{i % 5}".encode() for i in range(200)]
    acks = producer.append(EVENTS, values, keys)
    producer.close()
    sent = dict(zip(acks, values, strict=True))

    consumer = open_consumer(bus_settings, "chunks", topics=[EVENTS])
    got: dict[tuple[int, int], bytes] = {}
    deadline = time.monotonic() + 30
    while len(got) < len(sent) and time.monotonic() < deadline:
        for chunk in consumer.poll_chunks(60, 0.2):
            assert chunk.tp.topic == EVENTS and chunk.count == len(chunk.value_lens) > 0
            assert chunk.count <= 60
            block = bytes(chunk.values)
            at = 0
            for i, n in enumerate(chunk.value_lens.tolist()):
                assert block[at + n : at + n + 1] == b"\n"
                got[(chunk.tp.partition, chunk.first_offset + i)] = block[at : at + n]
                at += n + 1
            assert at == len(block)
            assert chunk.last_offset == chunk.first_offset + chunk.count - 1
    consumer.close()
    assert got == sent


def test_watermarks_give_every_partitions_end_without_reading(bus_settings: Settings) -> None:
    producer = open_producer(bus_settings)
    acks = producer.append(EVENTS, [b'{"i":%d}' % i for i in range(40)], [b"one-key"] * 40)
    acks += producer.append(QUARANTINE, [b'{"q":1}'], [b"k"])
    producer.close()
    consumer = open_consumer(bus_settings, "marks")
    try:
        marks = consumer.watermarks()
    finally:
        consumer.close()
    partitions = bus_settings.bus.partitions
    assert set(marks) == {
        TopicPartition(t, p) for t in (EVENTS, QUARANTINE) for p in range(partitions)
    }
    events_partition, quarantine_partition = acks[0][0], acks[-1][0]
    for tp, held in marks.items():
        expected = {
            TopicPartition(EVENTS, events_partition): 40,
            TopicPartition(QUARANTINE, quarantine_partition): 1,
        }.get(tp, 0)
        assert (held.first, held.end) == (0, expected), tp


def test_backlog_counts_the_events_inside_waiting_records(bus_settings: Settings) -> None:
    bus = open_bus(bus_settings.bus, bus_settings.base_dir)
    with pytest.raises(BusError, match="nothing"):  # no log yet: unknown, not "0 waiting"
        bus.backlog({})
    producer = bus.producer()
    json_acks = producer.append(EVENTS, [b'{"i":%d}' % i for i in range(30)], [b"u1"] * 30)
    arrow_acks = producer.append(
        EVENTS, [_arrow_record(100, "a"), _arrow_record(250, "b")], [b"u2", b"u2"]
    )
    producer.append(QUARANTINE, [b'{"bad":1}'] * 4, [b"u3"] * 4)
    producer.close()

    def waiting(after: dict[TopicPartition, int]) -> dict[TopicPartition, tuple[int, int]]:
        return {b.tp: (b.records, b.events) for b in bus.backlog(after) if b.records}

    json_tp = TopicPartition(EVENTS, json_acks[0][0])
    arrow_tp = TopicPartition(EVENTS, arrow_acks[0][0])
    everything = waiting({})
    assert sum(e for _, e in everything.values()) == 30 + 350 + 4
    assert sum(r for r, _ in everything.values()) == 30 + 2 + 4
    assert {b.tp for b in bus.backlog({})} == {
        TopicPartition(t, p)
        for t in (EVENTS, QUARANTINE)
        for p in range(bus_settings.bus.partitions)
    }
    if json_tp != arrow_tp:
        assert everything[json_tp] == (30, 30)
        assert everything[arrow_tp] == (2, 350)

    # past a group's committed offsets: what the group has not consumed yet
    consumer = bus.consumer("half", [EVENTS])
    _drain(consumer, 32)
    consumer.commit({json_tp: json_acks[20][1] + 1, arrow_tp: arrow_acks[1][1]})
    consumer.close()
    committed = bus.committed("half", [EVENTS])
    assert committed[json_tp] == json_acks[20][1] + 1
    assert committed[arrow_tp] == arrow_acks[1][1]
    left = waiting(committed)
    assert sum(e for tp, (_, e) in left.items() if tp.topic == EVENTS) == 9 + 250
    assert bus.committed("nobody", [EVENTS]) == {}
    # past the end: nothing waits
    assert waiting({tp: 10_000 for tp in everything}) == {}
