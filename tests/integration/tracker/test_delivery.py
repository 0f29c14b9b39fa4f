"""Exactly-once delivery through a real collector that is down for a while, and a restart.

The collector is eventlake's own (``eventlake.collect.create_app``) over a real socket; the
bus is a real local log. "Exactly once" is what the warehouse sees after deduplicating by
messageId: every event sent is there, none is missing, no other id appears.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from eventlake.bus import EVENTS, open_consumer
from eventlake.bus.records import record_events
from eventlake.collect import create_app
from eventlake.config import Settings, load_config
from eventlake.tracker import Client

pytestmark = pytest.mark.integration

KEY = "tracker-test-key"


def _settings(project: Path) -> Settings:
    return load_config(
        None,
        base_dir=project,
        collect={"write_keys": {KEY: "sdk"}},
        bus={"path": str(project / "bus")},
        spec={"tracking_plan": None},
    )


def _bus_ids(settings: Settings) -> list[str]:
    consumer = open_consumer(settings, f"check-{time.monotonic_ns()}", [EVENTS])
    ids: list[str] = []
    try:
        while records := consumer.poll(10_000, 0.05):
            ids += [e["message_id"] for r in records for e in record_events(r.value)]
    finally:
        consumer.close()
    return ids


def _send_mixed(client: Client, n: int) -> list[str]:
    ids = []
    for i in range(n):
        user = f"player-{i % 17}"
        match i % 6:
            case 0:
                ids.append(client.identify(user, {"name": f"P{i}"}, anonymous_id=f"anon-{i}"))
            case 1:
                ids.append(client.page("Shop", {"path": "/shop"}, user_id=user))
            case 2:
                ids.append(client.screen("Map", user_id=user))
            case 3:
                ids.append(client.group("g001", {"name": "Iron Wolves"}, user_id=user))
            case 4:
                ids.append(client.alias(f"anon-{i}", user))
            case _:
                ids.append(client.track("Item Purchased", {"item": "sword"}, user_id=user))
    return ids


def test_collector_down_then_back_every_event_once(project_dir: Path, serve: Any) -> None:
    settings = _settings(project_dir)
    buffer = project_dir / "sdk-buffer"
    port_url = serve.url  # type: ignore[attr-defined]
    client = Client(
        KEY,
        port_url,
        buffer_dir=buffer,
        max_queue_size=40,
        max_batch_events=25,
        flush_interval=0.05,
        base_backoff=0.05,
        max_backoff=0.3,
    )
    try:
        ids = _send_mixed(client, 400)
        assert not client.flush(timeout=1.0)  # nobody is listening yet
        assert client.pending == 400
        assert list(buffer.glob("*.batch")), "a full queue spills to the disk buffer"
        serve(create_app(settings))
        assert client.flush(timeout=60)
        assert client.stats["delivered"] >= 400
    finally:
        client.shutdown(timeout=5)
    on_bus = _bus_ids(settings)
    assert set(on_bus) == set(ids)
    assert len(set(on_bus)) == 400
    assert not list(buffer.glob("*.batch"))


CHILD = textwrap.dedent(
    """
    import json, sys
    from eventlake.tracker import Client
    url, buffer = sys.argv[1], sys.argv[2]
    client = Client("tracker-test-key", url, buffer_dir=buffer, max_queue_size=30,
                    flush_interval=0.05, base_backoff=0.05, max_backoff=0.2)
    ids = [client.track("Level Started", {"level": i}, user_id=f"p{i % 7}")
           for i in range(250)]
    client.shutdown(timeout=0.5)
    print(json.dumps(ids))
    """
)


def test_buffer_survives_a_process_restart(project_dir: Path, serve: Any) -> None:
    settings = _settings(project_dir)
    buffer = project_dir / "sdk-buffer"
    url = serve.url  # type: ignore[attr-defined]
    child = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(buffer)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    ids = json.loads(child.stdout)
    assert len(list(buffer.glob("*.batch"))) > 0
    serve(create_app(settings))
    with Client(KEY, url, buffer_dir=buffer, flush_interval=0.05) as client:
        assert client.pending == 250
        assert client.flush(timeout=60)
    on_bus = _bus_ids(settings)
    assert set(on_bus) == set(ids) and len(set(on_bus)) == 250
