"""prepare_events: the envelope, enrichment, clock skew, quarantine, and the bus record format."""

from __future__ import annotations

import datetime as dt
import io
import json

import msgspec
import pyarrow as pa
import pyarrow.json as pajson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlake.lake import EVENT_SCHEMA, QUARANTINE_SCHEMA
from eventlake.spec import (
    correct_clock_skew,
    format_timestamp,
    parse_timestamp,
    prepare_events,
)
from eventlake.tracking_plan import parse_tracking_plan

RECEIVED = dt.datetime(2026, 11, 25, 12, 0, 0, 250000, tzinfo=dt.UTC)
EVENT_COLUMNS = [f.name for f in EVENT_SCHEMA if not f.name.startswith("bus_")]
QUARANTINE_COLUMNS = [f.name for f in QUARANTINE_SCHEMA if not f.name.startswith("bus_")]


def prepare(events, **kw):
    kw.setdefault("received_at", RECEIVED)
    kw.setdefault("source", "web")
    return prepare_events(events, **kw)


def test_records_have_exactly_the_lake_columns_and_read_with_pyarrow() -> None:
    batch = prepare(
        [
            {"type": "track", "event": "E", "userId": "u", "properties": {"a": 1}},
            {"type": "identify", "anonymousId": "a", "traits": {"x": [1, 2]}},
            {"type": "bogus", "userId": "u"},
        ],
        host="h",
        user_agent="ua",
        ip="10.0.0.1",
    )
    assert [list(msgspec.json.decode(r)) for r in batch.records] == [EVENT_COLUMNS] * 2
    (q,) = batch.quarantine_records
    assert list(msgspec.json.decode(q)) == QUARANTINE_COLUMNS
    schema = pa.schema([f for f in EVENT_SCHEMA if not f.name.startswith("bus_")])
    table = pajson.read_json(
        io.BytesIO(b"\n".join(batch.records)),
        parse_options=pajson.ParseOptions(explicit_schema=schema),
    )
    assert table.num_rows == 2
    assert table.column("received_at")[0].as_py() == RECEIVED
    assert json.loads(table.column("properties")[0].as_py()) == {"a": 1}
    qschema = pa.schema([f for f in QUARANTINE_SCHEMA if not f.name.startswith("bus_")])
    qtable = pajson.read_json(
        io.BytesIO(q), parse_options=pajson.ParseOptions(explicit_schema=qschema)
    )
    assert qtable.column("reason_code")[0].as_py() == "unknown_type"


def test_timestamps_are_utc_with_microseconds_and_z() -> None:
    (record,) = prepare(
        [{"type": "page", "userId": "u", "timestamp": "2026-01-01T05:00:00+05:00"}]
    ).records
    got = msgspec.json.decode(record)
    assert got["original_timestamp"] == "2026-01-01T00:00:00.000000Z"
    assert got["timestamp"] == "2026-01-01T00:00:00.000000Z"  # no sentAt: the client's time
    assert got["received_at"] == "2026-11-25T12:00:00.250000Z"


def test_clock_skew_is_corrected_with_sent_at_of_the_event_or_the_batch() -> None:
    event = {"type": "track", "event": "E", "userId": "u", "timestamp": "2030-01-01T00:00:00Z"}
    own = prepare([dict(event, sentAt="2030-01-01T00:00:30Z")]).records[0]
    batch_level = prepare(
        [event], sent_at=dt.datetime(2030, 1, 1, 0, 0, 30, tzinfo=dt.UTC)
    ).records[0]
    for record in (own, batch_level):
        got = msgspec.json.decode(record)
        assert got["timestamp"] == "2026-11-25T11:59:30.250000Z"
        assert got["sent_at"] == "2030-01-01T00:00:30.000000Z"


def test_no_client_time_means_received_at() -> None:
    got = msgspec.json.decode(prepare([{"type": "screen", "userId": "u"}]).records[0])
    assert got["timestamp"] == got["received_at"]
    assert got["original_timestamp"] is None


_aware = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),
    max_value=dt.datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [
            dt.UTC,
            dt.timezone(dt.timedelta(hours=5, minutes=30)),
            dt.timezone(-dt.timedelta(hours=8)),
        ]
    ),
)


