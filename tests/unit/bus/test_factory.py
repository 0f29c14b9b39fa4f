"""The bus factory: the one place that reads ``bus.backend``, and what it hands out."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import eventlake
from eventlake.bus import EVENTS, Bus, TopicPartition, open_bus, open_local_admin
from eventlake.config import load_config
from eventlake.errors import ConfigError

PACKAGE = Path(eventlake.__file__).parent


def test_only_the_bus_factory_reads_bus_backend() -> None:
    readers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "backend"
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "bus"
            ):
                readers.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert readers == []  # the factory itself reads cfg.backend of the BusConfig it is given


def test_local_bus_resolves_its_path_against_the_project(tmp_path: Path) -> None:
    settings = load_config(None, base_dir=tmp_path, bus={"path": "b", "partitions": 2})
    bus = open_bus(settings.bus, settings.base_dir)
    assert isinstance(bus, Bus)
    assert bus.describe() == f"local bus {tmp_path / 'b'}"
    assert bus.crc32_partitions(EVENTS) == 2
    producer = bus.producer()
    producer.append(EVENTS, [b"{}"] * 3, [b"k"] * 3)
    producer.close()
    consumer = bus.consumer("g", [EVENTS])
    consumer.commit({TopicPartition(EVENTS, producer.partition_for(EVENTS, b"k")): 2})
    consumer.close()
    assert bus.committed("g") == {TopicPartition(EVENTS, producer.partition_for(EVENTS, b"k")): 2}
    assert [b.events for b in bus.backlog(bus.committed("g")) if b.events] == [1]


def test_local_admin_is_for_the_local_log_only(tmp_path: Path) -> None:
    local = load_config(None, base_dir=tmp_path, bus={"path": "b"})
    assert open_local_admin(local.bus, local.base_dir, verb="status").status() == []
    kafka = load_config(None, base_dir=tmp_path, bus={"backend": "kafka"})
    with pytest.raises(ConfigError, match=r"'eventlake bus compact' is for the local log"):
        open_local_admin(kafka.bus, kafka.base_dir, verb="compact")


def test_kafka_bus_reports_no_crc32_partitioning(tmp_path: Path) -> None:
    settings = load_config(None, base_dir=tmp_path, bus={"backend": "kafka"})
    bus = open_bus(settings.bus)  # opens no connection
    assert bus.crc32_partitions(EVENTS) is None
    assert bus.describe().startswith("kafka bus 127.0.0.1:9092")


def test_bus_status_and_compact_cli(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from eventlake.cli import cli

    local = tmp_path / "local.toml"
    local.write_text('[bus]\npath = "b"\npartitions = 1\n')
    settings = load_config(local)
    producer = open_bus(settings.bus, settings.base_dir).producer()
    producer.append(EVENTS, [b"{}"] * 5)
    producer.close()
    out = CliRunner().invoke(cli, ["-c", str(local), "bus", "status", "--json"])
    assert out.exit_code == 0, out.output
    parts = json.loads(out.output)
    assert [(p["topic"], p["end_offset"]) for p in parts] == [(EVENTS, 5)]
    out = CliRunner().invoke(cli, ["-c", str(local), "bus", "compact", "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["segments_deleted"] == 0

    kafka = tmp_path / "kafka.toml"
    kafka.write_text('[bus]\nbackend = "kafka"\n')
    refused = CliRunner().invoke(cli, ["-c", str(kafka), "bus", "status"])
    assert refused.exit_code == 1  # main() prints the ConfigError as one line
    assert isinstance(refused.exception, ConfigError)
    assert "'eventlake bus status' is for the local log" in str(refused.exception)
