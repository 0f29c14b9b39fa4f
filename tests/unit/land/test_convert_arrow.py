"""Arrow bus records in the lander's converter: mixed with JSON, in order, bad ones kept."""

from __future__ import annotations

import base64
import datetime as dt
import json

from eventlake.bus.base import EVENTS, TopicPartition
from eventlake.bus.records import encode_arrow_batch
from eventlake.lake import EVENT_SCHEMA
from eventlake.land.convert import UNREADABLE, Run, convert_runs

T = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)


def _json(i: int) -> bytes:
    return json.dumps(
        {
            "message_id": f"m{i}",
            "type": "track",
            "user_id": "u",
            "timestamp": "2026-11-20T10:00:00.000000Z",
            "received_at": "2026-11-21T00:00:00.000000Z",
        }
    ).encode()


def _arrow(ids: list[int]) -> bytes:
    return encode_arrow_batch(
        {
            "message_id": [f"m{i}" for i in ids],
            "type": ["track"] * len(ids),
            "user_id": ["u"] * len(ids),
            # newlines inside an Arrow record must not confuse the record boundaries
            "properties": ['{"note": "a\\nb"}\n'] * len(ids),
            "timestamp": [T] * len(ids),
            "received_at": [T] * len(ids),
        }
    )


_run = Run.of


def test_mixed_records_keep_order_and_each_arrow_row_gets_its_record_offset() -> None:
    tp = TopicPartition(EVENTS, 1)
    values = [_json(0), _arrow([1, 2, 3]), _json(4), _json(5), _arrow([6, 7]), _json(8)]
    (conv,) = convert_runs([_run(tp, 10, values[:3]), _run(tp, 13, values[3:])])
    assert conv.table.schema == EVENT_SCHEMA
    assert conv.table.column("message_id").to_pylist() == [f"m{i}" for i in range(9)]
    assert conv.table.column("bus_offset").to_pylist() == [10, 11, 11, 11, 12, 13, 14, 14, 15]
    assert set(conv.table.column("bus_partition").to_pylist()) == {1}
    assert conv.table.column("properties").to_pylist()[1] == '{"note": "a\\nb"}\n'
    assert (conv.first_offset, conv.last_offset, conv.bad.num_rows) == (10, 15, 0)


def test_only_arrow_records() -> None:
    tp = TopicPartition(EVENTS, 0)
    (conv,) = convert_runs([_run(tp, 0, [_arrow(list(range(100))), _arrow([100])])])
    assert conv.table.num_rows == 101
    assert conv.table.column("bus_offset").to_pylist() == [0] * 100 + [1]


def test_an_unreadable_arrow_record_is_quarantined_whole_and_good_data_lands() -> None:
    tp = TopicPartition(EVENTS, 2)
    garbage = b"\xff\xff\xff\xff\x10\x00\x00\x00not arrow"
    null_ids = encode_arrow_batch(
        {
            "message_id": [None, "x"],
            "type": ["track"] * 2,
            "timestamp": [T] * 2,
            "received_at": [T] * 2,
        }
    )
    values = [_json(0), garbage, b"{not json", null_ids, _arrow([5])]
    (conv,) = convert_runs([_run(tp, 0, values)])
    assert conv.table.column("message_id").to_pylist() == ["m0", "m5"]
    assert conv.table.column("bus_offset").to_pylist() == [0, 4]
    bad = conv.bad.to_pylist()
    assert [b["bus_offset"] for b in bad] == [1, 2, 3]
    assert {b["reason_code"] for b in bad} == {UNREADABLE}
    assert "Arrow record" in bad[0]["reason"] and "events/2@1" in bad[0]["reason"]
    assert base64.b64decode(bad[0]["raw"].removeprefix("base64:")) == garbage
    assert bad[1]["raw"] == "{not json"
    assert "'message_id' is null" in bad[2]["reason"]