@given(original=_aware, sent=_aware)
@settings(max_examples=200, deadline=None)
def test_skew_correction_matches_the_formula_for_any_offsets(
    original: dt.datetime, sent: dt.datetime
) -> None:
    event = {
        "type": "track",
        "event": "E",
        "userId": "u",
        "originalTimestamp": original.isoformat(),
        "sentAt": sent.isoformat(),
    }
    got = msgspec.json.decode(prepare([event]).records[0])
    expected = correct_clock_skew(RECEIVED, sent, original)
    assert parse_timestamp(got["timestamp"]) == expected
    assert got["timestamp"] == format_timestamp(expected)
    assert parse_timestamp(got["original_timestamp"]) == original


@given(st.datetimes(timezones=st.just(dt.UTC)))
def test_format_and_parse_timestamp_round_trip(value: dt.datetime) -> None:
    text = format_timestamp(value)
    assert text.endswith("Z") and len(text.split(".")[1]) == 7
    assert parse_timestamp(text) == value


def test_message_id_is_kept_or_filled() -> None:
    batch = prepare(
        [
            {"type": "identify", "userId": "u", "messageId": "m1"},
            {"type": "identify", "userId": "u"},
        ]
    )
    assert batch.message_ids[0] == "m1"
    assert len(batch.message_ids[1]) == 36 and batch.message_ids[1] != "m1"


def test_key_is_user_id_else_anonymous_id_and_numeric_ids_become_text() -> None:
    batch = prepare(
        [
            {"type": "identify", "userId": 42, "anonymousId": "a"},
            {"type": "identify", "anonymousId": "a"},
        ]
    )
    assert batch.record_keys == [b"42", b"a"]
    assert msgspec.json.decode(batch.records[0])["user_id"] == "42"


def test_context_ip_is_added_unless_the_client_sent_one() -> None:
    batch = prepare(
        [
            {"type": "page", "userId": "u", "context": {"locale": "de"}},
            {"type": "page", "userId": "u", "context": {"ip": "1.1.1.1"}},
            {"type": "page", "userId": "u", "context": {"ip": None}},
            {"type": "page", "userId": "u", "context": {}},
            {"type": "page", "userId": "u"},
        ],
        ip="9.9.9.9",
    )
    contexts = [json.loads(msgspec.json.decode(r)["context"]) for r in batch.records]
    assert contexts == [
        {"ip": "9.9.9.9", "locale": "de"},
        {"ip": "1.1.1.1"},
        {"ip": "9.9.9.9"},
        {"ip": "9.9.9.9"},
        {"ip": "9.9.9.9"},
    ]
    assert {msgspec.json.decode(r)["ip"] for r in batch.records} == {"9.9.9.9"}


def test_batch_context_is_merged_under_the_event_context() -> None:
    batch = prepare(
        [{"type": "page", "userId": "u", "context": {"locale": "de"}}],
        batch_context={"locale": "en", "app": {"version": "1"}},
    )
    ctx = json.loads(msgspec.json.decode(batch.records[0])["context"])
    assert ctx == {"locale": "de", "app": {"version": "1"}}


def test_force_type_overrides_the_body_type() -> None:
    batch = prepare([{"type": "page", "event": "E", "userId": "u"}], force_type="track")
    assert msgspec.json.decode(batch.records[0])["type"] == "track"


@pytest.mark.parametrize(
    ("event", "code", "words"),
    [
        ({"type": "track", "event": "E"}, "missing_id", "neither"),
        ({"type": "track", "userId": ""}, "missing_id", "neither"),
        ({"type": "track", "userId": "u"}, "missing_field", "`event`"),
        ({"type": "group", "userId": "u"}, "missing_field", "groupId"),
        ({"type": "alias", "userId": "u"}, "missing_field", "previousId"),
        ({"type": "nope", "userId": "u"}, "unknown_type", "'nope'"),
        ({"userId": "u"}, "unknown_type", "None"),
        ({"type": "page", "userId": {"a": 1}}, "invalid_event", "userId"),
        ({"type": "page", "userId": True}, "invalid_event", "userId"),
        ({"type": "page", "userId": "u", "timestamp": "yesterday"}, "invalid_event", "timestamp"),
        ({"type": "page", "userId": "u", "properties": [1]}, "invalid_event", "properties"),
        ({"type": "page", "userId": "u", "context": "x"}, "invalid_event", "context"),
        ([1, 2], "invalid_event", "object"),
    ],
)
def test_bad_events_are_quarantined_with_a_reason(event, code: str, words: str) -> None:
    batch = prepare([event, {"type": "page", "userId": "ok"}])
    assert len(batch.records) == 1
    (q,) = batch.quarantined
    assert (q.index, q.reason_code) == (0, code)
    assert words in q.reason
    record = msgspec.json.decode(batch.quarantine_records[0])
    assert record["reason_code"] == code
    assert json.loads(record["raw"]) == event


