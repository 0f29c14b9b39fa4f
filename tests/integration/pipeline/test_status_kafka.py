"""status on a Kafka bus: received = landed + quarantined + waiting, counted in events.

The Kafka backend reads the records past the lake's landed offsets and counts the events in
them (an Arrow record holds many), so the reconciliation is checked there as on the local
log; ``eventlake run`` lands everything that was waiting (one-shot land on Kafka).
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import eventlake_tests_lakedata as lakedata  # loaded by conftest.py
import pyarrow as pa
import pytest

from eventlake import pipeline
from eventlake.bus import EVENTS, QUARANTINE, open_producer
from eventlake.bus.records import EVENT_INPUT_SCHEMA, encode_arrow_batch
from eventlake.config import Settings, load_config

pytestmark = pytest.mark.integration

D1, D2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)


@pytest.fixture
def kafka_settings(kafka_broker: str, project_dir: Path) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return load_config(
        None,
        base_dir=project_dir,
        bus={
            "backend": "kafka",
            "bootstrap_servers": kafka_broker,
            "topic": f"ev-{tag}",
            "quarantine_topic": f"q-{tag}",
            "partitions": 3,
        },
        land={"consumer_group": f"landers-{tag}"},
    )


def _arrow(rows: list[dict]) -> bytes:
    table = pa.Table.from_pylist(
        [{k: r.get(k) for k in EVENT_INPUT_SCHEMA.names} for r in rows], schema=EVENT_INPUT_SCHEMA
    )
    return encode_arrow_batch(table, compression="lz4")


def _append(settings: Settings, topic: str, values: list[bytes], keys: list[bytes]) -> None:
    producer = open_producer(settings)
    try:
        producer.append(topic, values, keys)
    finally:
        producer.close()


def test_status_reconciles_a_kafka_bus_in_events(kafka_settings: Settings, sql_builder) -> None:
    settings = kafka_settings
    empty = pipeline.collect_status(settings)  # no topic yet: unknown, and a note says why
    assert (empty.received, empty.pending_on_bus) == (None, None)
    assert any("no Kafka topic" in n for n in empty.notes), empty.notes

    json_rows = lakedata.game_events(D1, 3)
    arrow_rows = lakedata.game_events(D2, 4, tag="arrow-")
    keys = [str(r["user_id"]).encode() for r in json_rows]
    _append(settings, EVENTS, [lakedata.bus_value(r) for r in json_rows], keys)
    _append(settings, EVENTS, [_arrow(arrow_rows)], [b"arrow-user"])
    bad = lakedata.quarantine_rows(D2, 4)
    _append(settings, QUARANTINE, [lakedata.bus_value(r) for r in bad], [b"q"] * len(bad))
    total = len(json_rows) + len(arrow_rows) + len(bad)

    waiting = pipeline.collect_status(settings)
    assert not any("not readable" in n for n in waiting.notes), waiting.notes
    assert (waiting.received, waiting.pending_on_bus, waiting.landed) == (total, total, 0)
    assert waiting.reconciliation()[0][1] is True

    result = pipeline.run(settings, build_models=sql_builder)
    assert result.ok
    assert (result.landed, result.quarantined) == (len(json_rows) + len(arrow_rows), len(bad))

    report = pipeline.collect_status(settings)
    assert (report.received, report.landed, report.quarantined) == (
        total,
        len(json_rows) + len(arrow_rows),
        len(bad),
    )
    assert report.pending_on_bus == 0
    assert [ok for _, ok in report.reconciliation()] == [True, True]

    more = lakedata.game_events(D2, 2, tag="more-")
    _append(settings, EVENTS, [_arrow(more)], [b"more-user"])
    later = pipeline.collect_status(settings)
    assert (later.received, later.pending_on_bus) == (total + len(more), len(more))
    text, ok = later.reconciliation()[0]
    assert ok is True
    assert f"waiting on the bus {len(more)}" in text
