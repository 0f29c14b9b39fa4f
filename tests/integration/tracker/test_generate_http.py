"""`generate --to http://...`: the generator's events through the SDK and a real collector."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eventlake.bus import EVENTS, QUARANTINE, open_consumer
from eventlake.bus.records import record_events
from eventlake.collect import create_app
from eventlake.config import load_config
from eventlake.generate import WorldConfig, generate, send_http

pytestmark = pytest.mark.integration

PLAN = Path(__file__).resolve().parents[3] / "eventlake" / "templates" / "tracking-plan.yaml"


def _read(settings: Any, topic: str) -> list[dict[str, Any]]:
    consumer = open_consumer(settings, f"t-{time.monotonic_ns()}", [topic])
    out: list[dict[str, Any]] = []
    try:
        while records := consumer.poll(50_000, 0.05):
            out += [e for r in records for e in record_events(r.value, topic)]
    finally:
        consumer.close()
    return out


def test_generated_events_over_http_land_on_the_bus(project_dir: Path, serve: Any) -> None:
    settings = load_config(
        None,
        base_dir=project_dir,
        collect={"write_keys": {"gen-key": "game"}},
        bus={"path": str(project_dir / "bus")},
        spec={"tracking_plan": str(PLAN)},
    )
    url = serve(create_app(settings))
    world, frame = generate(WorldConfig(users=40, days=3, start=dt.date(2026, 4, 1), seed=5))
    result = send_http(world, frame, url, "gen-key")
    assert result.errors == 0 and result.rows == len(frame)
    events, quarantine = _read(settings, EVENTS), _read(settings, QUARANTINE)
    assert len(events) + len(quarantine) == len(frame)
    assert len(quarantine) == (frame.bad > 0).sum()
    # the Host header carries each player's internet host provider
    hosts = {e["host"] for e in events}
    assert hosts <= set(world.hosts) and len(hosts) > 3
    # the event time survives the trip: the collector corrects with the SDK's sentAt
    by_id = {e["message_id"]: e for e in events}
    i = int(np.flatnonzero((frame.bad == 0) & (world.skew_us[frame.user] == 0))[0])
    mid = bytes(frame.mid[i]).hex()
    rec = by_id[f"{mid[:8]}-{mid[8:12]}-{mid[12:16]}-{mid[16:20]}-{mid[20:]}"]
    original = dt.datetime.fromisoformat(rec["original_timestamp"])
    corrected = dt.datetime.fromisoformat(rec["timestamp"])
    assert abs((corrected - original).total_seconds()) < 5  # only the trip's latency added
