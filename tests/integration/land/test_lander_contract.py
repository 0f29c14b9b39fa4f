"""The lander's contract on every bus backend (``BUS_BACKENDS``): what a one-shot land
lands, where it stops, and that the group is fit for the next lander afterwards."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from eventlake.cli import cli
from eventlake.config import Settings
from eventlake.land import Lander, land

pytestmark = pytest.mark.integration


def _lake_ids(settings: Settings) -> Counter[str]:
    root = Path(settings.lake_uri())
    if not list((root / "events").rglob("*.parquet")):
        return Counter()
    rows = duckdb.sql(f"select message_id from read_parquet('{root}/events/**/*.parquet')")
    return Counter(r[0] for r in rows.fetchall())


def test_one_shot_land_lands_everything_that_was_on_the_bus(backend_project, events_appender):
    """The issue's case: 2,552 events waiting, a fresh consumer group, one `land` call (what
    `eventlake run` does). On Kafka this landed 0 and said ok."""
    settings = backend_project()
    good, bad = events_appender(settings, 2552, bad_every=10)
    result = land(settings)
    assert (result.events, result.quarantined) == (len(good), len(bad))
    assert _lake_ids(settings) == Counter(good)
    again = land(settings)  # nothing new: lands nothing, and does not wait for anything
    assert (again.events, again.quarantined, again.batches) == (0, 0, 0)
    assert _lake_ids(settings) == Counter(good)


def test_eventlake_land_cli_lands_everything_on_each_backend(
    backend_project, events_appender, tmp_path
):
    settings = backend_project()
    good, bad = events_appender(settings, 2552, bad_every=10)
    bus = settings.bus
    config = tmp_path / "eventlake.toml"
    config.write_text(
        f"""
[spec]
tracking_plan = "plan.yaml"
[bus]
backend = "{bus.backend}"
path = "{bus.path}"
bootstrap_servers = "{bus.bootstrap_servers}"
topic = "{bus.topic}"
quarantine_topic = "{bus.quarantine_topic}"
partitions = {bus.partitions}
[lake]
path = "lake"
[land]
consumer_group = "{settings.land.consumer_group}"
"""
    )
    out = CliRunner().invoke(cli, ["-c", str(config), "land", "--json", "--quiet"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert (result["events"], result["quarantined"]) == (len(good), len(bad))
    assert _lake_ids(settings) == Counter(good)


def test_one_shot_land_stops_at_the_ends_it_read_at_start(backend_project, events_appender):
    """A producer keeps appending: the run still ends, with everything from before it."""
    settings = backend_project(max_records=100)
    before, _ = events_appender(settings, 500)
    stop = threading.Event()
    later: list[str] = []

    def keep_appending() -> None:
        n = 500
        while not stop.is_set():
            ids, _ = events_appender(settings, 20, start=n)
            later.extend(ids)
            n += 20
            time.sleep(0.02)

    producer = threading.Thread(target=keep_appending, daemon=True)
    producer.start()
    try:
        lander = Lander.from_settings(settings)
        try:
            result = lander.run()
        finally:
            lander.close()
    finally:
        stop.set()
        producer.join(timeout=30)
    landed = _lake_ids(settings)
    assert all(landed[i] == 1 for i in before)
    assert set(landed) <= set(before) | set(later)
    assert max(landed.values()) == 1
    assert result.events == sum(landed.values())


def test_one_shot_land_then_follow_on_the_same_group_lands_promptly(
    backend_project, events_appender
):
    """After one-shot runs, a --follow lander of the same group lands what comes next.

    On Kafka this once waited forever (the first one-shot left the group in the middle of
    its join; bus/kafka_consumer.py says why). 60 s is far below that and far above a
    group join here (~3 s).
    """
    settings = backend_project()
    first, _ = events_appender(settings, 300)
    assert land(settings).events == len(first)
    assert land(settings).events == 0  # nothing to do: opens the consumer, lands nothing
    second, _ = events_appender(settings, 300, start=300)
    expected = Counter(first + second)
    deadline = time.monotonic() + 60
    lander = Lander.from_settings(settings)
    try:
        lander.run(
            follow=True,
            should_stop=lambda: (
                time.monotonic() > deadline or sum(_lake_ids(settings).values()) >= len(expected)
            ),
        )
    finally:
        lander.close()
    assert _lake_ids(settings) == expected
