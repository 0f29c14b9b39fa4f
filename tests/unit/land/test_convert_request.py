"""Collector request records in the lander's converter: expanded in order, damage quarantined."""

from __future__ import annotations

import io
import json

import msgspec
import pyarrow.json as pj
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlake.bus.base import EVENTS, TopicPartition
from eventlake.bus.records import EVENT_INPUT_SCHEMA
from eventlake.bus.request_records import (
    RequestHeader,
    encode_request_record,
    expand_request_record,
)
from eventlake.lake import EVENT_SCHEMA
from eventlake.land import expand as expand_module
from eventlake.land.convert import UNREADABLE, Run, convert_runs
from eventlake.land.expand import RequestColumns, expand_request_table
from eventlake.spec import MAX_HEADER_CHARS


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


_run = Run.of


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


# -- the columnar expansion equals the JSON route -----------------------------------------

_ids = st.one_of(st.none(), st.sampled_from(["", "u1", "ünï", "a b"]), st.integers(0, 3))
_times = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "2026-03-04T01:02:03Z",
            "2026-03-04T01:02:03.5+05:30",
            "2026-03-03T23:59:59.999999-08:00",
            "2026-03-04 01:02:03",
            "1800-01-01T00:00:00Z",
        ]
    ),
)
_objects = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["ip", "k", "é"]), st.one_of(st.none(), st.integers()), max_size=2
    ),
    st.sampled_from([[1], "s"]),
)
_mostly = st.sampled_from(["g1", "g1", "g1", "", None])  # mostly valid, sometimes not
_event_dicts = st.fixed_dictionaries(
    {
        "messageId": st.sampled_from(["m1", "m2", "m3", "m4", "", 7]),
        "type": st.sampled_from(["track"] * 4 + ["identify", "page", "screen", "group", "alias"]),
        "userId": st.one_of(st.sampled_from(["u1", "ünï"]), _ids),
        "event": st.sampled_from(["Level Completed", "Level Completed", ""]),
        "groupId": _mostly,
        "previousId": _mostly,
    },
    optional={
        "anonymousId": _ids,
        "name": st.one_of(st.none(), st.just("Home")),
        "timestamp": _times,
        "originalTimestamp": _times,
        "sentAt": _times,
        "properties": _objects,
        "traits": _objects,
        "context": _objects,
        "integrations": _objects,
    },
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_event_dicts, min_size=1, max_size=5),
    st.sampled_from(
        [None, "2026-03-04T00:00:09.5Z", "1850-01-01T00:00:00Z", "0001-01-01T00:00:00Z"]
    ),
    st.one_of(st.none(), st.just({"locale": "en-US", "ip": None})),
    st.one_of(st.none(), st.just("198.51.100.7")),
    st.sampled_from([None, "track", "identify", "alias"]),  # a single-event endpoint's type
    st.sampled_from([None, "sdk/1", "x" * 5000]),  # stored cut at MAX_HEADER_CHARS
)
def test_property_columnar_expansion_equals_the_json_route(
    events, sent_at, context, ip, forced, user_agent
) -> None:
    header = RequestHeader(
        received_at="2026-03-04T05:06:07.000001Z",
        count=len(events),
        source="web",
        host="h",
        user_agent=user_agent,
        ip=ip,
        sent_at=sent_at,
        context=context,
        type=forced,
    )
    value = encode_request_record(header, [msgspec.json.encode(e) for e in events])
    table = expand_request_table(value)
    batch = expand_request_record(value)
    if table is None:
        return  # the lander takes the JSON route for this record
    assert not batch.quarantined
    want = pj.read_json(
        io.BytesIO(b"\n".join(batch.records) + b"\n"),
        parse_options=pj.ParseOptions(explicit_schema=EVENT_INPUT_SCHEMA),
    )
    assert table.equals(want.cast(EVENT_INPUT_SCHEMA)), (table.to_pylist(), want.to_pylist())
    if forced is not None:
        assert set(table.column("type").to_pylist()) == {forced}
    assert all(len(ua or "") <= MAX_HEADER_CHARS for ua in table.column("user_agent").to_pylist())


_context_texts = st.one_of(
    st.dictionaries(
        st.sampled_from(["os", "locale", "é", "ipx", "tip"]),
        st.one_of(st.text(max_size=4), st.integers(), st.dictionaries(st.just("k"), st.none())),
        max_size=3,
    ).map(lambda d: msgspec.json.encode(d)),
    st.sampled_from(
        [b"{}", b'{ "k": 1}', b'{\n"k":1}', b'{"k":"\\"ip\\""}', b'{"k":"ip"}', b'{"os":{"ip":1}}']
    ),
)


