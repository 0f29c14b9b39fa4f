"""The lander on the Kafka backend: the lake, not the group offsets, decides where to resume."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from eventlake.bus import TopicPartition
from eventlake.bus.kafka import KafkaConsumer
from eventlake.config import load_config
from eventlake.errors import LandError
from eventlake.land import Lander

pytestmark = pytest.mark.integration


class Crash(Exception):
    pass


def test_kafka_lander_crash_after_lake_commit_lands_each_event_once(
    kafka_broker, tmp_path, events_appender
):
    tag = uuid.uuid4().hex[:8]
    settings = load_config(
        None,
        base_dir=tmp_path,
        bus={
            "backend": "kafka",
            "bootstrap_servers": kafka_broker,
            "topic": f"ev-{tag}",
            "quarantine_topic": f"q-{tag}",
            "partitions": 2,
        },
        lake={"path": "lake"},
        land={"max_records": 100, "max_age_seconds": 0.5, "consumer_group": f"g-{tag}"},
        spec={"tracking_plan": None},
    )
    good, _ = events_appender(settings, 600)
    calls = {"n": 0}

    def hook(at: str, tp: TopicPartition) -> None:
        if at == "lake_committed":
            calls["n"] += 1
            if calls["n"] == 3:
                raise Crash

    lander = Lander.from_settings(settings, hook=hook)
    with pytest.raises(Crash):
        lander.run(follow=True, should_stop=lambda: calls["n"] >= 3)
    lander.close()

    root = Path(settings.lake_uri())

    def read() -> Counter[str]:
        rows = duckdb.sql(
            f"select message_id from read_parquet('{root}/events/**/*.parquet')"
        ).fetchall()
        return Counter(r[0] for r in rows)

    lander = Lander.from_settings(settings)
    lander.run(follow=True, should_stop=lambda: sum(read().values()) >= len(good))
    lander.close()
    landed = read()
    assert landed == Counter(good)


def test_one_shot_land_fails_clearly_while_another_member_sits_on_partitions(
    kafka_broker, tmp_path, events_appender
):
    """A one-shot land cannot reach a partition another group member holds and never lands:
    it reports which partitions after land.drain_timeout_seconds instead of "ok"."""
    tag = uuid.uuid4().hex[:8]
    settings = load_config(
        None,
        base_dir=tmp_path,
        bus={
            "backend": "kafka",
            "bootstrap_servers": kafka_broker,
            "topic": f"ev-{tag}",
            "quarantine_topic": f"q-{tag}",
            "partitions": 2,
        },
        lake={"path": "lake"},
        land={"consumer_group": f"g-{tag}", "drain_timeout_seconds": 4},
        spec={"tracking_plan": None},
    )
    good, _ = events_appender(settings, 400)  # 97 users: both partitions get events
    holder = KafkaConsumer(settings.bus, settings.land.consumer_group)
    assigned, stop = threading.Event(), threading.Event()

    def sit() -> None:  # a member that polls (so it keeps its partitions) and lands nothing
        while not stop.is_set():
            holder.poll(100, 0.2)
            if holder.assignment():
                assigned.set()

    thread = threading.Thread(target=sit, daemon=True)
    thread.start()
    try:
        assert assigned.wait(30)
        lander = Lander.from_settings(settings)
        try:
            with pytest.raises(LandError, match=r"made no progress for 4 s .*events/\d") as err:
                lander.run()
        finally:
            lander.close()
    finally:
        stop.set()
        thread.join(timeout=30)
        holder.close()
    assert f"consumer group 'g-{tag}'" in str(err.value)
    root = Path(settings.lake_uri())
    if list((root / "events").rglob("*.parquet")):
        rows = duckdb.sql(f"select message_id from read_parquet('{root}/events/**/*.parquet')")
        landed = Counter(r[0] for r in rows.fetchall())
        assert set(landed) < set(good) and max(landed.values()) == 1
