"""The raw layer over a lake written by the real lander, published while a reader reads."""

from __future__ import annotations

import datetime as dt

import eventlake_tests_lakedata as lakedata  # loaded by conftest.py
import pytest

from eventlake.bus import EVENTS, QUARANTINE, open_producer
from eventlake.lake import open_lake
from eventlake.land import land
from eventlake.warehouse import open_warehouse

pytestmark = pytest.mark.integration

D1, D2 = dt.date(2026, 4, 1), dt.date(2026, 4, 2)


def _send(settings, topic, rows):
    producer = open_producer(settings)
    try:
        keys = [str(r.get("user_id") or r.get("anonymous_id")).encode() for r in rows]
        producer.append(topic, [lakedata.bus_value(r) for r in rows], keys)
    finally:
        producer.close()


def _load(settings):
    lake = open_lake(settings.lake_uri())
    with open_warehouse(settings).transaction() as tx:
        return tx.load_raw(lake)


def test_landed_lake_loads_exactly_and_readers_see_each_publish(settings):
    rows = lakedata.game_events(D1, 3) + lakedata.game_events(D2, 3)
    _send(settings, EVENTS, rows)
    _send(settings, QUARANTINE, lakedata.quarantine_rows(D2, 2))
    landed = land(settings)
    assert (landed.events, landed.quarantined) == (26, 2)

    first = _load(settings)
    assert first.event_days == (D1, D2)
    reader = open_warehouse(settings).reader()
    try:

        def read(sql):
            return reader.execute(sql).rows

        sql = "SELECT count(*), count(DISTINCT message_id), min(event_date) FROM raw.events"
        assert read(sql) == [(26, 26, D1)]
        sent = {r["message_id"] for r in rows}
        got = {r[0] for r in read("SELECT message_id FROM raw.events")}
        assert got == sent
        # The lake offsets and the loaded rows agree: every bus offset once.
        offsets = read(
            "SELECT bus_partition, count(*), count(DISTINCT bus_offset) FROM raw.events GROUP BY 1"
        )
        assert all(n == distinct for _, n, distinct in offsets)
        assert read("SELECT count(*) FROM raw.quarantine") == [(2,)]

        # A late event lands; the reader sees the published rows until the next publish.
        _send(settings, EVENTS, lakedata.game_events(D1, 1, tag="late-", received=D2))
        land(settings)
        assert read("SELECT count(*) FROM raw.events") == [(26,)]
        late = _load(settings)
        assert late.event_days == (D1,) and late.commits_loaded >= 1
        assert read("SELECT count(*) FROM raw.events") == [(31,)]
    finally:
        reader.close()
