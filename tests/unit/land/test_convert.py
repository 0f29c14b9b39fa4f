"""Bus records -> Arrow: the columnar fast path and its per-record fallback."""

from __future__ import annotations

import json

import pyarrow as pa

from eventlake.bus.base import EVENTS, QUARANTINE, TopicPartition
from eventlake.lake import EVENT_SCHEMA, QUARANTINE_SCHEMA
from eventlake.land.convert import UNREADABLE, Run, convert_runs, split_by_day
from eventlake.land.lander import commit_id_for
from eventlake.land.offsets import parse_commit_id


def _event(i: int, ts: str = "2026-11-20T10:00:00.000000Z") -> bytes:
    return json.dumps(
        {
            "message_id": f"m{i}",
            "type": "track",
            "event": "Level Started",
            "user_id": "u",
            "timestamp": ts,
            "received_at": "2026-11-21T00:00:00.000000Z",
            "properties": json.dumps({"level": i}),
            "future_column": "ignored",
        }
    ).encode()


_run = Run.of


def test_runs_become_one_table_per_partition_with_bus_columns() -> None:
    p0, p1 = TopicPartition(EVENTS, 0), TopicPartition(EVENTS, 1)
    runs = [
        _run(p0, 10, [_event(1), _event(2)]),
        _run(p1, 0, [_event(3)]),
        _run(p0, 12, [_event(4)]),
    ]
    out = convert_runs(runs)
    assert [(c.tp, c.first_offset, c.last_offset) for c in out] == [(p0, 10, 12), (p1, 0, 0)]
    t0 = out[0].table
    assert t0.schema == EVENT_SCHEMA
    assert t0.column("message_id").to_pylist() == ["m1", "m2", "m4"]
    assert t0.column("bus_offset").to_pylist() == [10, 11, 12]
    assert t0.column("bus_partition").to_pylist() == [0, 0, 0]
    assert json.loads(t0.column("properties")[0].as_py()) == {"level": 1}
    assert out[1].table.column("bus_partition").to_pylist() == [1]
    assert all(c.bad.num_rows == 0 for c in out)


def test_unreadable_records_become_quarantine_rows_and_the_rest_lands() -> None:
    tp = TopicPartition(EVENTS, 2)
    values = [_event(0), b"{not json", _event(2), b'{"message_id":"x"}', _event(4), b""]
    (conv,) = convert_runs([_run(tp, 100, values)])
    assert conv.table.column("message_id").to_pylist() == ["m0", "m2", "m4"]
    assert conv.table.column("bus_offset").to_pylist() == [100, 102, 104]
    bad = conv.bad
    assert bad.schema == QUARANTINE_SCHEMA
    assert bad.column("bus_offset").to_pylist() == [101, 103, 105]
    assert set(bad.column("reason_code").to_pylist()) == {UNREADABLE}
    assert bad.column("raw").to_pylist() == ["{not json", '{"message_id":"x"}', ""]
    assert "events/2@101" in bad.column("reason")[0].as_py()
    assert (conv.first_offset, conv.last_offset) == (100, 105)


def test_raw_newlines_inside_values_are_json_whitespace() -> None:
    tp = TopicPartition(EVENTS, 0)
    pretty = json.dumps(json.loads(_event(7)), indent=2).encode()
    assert b"\n" in pretty
    (conv,) = convert_runs([_run(tp, 0, [_event(6), pretty, _event(8)])])
    assert conv.table.column("message_id").to_pylist() == ["m6", "m7", "m8"]
    assert conv.bad.num_rows == 0


def test_quarantine_topic_uses_the_quarantine_schema() -> None:
    tp = TopicPartition(QUARANTINE, 1)
    rec = json.dumps(
        {
            "message_id": "q1",
            "received_at": "2026-11-21T05:00:00.000000Z",
            "reason_code": "plan_violation",
            "reason": "level must be an integer",
            "raw": '{"event": "Level Started"}',
        }
    ).encode()
    (conv,) = convert_runs([_run(tp, 5, [rec])])
    assert conv.table.schema == QUARANTINE_SCHEMA
    assert conv.table.column("bus_offset").to_pylist() == [5]


def test_split_by_day_uses_the_utc_date() -> None:
    ts = pa.array(
        [0, 86_399_999_999, 86_400_000_000, 3 * 86_400_000_000],
        pa.timestamp("us", tz="UTC"),
    )
    table = pa.table({"timestamp": ts, "n": [1, 2, 3, 4]})
    days = split_by_day(table, "timestamp")
    assert {d: t.column("n").to_pylist() for d, t in days.items()} == {
        "1970-01-01": [1, 2],
        "1970-01-02": [3],
        "1970-01-04": [4],
    }
    assert split_by_day(table.slice(0, 2), "timestamp")["1970-01-01"].num_rows == 2
    assert split_by_day(table.slice(0, 0), "timestamp") == {}


def test_commit_ids_sort_by_offset_and_parse_back() -> None:
    tp = TopicPartition("events", 3)
    ids = [commit_id_for(tp, o) for o in (9, 10, 100, 2)]
    assert sorted(ids) == [commit_id_for(tp, o) for o in (2, 9, 10, 100)]
    assert parse_commit_id(ids[2]) == (tp, 100)
    assert parse_commit_id(commit_id_for(TopicPartition("my-topic", 12), 7)) == (
        TopicPartition("my-topic", 12),
        7,
    )
    assert parse_commit_id("replay-2026") is None
