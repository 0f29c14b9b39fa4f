"""The /healthz bus probe on Kafka: a real Kafka-protocol broker (tansu) on 127.0.0.1."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from eventlake.bus import open_bus
from eventlake.config import load_config

pytestmark = pytest.mark.integration


def test_probe_needs_answering_brokers_and_both_topics(kafka_broker: str, tmp_path: Path) -> None:
    from eventlake.bus.kafka import ensure_topics

    tag = uuid.uuid4().hex[:8]
    bus = {
        "backend": "kafka",
        "bootstrap_servers": kafka_broker,
        "topic": f"ev-{tag}",
        "quarantine_topic": f"q-{tag}",
        "partitions": 1,
    }
    settings = load_config(None, base_dir=tmp_path, bus=bus)
    before = open_bus(settings.bus).probe()
    assert not before.writable and "do not exist yet" in before.detail
    ensure_topics(settings.bus)
    after = open_bus(settings.bus).probe()
    assert after.writable and after.backend == "kafka"
    assert open_bus(settings.bus).end_offsets() is None  # the lag on Kafka is the broker's to tell
    gone = load_config(None, base_dir=tmp_path, bus={**bus, "bootstrap_servers": "127.0.0.1:1"})
    down = open_bus(gone.bus).probe(timeout=1.0)
    assert not down.writable and "do not answer" in down.detail
