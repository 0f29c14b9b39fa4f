"""Fixtures: a real collector (uvicorn in a thread) on a free 127.0.0.1 port, a real local bus."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from eventlake.bus import open_consumer
from eventlake.bus.records import record_events
from eventlake.collect import create_app
from eventlake.config import Settings, load_config

WRITE_KEY = "test-write-key"
PLAN = Path(__file__).resolve().parents[3] / "eventlake" / "templates" / "tracking-plan.yaml"


@dataclass
class Collector:
    url: str
    settings: Settings
    app: Any

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10.0, **kw)

    def read(self, topic: str) -> list[dict[str, Any]]:
        """Every event of ``topic`` on the bus in the JSON record form (any record encoding)."""
        consumer = open_consumer(self.settings, f"test-{time.monotonic_ns()}", [topic])
        try:
            out: list[dict[str, Any]] = []
            while True:
                records = consumer.poll(10_000, 0.05)
                if not records:
                    return out
                out += [e for r in records for e in record_events(r.value, topic)]
        finally:
            consumer.close()


class ServerThread:
    """uvicorn serving ``app`` in a background thread until ``stop``."""

    def __init__(self, app: Any, port: int) -> None:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the collector did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def make_settings(project: Path, **collect: Any) -> Settings:
    (project / "tracking-plan.yaml").write_text(PLAN.read_text())
    bus = collect.pop("bus", {})
    return load_config(
        None,
        base_dir=project,
        collect={"write_keys": {WRITE_KEY: "web", "other-key": "ios"}, **collect},
        bus={"path": str(project / "bus"), **bus},
        spec={"tracking_plan": str(project / "tracking-plan.yaml")},
    )


@pytest.fixture
def start_collector(project_dir: Path, free_port: int) -> Iterator[Callable[..., Collector]]:
    """Start a collector with extra ``collect`` (and ``bus=...``) settings; stopped after."""
    servers: list[ServerThread] = []

    def start(**collect: Any) -> Collector:
        settings = make_settings(project_dir, **collect)
        app = create_app(settings)
        server = ServerThread(app, free_port)
        server.start()
        servers.append(server)
        return Collector(f"http://127.0.0.1:{free_port}", settings, app)

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def collector(start_collector: Callable[..., Collector]) -> Collector:
    """A collector with the default limits and the template tracking plan."""
    return start_collector()