def test_invalid_utf8_and_deep_nesting_are_quarantined_not_raised() -> None:
    batch = prepare([b'{"type":"page","userId":"\xff"}', b"[" * 10_000 + b"]" * 10_000])
    assert [q.reason_code for q in batch.quarantined] == ["invalid_encoding", "invalid_event"]


def test_tracking_plan_violations_are_quarantined() -> None:
    plan = parse_tracking_plan(
        "unplanned_events: quarantine\nevents:\n  Buy:\n    properties:\n"
        "      price: {type: number, required: true}\n"
    )
    batch = prepare(
        [
            {"type": "track", "event": "Buy", "userId": "u", "properties": {"price": 2}},
            {"type": "track", "event": "Buy", "userId": "u"},
            {"type": "track", "event": "Other", "userId": "u"},
            {"type": "page", "userId": "u"},
        ],
        plan=plan,
    )
    assert len(batch.records) == 2
    assert [(q.index, q.reason_code) for q in batch.quarantined] == [
        (1, "plan_violation"),
        (2, "unplanned_event"),
    ]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_field_values = st.one_of(
    _json, st.sampled_from(["track", "identify", "page", "screen", "group", "alias"])
)
_events = (
    st.dictionaries(
        st.sampled_from(
            [
                "type",
                "userId",
                "anonymousId",
                "event",
                "name",
                "groupId",
                "previousId",
                "messageId",
                "timestamp",
                "sentAt",
                "properties",
                "traits",
                "context",
                "integrations",
            ]
        ),
        _field_values,
    )
    | _json
)


@given(st.lists(_events, max_size=8))
@settings(max_examples=300, deadline=None)
def test_every_input_event_ends_up_exactly_once_in_records_or_quarantine(events) -> None:
    batch = prepare(events, ip="127.0.0.1", host="h", user_agent="ua")
    assert len(batch.records) + len(batch.quarantined) == len(events)
    assert len(batch.record_keys) == len(batch.records)
    assert len(batch.quarantine_keys) == len(batch.quarantine_records) == len(batch.quarantined)
    indices = sorted(q.index for q in batch.quarantined)
    assert len(set(indices)) == len(indices)
    for record in batch.records:
        got = msgspec.json.decode(record)
        assert list(got) == EVENT_COLUMNS
        assert got["user_id"] or got["anonymous_id"]
        for nested in ("properties", "traits", "context", "integrations"):
            assert got[nested] is None or isinstance(json.loads(got[nested]), dict)


@given(st.lists(st.binary(max_size=64), max_size=6))
@settings(max_examples=200, deadline=None)
def test_arbitrary_bytes_never_raise(events: list[bytes]) -> None:
    batch = prepare(events)
    assert len(batch.records) + len(batch.quarantined) == len(events)
    for q in batch.quarantine_records:
        msgspec.json.decode(q)  # always valid JSON


# -- issue 17: any timestamp is input ---------------------------------------------------------


def test_parse_timestamp_says_value_error_for_a_time_outside_the_utc_range() -> None:
    for text in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        with pytest.raises(ValueError, match="outside the representable range"):
            parse_timestamp(text)
    assert parse_timestamp("0001-01-01T00:00:00Z").year == 1


@pytest.mark.parametrize(
    "sent_at",
    [
        dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=-1))),
    ],
)
def test_a_batch_sent_at_outside_the_utc_range_quarantines_the_events_that_inherit_it(
    sent_at: dt.datetime,
) -> None:
    events = [
        {"type": "identify", "userId": "u", "messageId": "inherits"},
        {"type": "identify", "userId": "u", "messageId": "own", "sentAt": "2026-01-01T00:00:00Z"},
    ]
    batch = prepare(events, sent_at=sent_at)
    assert batch.message_ids == ["own"] and batch.accepted == [1]
    (q,) = batch.quarantined
    assert (q.index, q.message_id, q.reason_code) == (0, "inherits", "invalid_timestamp")
    record = msgspec.json.decode(batch.quarantine_records[0])
    assert record["batch_sent_at"] is None  # not representable: not kept


