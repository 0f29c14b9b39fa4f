"""Collector request records in the lander's converter: expanded in order, damage quarantined."""

from __future__ import annotations

import json

import msgspec
import numpy as np

from eventlake.bus.base import EVENTS, TopicPartition
from eventlake.bus.request_records import RequestHeader, encode_request_record
from eventlake.lake import EVENT_SCHEMA
from eventlake.land.convert import UNREADABLE, Run, convert_runs


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


def _request(ids: list[int]) -> bytes:
    events = [
        msgspec.Raw(
            msgspec.json.encode(
                {
                    "type": "track",
                    "event": "Level Completed",
                    "messageId": f"m{i}",
                    "userId": "u",
                    "originalTimestamp": "2026-11-20T10:00:00Z",
                    "sentAt": "2026-11-20T10:00:05Z",
                    "properties": {"note": "a\nb"},
                }
            )
        )
        for i in ids
    ]
    header = RequestHeader(
        received_at="2026-11-20T10:00:06.000000Z", count=len(ids), source="web", ip="192.0.2.1"
    )
    return encode_request_record(header, events)


def _run(tp: TopicPartition, first: int, values: list[bytes]) -> Run:
    return Run(
        tp,
        np.arange(first, first + len(values), dtype=np.int64),
        b"".join(v + b"\n" for v in values),
        np.array([len(v) for v in values], dtype=np.uint32),
    )


def test_request_records_mixed_with_json_keep_order_offsets_and_enrichment() -> None:
    tp = TopicPartition(EVENTS, 3)
    values = [_json(0), _request([1, 2, 3]), _json(4), _request([5])]
    (conv,) = convert_runs([_run(tp, 7, values)])
    table = conv.table
    assert table.schema == EVENT_SCHEMA
    assert table.column("message_id").to_pylist() == [f"m{i}" for i in range(6)]
    assert table.column("bus_offset").to_pylist() == [7, 8, 8, 8, 9, 10]
    row = table.slice(1, 1).to_pylist()[0]
    # clock skew corrected against the receive time kept in the record's header
    assert row["timestamp"].isoformat() == "2026-11-20T10:00:01+00:00"
    assert row["source"] == "web" and row["ip"] == "192.0.2.1"
    assert json.loads(row["properties"]) == {"note": "a\nb"}
    assert json.loads(row["context"]) == {"ip": "192.0.2.1"}
    assert conv.bad.num_rows == 0


def test_a_damaged_request_record_is_quarantined_whole_and_the_rest_lands() -> None:
    tp = TopicPartition(EVENTS, 0)
    broken = _request([1, 2])[:-5]
    invalid = encode_request_record(
        RequestHeader(received_at="2026-11-20T10:00:06.000000Z", count=1),
        [msgspec.Raw(b'{"type":"track","event":"E","messageId":"x"}')],  # no id: not accepted
    )
    (conv,) = convert_runs([_run(tp, 0, [_json(0), broken, invalid, _json(3)])])
    assert conv.table.column("message_id").to_pylist() == ["m0", "m3"]
    bad = conv.bad.to_pylist()
    assert [b["bus_offset"] for b in bad] == [1, 2]
    assert {b["reason_code"] for b in bad} == {UNREADABLE}
    assert "missing_id" in bad[1]["reason"]
    assert '"messageId":"x"' in bad[1]["raw"]