def _contexts_record(contexts: list[bytes], ip: str, offset: int) -> bytes:
    events = [
        msgspec.Raw(
            b'{"type":"track","event":"E","userId":"u","messageId":"m%d-%d","context":%s}'
            % (offset, i, ctx)
        )
        for i, ctx in enumerate(contexts)
    ]
    header = RequestHeader(received_at="2026-11-20T10:00:06.000000Z", count=len(events), ip=ip)
    return encode_request_record(header, events)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(_context_texts, min_size=1, max_size=4),
            st.sampled_from(["192.0.2.1", "2001:db8::1", 'we"ird\\ip', "é"]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_property_the_ip_splice_of_many_records_equals_the_json_route(records) -> None:
    """Many records converted at once (the lander's way): each event's context gets its
    record's ip exactly as ``prepare_events`` writes it, whichever route the splice takes
    (the one-pass byte splice, or the string kernels for blanks and contexts naming "ip")."""
    values = [_contexts_record(ctxs, ip, k) for k, (ctxs, ip) in enumerate(records)]
    cols = RequestColumns()
    assert all(cols.add(v) for v in values)
    table = cols.table()
    want = [r for v in values for r in expand_request_record(v).records]
    expected = [msgspec.json.decode(r)["context"] for r in want]
    assert table.column("context").to_pylist() == expected


def _decoding_forbidden(*args):  # type: ignore[no-untyped-def]
    raise AssertionError("the decoding route ran")


def test_the_common_case_takes_the_scan_and_splices_the_ip(monkeypatch) -> None:
    """Contexts with or without blanks, empty or absent: the compiled scan and gather give
    every row (the decoding route is never called), and the decoding route agrees."""
    values = [
        _contexts_record(
            [
                b'{"os":{"name":"iOS"}}',
                b"{}",
                b'{"locale":"\u00e9"}',
                b'{ \n "k" : [1, {"ip": 2}] }',
            ],
            ip,
            k,
        )
        for k, ip in enumerate(["192.0.2.1", 'we"ird'])
    ]
    monkeypatch.setattr(expand_module, "_build", _decoding_forbidden)
    cols = RequestColumns()
    for v in values:
        assert cols.add(v)
    scanned = cols.table()
    assert scanned.column("context").to_pylist() == [
        '{"ip":"192.0.2.1","os":{"name":"iOS"}}',
        '{"ip":"192.0.2.1"}',
        '{"ip":"192.0.2.1","locale":"\\u00e9"}',
        '{"ip":"192.0.2.1","k" : [1, {"ip": 2}] }',
        '{"ip":"we\\"ird","os":{"name":"iOS"}}',
        '{"ip":"we\\"ird"}',
        '{"ip":"we\\"ird","locale":"\\u00e9"}',
        '{"ip":"we\\"ird","k" : [1, {"ip": 2}] }',
    ]
    monkeypatch.undo()
    decoding = RequestColumns(scan=False)
    for v in values:
        decoding.add(v)
    assert decoding.table().equals(scanned)


def test_columnar_expansion_takes_the_common_case() -> None:
    value = _request([1, 2, 3])
    table = expand_request_table(value)
    assert table is not None and table.num_rows == 3
    assert table.schema == EVENT_INPUT_SCHEMA


def test_times_outside_the_range_in_a_request_record_never_stop_the_lander() -> None:
    """Issue 17, finding 1, on the lander's side: the same rules as the collector's."""
    tp = TopicPartition(EVENTS, 0)
    bad_header = encode_request_record(
        RequestHeader(
            received_at="2026-11-20T10:00:06.000000Z",
            count=1,
            sent_at="0001-01-01T00:00:00+01:00",  # year 0 in UTC
        ),
        [msgspec.Raw(b'{"type":"identify","userId":"u","messageId":"h"}')],
    )
    bad_event = encode_request_record(
        RequestHeader(received_at="2026-11-20T10:00:06.000000Z", count=2),
        [
            msgspec.Raw(
                b'{"type":"identify","userId":"u","messageId":"e","timestamp":'
                b'"0001-01-01T00:00:00Z","sentAt":"9999-12-31T23:59:59Z"}'
            ),
            msgspec.Raw(b'{"type":"identify","userId":"u","messageId":"ok"}'),
        ],
    )
    (conv,) = convert_runs([_run(tp, 0, [_json(0), bad_header, bad_event, _json(3)])])
    assert conv.table.column("message_id").to_pylist() == ["m0", "ok", "m3"]
    bad = conv.bad.to_pylist()
    assert [b["bus_offset"] for b in bad] == [1, 2]
    assert "outside the representable range" in bad[0]["reason"]
    assert "invalid_timestamp" in bad[1]["reason"]