@pytest.mark.parametrize(
    "event",
    [
        {"timestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T23:59:59Z"},
        {"timestamp": "0001-01-01T00:30:00+01:00"},
        {"originalTimestamp": "9999-12-31T23:59:59.5-00:01"},
        {"sentAt": "0001-01-01T00:00:00+00:01", "timestamp": "2026-01-01T00:00:00Z"},
    ],
)
def test_event_times_outside_the_range_are_invalid_timestamp(event: dict[str, str]) -> None:
    batch = prepare([{"type": "identify", "userId": "u", **event}])
    assert [q.reason_code for q in batch.quarantined] == ["invalid_timestamp"]


@given(
    st.datetimes(
        min_value=dt.datetime(1, 1, 1),
        max_value=dt.datetime(9999, 12, 31, 23, 59, 59),
        timezones=st.sampled_from(
            [dt.UTC, dt.timezone(dt.timedelta(hours=14)), dt.timezone(dt.timedelta(hours=-12))]
        ),
    ),
    st.datetimes(
        min_value=dt.datetime(1, 1, 1),
        max_value=dt.datetime(9999, 12, 31, 23, 59, 59),
        timezones=st.just(dt.timezone(dt.timedelta(hours=-3, minutes=-30))),
    ),
)
@settings(max_examples=300, deadline=None)
def test_property_any_pair_of_times_is_accepted_or_quarantined_never_raised(
    original: dt.datetime, sent: dt.datetime
) -> None:
    event = {"type": "identify", "userId": "u", "timestamp": original.isoformat()}
    for batch in (
        prepare([dict(event, sentAt=sent.isoformat())]),
        prepare([event], sent_at=sent),
    ):
        assert len(batch.records) + len(batch.quarantined) == 1
        assert {q.reason_code for q in batch.quarantined} <= {"invalid_timestamp"}


# -- issue 17: request metadata is bounded; issue 15: quarantine keeps the enrichment --------


def test_host_and_user_agent_are_stored_cut_at_max_header_chars() -> None:
    from eventlake.spec import MAX_HEADER_CHARS

    batch = prepare(
        [{"type": "identify", "userId": "u"}, {"type": "track", "userId": "u"}],
        host="h" * 5000,
        user_agent="ü" * 5000,
    )
    record = msgspec.json.decode(batch.records[0])
    quarantined = msgspec.json.decode(batch.quarantine_records[0])
    for row in (record, quarantined):
        assert row["host"] == "h" * MAX_HEADER_CHARS
        assert row["user_agent"] == "ü" * MAX_HEADER_CHARS


def test_quarantine_records_carry_the_requests_enrichment() -> None:
    batch = prepare(
        [{"type": "track", "userId": "u"}],
        host="comcast.net",
        user_agent="ua/1",
        ip="203.0.113.7",
        sent_at=dt.datetime(2026, 11, 25, 11, 59, tzinfo=dt.UTC),
        batch_context={"library": {"name": "x"}},
    )
    record = msgspec.json.decode(batch.quarantine_records[0])
    assert record["received_at"] == "2026-11-25T12:00:00.250000Z"
    assert (record["source"], record["host"], record["user_agent"], record["ip"]) == (
        "web",
        "comcast.net",
        "ua/1",
        "203.0.113.7",
    )
    assert record["batch_sent_at"] == "2026-11-25T11:59:00.000000Z"
    assert json.loads(record["batch_context"]) == {"library": {"name": "x"}}


def test_validate_only_keeps_keys_ids_and_positions_and_marks_made_up_ids() -> None:
    events = [
        {"type": "identify", "userId": "u1", "messageId": "m1"},
        {"type": "identify"},  # quarantined: no id
        {"type": "identify", "anonymousId": "a3"},  # messageId made up here
        {"type": "identify", "userId": "u4", "messageId": ""},  # empty: made up too
    ]
    full = prepare(events)
    lean = prepare(events, encode_records=False)
    assert lean.records == [] and len(full.records) == 3
    assert lean.accepted == full.accepted == [0, 2, 3]
    assert lean.generated == [2, 3]
    assert lean.record_keys == full.record_keys == [b"u1", b"a3", b"u4"]
    assert lean.message_ids[0] == "m1" and len(set(lean.message_ids)) == 3
    assert lean.quarantine_records and [q.index for q in lean.quarantined] == [1]
