"""status counts events, not bus offsets, when Arrow records hold many events each."""

from __future__ import annotations

import datetime as dt

import eventlake_tests_lakedata as lakedata  # loaded by conftest.py
import pyarrow as pa
import pytest

from eventlake import pipeline
from eventlake.bus import EVENTS, open_producer
from eventlake.bus.records import EVENT_INPUT_SCHEMA, encode_arrow_batch
from eventlake.land import Lander

pytestmark = pytest.mark.integration

D1 = dt.date(2026, 3, 1)


def test_received_and_pending_count_the_events_inside_arrow_records(settings):
    rows = lakedata.game_events(D1, 3)  # 3 users' days of events
    arrow_rows, json_rows = rows[:-2], rows[-2:]
    table = pa.Table.from_pylist(
        [{k: r.get(k) for k in EVENT_INPUT_SCHEMA.names} for r in arrow_rows],
        schema=EVENT_INPUT_SCHEMA,
    )
    producer = open_producer(settings)
    try:
        producer.append(EVENTS, [encode_arrow_batch(table)], [b"u"])
        producer.append(EVENTS, [lakedata.bus_value(r) for r in json_rows], [b"u", b"u"])
    finally:
        producer.close()

    waiting = pipeline.collect_status(settings)
    assert (waiting.received, waiting.pending_on_bus) == (len(rows), len(rows))
    assert waiting.reconciliation()[0][1] is True

    lander = Lander.from_settings(settings)
    try:
        assert lander.run().events == len(rows)
    finally:
        lander.close()
    landed = pipeline.collect_status(settings)
    assert (landed.received, landed.landed, landed.pending_on_bus) == (len(rows), len(rows), 0)
    assert landed.reconciliation()[0][1] is True
