"""Request records: same lake rows as one JSON record per event, whatever path wrote them.

Every batch is prepared twice, with ``request_records`` on and off. With it on, the
accepted events become ONE request record whose expansion is byte for byte the records of
``request_records = false`` (ids the collector made up aside); a clean batch takes the fast
path, and anything the fast path does not vouch for is validated by ``prepare_events`` and
packed all the same, with exactly the same quarantine reasons.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlake.bus.request_records import expand_request_record, is_request_record
from eventlake.collect.auth import WriteKeys
from eventlake.collect.fastpath import fast_prepare
from eventlake.collect.handler import RequestHandler, RequestMeta
from eventlake.spec import PreparedBatch
from eventlake.tracking_plan import load_tracking_plan, parse_tracking_plan

NOW = dt.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=dt.UTC)
AUTH = "Basic " + base64.b64encode(b"key:").decode()
META = RequestMeta(authorization=AUTH, host="game.example", user_agent="sdk/1", ip="203.0.113.9")
PLAN = load_tracking_plan(
    Path(__file__).resolve().parents[3] / "eventlake" / "templates" / "tracking-plan.yaml"
)


def _handlers(plan: Any = PLAN) -> tuple[RequestHandler, RequestHandler]:
    def make(on: bool) -> RequestHandler:
        return RequestHandler(
            WriteKeys({"key": "web"}),
            plan,
            max_batch_bytes=500_000,
            max_event_bytes=32_000,
            request_records=on,
        )

    return make(True), make(False)


FAST, SLOW = _handlers()


def _both(body: dict[str, Any] | bytes, fast: RequestHandler = FAST, slow: RequestHandler = SLOW):
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return fast.prepare("batch", raw, META, NOW), slow.prepare("batch", raw, META, NOW)


def _expanded(batch: PreparedBatch) -> PreparedBatch:
    assert len(batch.records) == 1 and is_request_record(batch.records[0])
    assert not batch.quarantine_records
    return expand_request_record(batch.records[0])


def _lands(batch: PreparedBatch) -> list[bytes]:
    """The JSON event records ``batch`` stands for (a request record expanded)."""
    if batch.records and is_request_record(batch.records[0]):
        (record,) = batch.records
        return expand_request_record(record).records
    return batch.records


def _fast_vouches(body: dict[str, Any] | bytes, plan: Any = PLAN) -> bool:
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)

    class Body(msgspec.Struct):
        batch: list[msgspec.Raw]

    events = msgspec.json.decode(raw, type=Body).batch
    return (
        fast_prepare(
            events,
            received_at=NOW,
            source="web",
            host=META.host,
            user_agent=META.user_agent,
            ip=META.ip,
            plan=plan,
            sent_at=None,
            batch_context=None,
        )
        is not None
    )


def _masked(records: list[bytes], sent_ids: set[str]) -> list[dict[str, Any]]:
    """Records decoded, with the random messageIds the general path made masked."""
    out = []
    for r in records:
        row = json.loads(r)
        if row.get("message_id") not in sent_ids:
            row["message_id"] = "<generated>"
        out.append(row)
    return out


def _event(i: int, **extra: Any) -> dict[str, Any]:
    event = {
        "type": "track",
        "event": "Level Completed",
        "messageId": f"m-{i}",
        "userId": f"u{i % 3}",
        "timestamp": "2026-03-04T01:02:03.456+02:00",
        "properties": {"level": i, "score": 10 * i},
        "context": {"locale": "fr-FR"},
    }
    event.update(extra)
    return {k: v for k, v in event.items() if v is not None}


def test_a_clean_batch_is_one_request_record_that_expands_to_the_general_paths_records() -> None:
    body = {
        "batch": [
            _event(0),
            _event(1, context={"ip": "10.0.0.1"}),  # the client's ip wins over the socket's
            _event(2, type="identify", event=None, traits={"plan": "pro"}, userId="u-x"),
            _event(3, type="page", event=None, name="Home", anonymousId="a3", userId=None),
            _event(4, type="group", event=None, groupId="g1", traits={"name": "Guild"}),
            _event(5, type="alias", event=None, previousId="a3"),
            _event(6, event="Custom Thing", properties={"free": [1, {"x": None}]}),
            _event(7, sentAt="2026-03-04T01:02:04Z", originalTimestamp="2026-03-04T01:02:00Z"),
        ],
        "sentAt": "2026-03-04T00:00:09.5Z",
        "context": {"library": {"name": "analytics-python"}, "locale": "en-US"},
    }
    fast, slow = _both(body)
    assert fast.record_keys == [b"u0"]  # the first event's user: a one-user batch stays on its key
    assert fast.message_ids == slow.message_ids == [f"m-{i}" for i in range(8)]
    expanded = _expanded(fast)
    assert expanded.records == slow.records
    assert expanded.record_keys == slow.record_keys
    assert not slow.quarantined
    first = json.loads(expanded.records[0])
    assert json.loads(first["context"]) == {
        "ip": "203.0.113.9",
        "library": {"name": "analytics-python"},
        "locale": "fr-FR",
    }
    assert first["source"] == "web" and first["host"] == "game.example"


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (_event(0, userId=17), "integer ids are valid but left to the general path"),
        (_event(0, messageId=None), "the general path makes the messageId"),
        (_event(0, messageId=""), "an empty messageId is a missing one"),
        (_event(0, userId=None), "no id at all: quarantined"),
        (_event(0, type="bogus"), "unknown type: quarantined"),
        (_event(0, event=""), "a track without event: quarantined"),
        (_event(0, type="group", groupId=None), "group without groupId"),
        (_event(0, type="alias", previousId=None), "alias without previousId"),
        (_event(0, properties={"level": "one"}), "breaks the tracking plan"),
        (_event(0, properties={"score": 3}), "misses a required property"),
        (_event(0, properties=None), "a planned event with no properties at all"),
        (_event(0, event="Custom Thing", properties=[1, 2]), "properties must be an object"),
        (_event(0, type="identify", event=None, traits="x"), "traits must be an object"),
        (_event(0, context=5), "context must be an object"),
        (_event(0, timestamp="0001-01-01T00:00:00Z"), "a year the skew correction may overflow"),
        (_event(0, timestamp="yesterday"), "not a timestamp"),
    ],
)
def test_anything_unusual_takes_the_general_path_with_the_same_answer(
    event: dict[str, Any], why: str
) -> None:
    body = {"batch": [_event(1), event, _event(2)]}
    assert not _fast_vouches(body), why
    fast, slow = _both(body)
    assert len(fast.records) == 1 and is_request_record(fast.records[0]), why
    sent = {"m-0", "m-1", "m-2"}
    assert _masked(_lands(fast), sent) == _masked(slow.records, sent), why
    assert fast.message_ids == [json.loads(r)["message_id"] for r in _lands(fast)], why
    assert [(q.index, q.reason_code, q.reason) for q in fast.quarantined] == [
        (q.index, q.reason_code, q.reason) for q in slow.quarantined
    ], why


def test_invalid_utf8_inside_a_skipped_object_is_not_vouched_for() -> None:
    good = msgspec.json.encode(_event(1))
    bad = good.replace(b'"fr-FR"', b'"fr-\xff"')
    body = b'{"batch": [' + good + b"," + bad + b"]}"
    assert not _fast_vouches(body)
    fast, slow = _both(body)
    assert [q.reason_code for q in fast.quarantined] == ["invalid_encoding"]
    assert _lands(fast) == slow.records and len(slow.records) == 1


def test_unplanned_events_under_a_quarantine_policy_are_left_to_the_general_path() -> None:
    plan = parse_tracking_plan(
        "unplanned_events: quarantine\nevents:\n  Level Completed:\n    properties: {}\n"
    )
    fast, slow = _handlers(plan)
    body = {"batch": [_event(0), _event(1, event="Other")]}
    assert not _fast_vouches(body, plan)
    got, want = _both(body, fast, slow)
    assert [q.reason_code for q in got.quarantined] == ["unplanned_event"]
    assert _lands(got) == want.records
    ok, ok_slow = _both({"batch": [_event(0), _event(1)]}, fast, slow)
    assert _expanded(ok).records == ok_slow.records


def test_off_means_one_json_record_per_event() -> None:
    _fast, slow = _both({"batch": [_event(0), _event(1)]})
    assert len(slow.records) == 2 and all(r.startswith(b"{") for r in slow.records)


_ids = st.one_of(st.none(), st.text(min_size=0, max_size=4), st.integers(-3, 3))
_times = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "2026-03-04T01:02:03Z",
            "2026-03-04T01:02:03.5+05:30",
            "2026-03-03T23:59:59.999999-08:00",
            "2026-03-04 01:02:03",
            "1899-12-31T23:59:59Z",
            "soon",
        ]
    ),
)
_objects = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["level", "score", "ip", "x"]), st.integers(0, 3), max_size=3),
    st.sampled_from([[1], "s", 3]),
)
_events = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["track", "identify", "page", "screen", "group", "alias", "?"]),
        "messageId": _ids,
        "userId": _ids,
        "anonymousId": _ids,
        "event": st.sampled_from(["Level Completed", "Level Started", "Other", ""]),
        "name": st.one_of(st.none(), st.text(max_size=3)),
        "groupId": _ids,
        "previousId": _ids,
        "timestamp": _times,
        "originalTimestamp": _times,
        "sentAt": _times,
        "properties": _objects,
        "traits": _objects,
        "context": _objects,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_events, min_size=1, max_size=6), _times)
def test_property_the_fast_path_never_changes_what_lands(
    events: list[dict[str, Any]], sent_at: str | None
) -> None:
    body: dict[str, Any] = {"batch": events}
    if sent_at is not None and sent_at != "soon":
        body["sentAt"] = sent_at
    fast, slow = _both(body)
    assert len(fast.records) <= 1
    assert all(is_request_record(r) for r in fast.records)
    assert [q.reason for q in fast.quarantined] == [q.reason for q in slow.quarantined]
    # identical except the random ids the collector makes for missing messageIds, and those
    # are the ids the reply's messageIds name
    sent = {str(e.get("messageId")) for e in events}
    landed = _lands(fast)
    assert _masked(landed, sent) == _masked(slow.records, sent)
    assert fast.message_ids == [json.loads(r)["message_id"] for r in landed]
