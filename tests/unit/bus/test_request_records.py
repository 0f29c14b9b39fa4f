"""Request records: round trip, the header's count, dispatch in records.py, damage detected."""

from __future__ import annotations

import json

import msgspec
import pytest

from eventlake.bus.records import is_arrow, record_events, record_rows
from eventlake.bus.request_records import (
    RequestHeader,
    RequestRecordError,
    decode_request_record,
    encode_request_record,
    expand_request_record,
    is_request_record,
    request_record_rows,
)

EVENTS = [
    msgspec.Raw(b'{"type":"track","event":"E","messageId":"m1","userId":"u"}'),
    msgspec.Raw(b'{"type":"identify","messageId":"m2","anonymousId":"a","traits":{"k":1}}'),
]
HEADER = RequestHeader(
    received_at="2026-05-06T07:08:09.000001Z",
    count=2,
    source="web",
    ip="198.51.100.4",
    sent_at="2026-05-06T07:08:08.000000Z",
    context={"locale": "de-DE"},
)


def test_round_trip_and_dispatch() -> None:
    value = encode_request_record(HEADER, EVENTS)
    assert is_request_record(value) and not is_arrow(value)
    assert value[:1] == b"\xfe"  # neither JSON text nor an Arrow stream can start so
    header, events = decode_request_record(value)
    assert header == HEADER
    assert [bytes(e) for e in events] == [bytes(e) for e in EVENTS]
    assert request_record_rows(value) == record_rows(value) == 2
    rows = record_events(value)
    assert [r["message_id"] for r in rows] == ["m1", "m2"]
    assert rows[0]["received_at"] == "2026-05-06T07:08:09.000001Z"
    assert json.loads(rows[1]["context"]) == {"ip": "198.51.100.4", "locale": "de-DE"}
    assert json.loads(rows[1]["traits"]) == {"k": 1}


def test_expansion_is_prepare_events_without_the_plan() -> None:
    batch = expand_request_record(encode_request_record(HEADER, EVENTS))
    assert batch.message_ids == ["m1", "m2"]
    assert batch.record_keys == [b"u", b"a"]
    assert not batch.quarantined


@pytest.mark.parametrize(
    "damage",
    [
        lambda v: v[:-1],  # the events array is cut short
        lambda v: v[:12],  # the header is cut short
        lambda v: v.replace(b'"count":2', b'"count":3'),  # header and events disagree
        lambda v: b"\xfeELX" + v[4:],  # another magic
    ],
)
def test_damaged_records_raise_a_clear_error(damage) -> None:
    value = damage(encode_request_record(HEADER, EVENTS))
    with pytest.raises(RequestRecordError):
        expand_request_record(value)
