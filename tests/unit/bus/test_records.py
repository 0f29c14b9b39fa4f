"""Bus record encodings: Arrow IPC records round-trip, are told from JSON, and count rows."""

from __future__ import annotations

import datetime as dt
import io
import json
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pj
import pytest

from eventlake.bus.kafka import murmur2
from eventlake.bus.local import LocalProducer
from eventlake.bus.records import (
    EVENT_INPUT_SCHEMA,
    RecordFormatError,
    decode_arrow_record,
    encode_arrow_batch,
    is_arrow,
    record_events,
    record_rows,
)
from eventlake.errors import BusError
from eventlake.spec import prepare_events

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


def test_prepared_events_round_trip_through_one_arrow_record() -> None:
    raw = [
        {"type": "track", "event": "E\n2", "userId": f"u{i}", "properties": {"i": i}}
        for i in range(5)
    ]
    batch = prepare_events(raw, received_at=NOW, source="web", ip="1.2.3.4")
    table = pj.read_json(
        io.BytesIO(b"\n".join(r.replace(b"\n", b" ") for r in batch.records)),
        parse_options=pj.ParseOptions(explicit_schema=EVENT_INPUT_SCHEMA),
    )
    value = encode_arrow_batch(table)
    assert is_arrow(value) and not is_arrow(batch.records[0])
    assert record_rows(value) == 5 and record_rows(batch.records[0]) == 1
    decoded = decode_arrow_record(memoryview(b"x" + value)[1:])  # unaligned, as in a frame
    assert decoded.schema == EVENT_INPUT_SCHEMA
    assert decoded.column("user_id").to_pylist() == [f"u{i}" for i in range(5)]
    assert decoded.column("received_at").to_pylist() == [NOW] * 5
    # the JSON form and the Arrow form of the same events say the same thing
    assert record_events(value) == [json.loads(r) for r in batch.records]
    assert record_events(batch.records[0]) == [json.loads(batch.records[0])]


def test_missing_optional_columns_are_null_and_extra_columns_ignored() -> None:
    value = encode_arrow_batch(
        pa.table(
            {
                "message_id": ["m"],
                "type": ["track"],
                "timestamp": pa.array([NOW], pa.timestamp("ns", tz="UTC")),
                "received_at": [NOW],
                "extra": [1],
            }
        )
    )
    table = decode_arrow_record(value)
    assert table.num_rows == 1 and table.column("event").to_pylist() == [None]


def test_unreadable_arrow_records_raise_a_clear_error() -> None:
    with pytest.raises(RecordFormatError, match="not an Arrow IPC stream"):
        decode_arrow_record(b"\xff\xff\xff\xffgarbage")
    with pytest.raises(RecordFormatError, match="not an Arrow IPC stream"):
        record_rows(b"\xff\xff\xff\xffgarbage")
    no_ids = encode_arrow_batch(
        {"message_id": [None], "type": ["track"], "timestamp": [NOW], "received_at": [NOW]}
    )
    with pytest.raises(RecordFormatError, match="'message_id' is null"):
        decode_arrow_record(no_ids)
    sink = pa.BufferOutputStream()
    other = pa.table({"type": ["track"]})
    with pa.ipc.new_stream(sink, other.schema) as w:
        w.write_table(other)
    with pytest.raises(RecordFormatError, match="'message_id' is missing"):
        decode_arrow_record(sink.getvalue())


def test_murmur2_matches_the_kafka_java_client() -> None:
    # test vectors of org.apache.kafka.common.utils.UtilsTest.testMurmur2
    vectors = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    for key, signed in vectors.items():
        assert murmur2(key) == signed & 0xFFFFFFFF, key


def test_explicit_partitions_on_the_local_bus(tmp_path: Path) -> None:
    producer = LocalProducer(tmp_path, partitions=4)
    out = producer.append("events", [b"{}", b"{}", b"{}"], [b"k", b"k", None], partitions=[3, 0, 3])
    assert out == [(3, 0), (0, 0), (3, 1)]
    assert producer.partition_for("events", b"k") == zlib.crc32(b"k") % 4
    with pytest.raises(BusError, match="partitions 0..3"):
        producer.append("events", [b"{}"], partitions=[4])
    producer.close()
