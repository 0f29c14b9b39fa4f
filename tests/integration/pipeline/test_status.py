"""status counts every stage from its durable output and reconciles them; run lands the bus."""

from __future__ import annotations

import datetime as dt

import eventlake_tests_lakedata as lakedata  # loaded by conftest.py
import pytest

from eventlake import pipeline
from eventlake.bus import EVENTS, QUARANTINE, open_producer

pytestmark = pytest.mark.integration

D1, D2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)


def _append(settings, topic, rows):
    producer = open_producer(settings)
    try:
        keys = [str(r.get("user_id") or r.get("anonymous_id")).encode() for r in rows]
        producer.append(topic, [lakedata.bus_value(r) for r in rows], keys)
    finally:
        producer.close()


def test_status_reconciles_bus_lake_raw_and_models(settings, sql_builder):
    empty = pipeline.collect_status(settings)
    assert (empty.landed, empty.loaded, empty.modeled) == (0, 0, None)
    assert empty.last_run is None

    events = lakedata.game_events(D1, 3) + lakedata.game_events(D2, 2)
    duplicate = dict(events[0])  # a client retry: same messageId twice
    _append(settings, EVENTS, events + [duplicate])
    _append(settings, QUARANTINE, lakedata.quarantine_rows(D2, 4))

    before_run = pipeline.collect_status(settings)
    assert before_run.received == 23 + 4
    assert before_run.pending_on_bus == 27
    assert before_run.reconciliation()[0][1] is True

    result = pipeline.run(settings, build_models=sql_builder)
    assert result.ok and (result.landed, result.quarantined) == (23, 4)
    assert result.changed_days == ("2026-03-01", "2026-03-02")

    report = pipeline.collect_status(settings)
    assert (report.received, report.landed, report.quarantined) == (27, 23, 4)
    assert report.pending_on_bus == 0
    assert (report.loaded, report.modeled, report.duplicates) == (23, 22, 1)
    assert report.not_yet_loaded == 0
    assert [ok for _, ok in report.reconciliation()] == [True, True]
    assert report.last_run is not None and report.last_run.run_id == result.run_id
    assert report.lag_seconds is not None and report.newest_event_at is not None

    more = lakedata.game_events(D2, 1, tag="more-")
    _append(settings, EVENTS, more)
    waiting = pipeline.collect_status(settings)
    assert waiting.pending_on_bus == 5
    text = waiting.reconciliation()[0][0]
    assert "received 32 = landed 23 + quarantined 4 + waiting on the bus 5" in text
    as_json = waiting.to_dict()
    assert as_json["stages"][0] == {
        "stage": "bus",
        "rows": 32,
        "detail": as_json["stages"][0]["detail"],
    }
