"""The local log: torn tails, segments, back-pressure, compaction, the factory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from eventlake.bus import EVENTS, TopicPartition, open_consumer, open_producer
from eventlake.bus.local import LocalConsumer, LocalProducer, list_segments, partition_dir
from eventlake.bus.local_admin import compact, status
from eventlake.config import load_config
from eventlake.errors import AppendTooLargeError, BusCorruptError, BusFullError, ConfigError

TP0 = TopicPartition(EVENTS, 0)


def _values(n: int, start: int = 0) -> list[bytes]:
    return [b'{"i":%d}' % i for i in range(start, start + n)]


def _read_all(root: Path, group: str = "t") -> list[bytes]:
    c = LocalConsumer(root, group, [EVENTS], partitions=1)
    out = []
    while batch := c.poll(100_000, 0.0):
        out.extend(r.value for r in batch)
    c.close()
    return out


def test_torn_tail_is_ignored_by_readers_and_cut_by_the_next_writer(tmp_path: Path) -> None:
    p = LocalProducer(tmp_path, partitions=1)
    p.append(EVENTS, _values(10))
    p.close()
    seg = partition_dir(tmp_path, TP0) / "00000000000000000000.seg"
    good_size = seg.stat().st_size
    with open(seg, "ab") as fh:  # a killed writer's half frame
        fh.write(b"ELB1\x40\x00\x00\x00garbage")
    assert _read_all(tmp_path) == _values(10)

    p = LocalProducer(tmp_path, partitions=1)
    acks = p.append(EVENTS, _values(5, 10))
    p.close()
    assert [o for _, o in acks] == list(range(10, 15))
    assert seg.stat().st_size > good_size
    assert _read_all(tmp_path) == _values(15)


def test_corruption_before_the_end_of_a_finished_segment_is_an_error(tmp_path: Path) -> None:
    p = LocalProducer(tmp_path, partitions=1, segment_bytes=200)
    for i in range(6):
        p.append(EVENTS, _values(10, 10 * i))
    p.close()
    pdir = partition_dir(tmp_path, TP0)
    first = pdir / f"{list_segments(pdir)[0]:020d}.seg"
    data = bytearray(first.read_bytes())
    data[30] ^= 0xFF
    first.write_bytes(bytes(data))
    with pytest.raises(BusCorruptError):
        _read_all(tmp_path)


def test_segments_roll_and_reads_cross_them(tmp_path: Path) -> None:
    p = LocalProducer(tmp_path, partitions=1, segment_bytes=300)
    for i in range(20):
        p.append(EVENTS, _values(7, 7 * i))
    p.close()
    assert len(list_segments(partition_dir(tmp_path, TP0))) > 3
    assert _read_all(tmp_path) == _values(140)
    c = LocalConsumer(tmp_path, "seek", [EVENTS], partitions=1)
    c.seek(TP0, 100)
    assert [r.offset for r in c.poll(1000, 0.0)][:3] == [100, 101, 102]
    c.close()


def test_disk_cap_raises_bus_full(tmp_path: Path) -> None:
    p = LocalProducer(tmp_path, partitions=1, max_bytes=100)
    p.append(EVENTS, _values(50))
    p._disk_checked = 0.0  # re-measure now rather than after a second
    with pytest.raises(BusFullError, match="bus compact"):
        p.append(EVENTS, _values(1))
    p.close()


def test_an_append_larger_than_the_pending_cap_is_terminal_not_bus_full(tmp_path: Path) -> None:
    p = LocalProducer(tmp_path, partitions=1, max_pending_bytes=10)
    # it can never fit, even with nothing pending: not the retryable BusFullError
    with pytest.raises(AppendTooLargeError) as info:
        p.append(EVENTS, [b"x" * 100])
    assert not isinstance(info.value, BusFullError)
    assert "bus.max_pending_bytes = 10" in str(info.value)
    assert p.append(EVENTS, [b"x" * 10]) == [(0, 0)]
    p.close()


def test_compact_deletes_only_what_every_group_consumed(tmp_path: Path) -> None:
    p = LocalProducer(tmp_path, partitions=1, segment_bytes=300)
    for i in range(20):
        p.append(EVENTS, _values(7, 7 * i))
    p.close()
    assert compact(tmp_path).segments_deleted == 0  # nobody consumed anything yet
    fast = LocalConsumer(tmp_path, "fast", [EVENTS], partitions=1)
    slow = LocalConsumer(tmp_path, "slow", [EVENTS], partitions=1)
    fast.commit({TP0: 140})
    slow.commit({TP0: 60})
    first = compact(tmp_path)
    assert first.segments_deleted > 0
    st = status(tmp_path)[0]
    assert 0 < st.start_offset <= 60
    assert st.end_offset == 140
    assert st.committed == {"fast": 140, "slow": 60}
    assert _read_all(tmp_path, "newcomer")[0] == b'{"i":%d}' % st.start_offset
    slow.commit({TP0: 140})
    compact(tmp_path)
    segs = list_segments(partition_dir(tmp_path, TP0))
    assert len(segs) == 1  # the live segment always stays
    p = LocalProducer(tmp_path, partitions=1, segment_bytes=300)
    assert p.append(EVENTS, _values(1, 140)) == [(0, 140)]
    p.close()
    assert compact(tmp_path).segments_deleted == 0  # idempotent
    fast.close()
    slow.close()


def test_factory_builds_local_backend_from_settings(tmp_path: Path) -> None:
    settings = load_config(None, base_dir=tmp_path, bus={"path": "b", "partitions": 2})
    producer = open_producer(settings)
    producer.append(EVENTS, _values(3), [b"a", b"b", b"c"])
    producer.close()
    consumer = open_consumer(settings, "g", topics=[EVENTS])
    assert len(consumer.assignment()) == 2
    assert sorted(r.value for r in consumer.poll(10, 0.0)) == sorted(_values(3))
    consumer.close()
    assert (tmp_path / "b" / "topics" / EVENTS / "meta.json").is_file()


def test_kafka_backend_unavailable_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "eventlake.bus.kafka", None)  # import fails
    settings = load_config(None, base_dir=tmp_path, bus={"backend": "kafka"})
    with pytest.raises(ConfigError, match="eventlake\\[kafka\\]"):
        open_producer(settings)
    with pytest.raises(ConfigError, match="Kafka backend is not available"):
        open_consumer(settings, "g")


def test_append_checks_keys_length(tmp_path: Path) -> None:
    p = LocalProducer(tmp_path)
    with pytest.raises(Exception, match="2 values but 1 keys"):
        p.append(EVENTS, [b"{}", b"{}"], [b"k"])
    assert p.append(EVENTS, []) == []
    p.close()
    assert not any(f.endswith(".seg") for _, _, fs in os.walk(tmp_path) for f in fs)


def test_a_tail_cut_at_any_byte_reads_as_a_prefix_and_appends_continue(tmp_path: Path) -> None:
    import random
    import shutil

    src = tmp_path / "src"
    p = LocalProducer(src, partitions=1)
    for i in range(12):
        p.append(EVENTS, _values(5, 5 * i))
    p.close()
    seg_rel = Path("topics") / EVENTS / "0000" / "00000000000000000000.seg"
    size = (src / seg_rel).stat().st_size
    rng = random.Random(3)
    for n, cut in enumerate(sorted(rng.sample(range(size), 25))):
        root = tmp_path / f"cut{n}"
        shutil.copytree(src, root)
        with open(root / seg_rel, "r+b") as fh:
            fh.truncate(cut)
        got = _read_all(root)
        assert got == _values(len(got))  # a prefix of whole appends, never a torn record
        assert len(got) % 5 == 0
        p = LocalProducer(root, partitions=1)
        assert p.append(EVENTS, [b'{"after":1}']) == [(0, len(got))]
        p.close()
        assert _read_all(root) == [*_values(len(got)), b'{"after":1}']
