"""Bus backends under test: every contract test runs once per entry of BACKENDS.

Adding a backend is one line in BACKENDS: its name -> a function that returns Settings
pointing at a fresh, empty bus of that backend (and may start a broker for the test).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from eventlake.config import Settings, load_config


def _local_settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    return load_config(
        None, base_dir=tmp_path, bus={"backend": "local", "path": str(tmp_path / "bus")}
    )


def _kafka_settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    broker = request.getfixturevalue("kafka_broker")  # tests/integration/conftest.py
    tag = uuid.uuid4().hex[:8]
    bus = {
        "backend": "kafka",
        "bootstrap_servers": broker,
        "topic": f"ev-{tag}",
        "quarantine_topic": f"q-{tag}",
        "partitions": 3,
    }
    return load_config(None, base_dir=tmp_path, bus=bus)


BACKENDS: dict[str, Callable[[Path, pytest.FixtureRequest], Settings]] = {
    "local": _local_settings,
    "kafka": _kafka_settings,
}


@pytest.fixture(params=list(BACKENDS))
def bus_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for an empty bus of each backend in turn."""
    return BACKENDS[request.param](tmp_path, request)
