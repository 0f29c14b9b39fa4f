"""The generator's outputs: a real local bus, a .jsonl file, and the CLI verb."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from eventlake.bus import EVENTS, QUARANTINE, open_consumer, open_producer
from eventlake.bus.records import record_events
from eventlake.cli import cli
from eventlake.config import load_config
from eventlake.generate import WorldConfig, generate, write_bus, write_jsonl
from eventlake.spec import load_tracking_plan

PLAN = Path(__file__).resolve().parents[3] / "eventlake" / "templates" / "tracking-plan.yaml"


def _read(settings, topic: str) -> list[tuple[bytes | None, dict]]:
    consumer = open_consumer(settings, "t", [topic])
    out = []
    try:
        while records := consumer.poll(50_000, 0.05):
            out += [(r.key, e) for r in records for e in record_events(r.value, topic)]
    finally:
        consumer.close()
    return out


def test_write_bus_puts_every_row_on_one_topic(tmp_path: Path) -> None:
    settings = load_config(None, base_dir=tmp_path, bus={"path": str(tmp_path / "bus")})
    world, frame = generate(WorldConfig(users=120, days=5, start=dt.date(2026, 5, 1)))
    producer = open_producer(settings)
    try:
        result = write_bus(
            world, frame, producer, source="game", plan=load_tracking_plan(PLAN), chunk_rows=2_000
        )
    finally:
        producer.close()
    events, quarantine = _read(settings, EVENTS), _read(settings, QUARANTINE)
    assert result.rows == len(frame) == len(events) + len(quarantine)
    assert (result.events, result.quarantined) == (len(events), len(quarantine))
    assert len(quarantine) >= (frame.bad > 0).sum()
    for key, rec in events[:500]:
        assert key == (rec["user_id"] or rec["anonymous_id"]).encode()
        assert rec["source"] == "game" and rec["host"]
        assert rec["timestamp"].endswith("Z") and len(rec["timestamp"]) == 27
    assert {q["reason_code"] for _, q in quarantine} == {"plan_violation"}


def test_write_jsonl_writes_raw_segment_events(tmp_path: Path) -> None:
    world, frame = generate(WorldConfig(users=30, days=3, start=dt.date(2026, 5, 1)))
    path = tmp_path / "events.jsonl"
    result = write_jsonl(world, frame, path)
    lines = path.read_text().splitlines()
    assert result.rows == len(lines) == len(frame)
    first = json.loads(lines[0])
    assert {"type", "messageId", "anonymousId", "context", "originalTimestamp", "sentAt"} <= set(
        first
    )


def test_cli_generate_to_file_is_deterministic(tmp_path: Path) -> None:
    runner = CliRunner()
    outs = []
    for name in ("a.jsonl", "b.jsonl"):
        res = runner.invoke(
            cli,
            [
                "generate",
                "--users",
                "20",
                "--days",
                "2",
                "--start",
                "2026-01-05",
                "--seed",
                "9",
                "--to",
                str(tmp_path / name),
                "--json",
            ],
        )
        assert res.exit_code == 0, res.output
        outs.append((tmp_path / name).read_bytes())
        assert json.loads(res.output)["rows"] == len(outs[-1].splitlines())
    assert outs[0] == outs[1]


def test_cli_generate_rejects_an_unknown_target(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli, ["generate", "--users", "2", "--days", "1", "--to", str(tmp_path / "x.csv")]
    )
    assert res.exit_code != 0
    assert "expected 'bus'" in str(res.exception) or "expected 'bus'" in res.output


@pytest.mark.parametrize("record_format", ["arrow", "json"])
def test_parallel_writers_give_every_partition_the_same_events(
    tmp_path: Path, record_format: str
) -> None:
    from eventlake.generate import write_bus_parallel

    world, frame = generate(WorldConfig(users=150, days=6, start=dt.date(2026, 5, 1)))
    plan = load_tracking_plan(PLAN)
    logs = {}
    for workers in (1, 2):
        settings = load_config(
            None, base_dir=tmp_path, bus={"path": str(tmp_path / f"bus{workers}")}
        )
        result = write_bus_parallel(
            world,
            frame,
            settings,
            source="game",
            plan=plan,
            workers=workers,
            chunk_rows=1_000,
            record_format=record_format,
        )
        assert result.rows == len(frame) == result.events + result.quarantined
        consumer = open_consumer(settings, "t", [EVENTS])
        per_part: dict[int, list[dict]] = {}
        try:
            while records := consumer.poll(50_000, 0.05):
                for r in records:
                    per_part.setdefault(r.partition, []).extend(record_events(r.value))
        finally:
            consumer.close()
        assert len(per_part) > 1
        assert sum(map(len, per_part.values())) == result.events
        logs[workers] = (per_part, sorted(v for _, v in _read_raw(settings, QUARANTINE)))
    assert logs[1] == logs[2]


def _read_raw(settings, topic: str) -> list[tuple[bytes | None, bytes]]:
    consumer = open_consumer(settings, "raw", [topic])
    out = []
    try:
        while records := consumer.poll(50_000, 0.05):
            out += [(r.key, r.value) for r in records]
    finally:
        consumer.close()
    return out
