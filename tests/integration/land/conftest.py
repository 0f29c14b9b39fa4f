"""Fixtures for lander tests: a project folder with a config file, and events on its bus."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from eventlake.bus import EVENTS, QUARANTINE, open_producer
from eventlake.config import Settings, load_config
from eventlake.spec import prepare_events

CONFIG = """
[spec]
tracking_plan = "plan.yaml"
[bus]
path = "bus"
partitions = 3
[lake]
path = "lake"
[land]
max_records = {max_records}
max_age_seconds = 0.2
"""

PLAN = """
unplanned_events: allow
events:
  Level Started:
    properties:
      level: {type: integer, required: true}
"""


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Settings]:
    """Write eventlake.toml (+ tracking plan) into a temp project; return its Settings."""

    def make(max_records: int = 100_000) -> Settings:
        (tmp_path / "eventlake.toml").write_text(CONFIG.format(max_records=max_records))
        (tmp_path / "plan.yaml").write_text(PLAN)
        return load_config(tmp_path / "eventlake.toml")

    return make


def raw_events(n: int, start: int = 0, days: int = 3, bad_every: int = 0) -> list[dict]:
    """Segment track events over ``days`` UTC days; every ``bad_every``-th breaks the plan."""
    base = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    out = []
    for i in range(start, start + n):
        level: object = i % 40
        if bad_every and i % bad_every == 0:
            level = "not-a-number"
        out.append(
            {
                "type": "track",
                "event": "Level Started",
                "messageId": f"msg-{i:08d}",
                "userId": f"user-{i % 97}",
                "properties": {"level": level, "note": "line\nbreak" if i % 13 == 0 else "x"},
                "context": {"os": {"name": "iOS"}, "locale": "en-US"},
                "timestamp": (base + dt.timedelta(hours=(i * 7) % (24 * days))).isoformat(),
            }
        )
    return out


def append_events(
    settings: Settings, n: int, start: int = 0, bad_every: int = 0, chunk: int = 100
) -> tuple[list[str], list[str]]:
    """Append events through prepare_events; return (valid ids, quarantined ids)."""
    from eventlake.tracking_plan import plan_from_settings

    plan = plan_from_settings(settings)
    producer = open_producer(settings)
    good: list[str] = []
    bad: list[str] = []
    try:
        for s in range(start, start + n, chunk):
            batch = prepare_events(
                raw_events(min(chunk, start + n - s), s, bad_every=bad_every),
                received_at=dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC),
                source="test",
                host="example.net",
                plan=plan,
            )
            if batch.records:
                producer.append(EVENTS, batch.records, batch.record_keys)
            if batch.quarantine_records:
                producer.append(QUARANTINE, batch.quarantine_records, batch.quarantine_keys)
            good.extend(batch.message_ids)
            bad.extend(q.message_id or "" for q in batch.quarantined)
    finally:
        producer.close()
    return good, bad


@pytest.fixture
def events_appender() -> Callable[..., tuple[list[str], list[str]]]:
    return append_events


@pytest.fixture
def backend_project(bus_section: dict, tmp_path: Path) -> Callable[..., Settings]:
    """Settings of a project on each bus backend in turn (``BUS_BACKENDS``), with a fresh
    consumer group; ``land`` overrides ``[land]`` settings."""

    def make(**land: object) -> Settings:
        (tmp_path / "plan.yaml").write_text(PLAN)
        return load_config(
            None,
            base_dir=tmp_path,
            spec={"tracking_plan": "plan.yaml"},
            bus=bus_section,
            lake={"path": "lake"},
            land={
                "max_age_seconds": 0.2,
                "consumer_group": f"landers-{uuid.uuid4().hex[:8]}",
                **land,
            },
        )

    return make
