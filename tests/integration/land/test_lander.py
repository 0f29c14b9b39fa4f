"""The lander end to end on real files: layout, readers, exactly once across crashes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest

from eventlake.bus import EVENTS, TopicPartition, open_consumer
from eventlake.errors import EventlakeError
from eventlake.lake import EVENT_SCHEMA, QUARANTINE_SCHEMA
from eventlake.land import Lander

pytestmark = pytest.mark.integration


class Crash(Exception):
    """Stands in for the process dying at a chosen point."""


def _lake_ids(lake_root: Path) -> Counter[str]:
    files = list((lake_root / "events").rglob("*.parquet"))
    if not files:
        return Counter()
    rows = duckdb.sql(
        f"select message_id from read_parquet('{lake_root}/events/**/*.parquet', "
        "hive_partitioning=true)"
    ).fetchall()
    return Counter(r[0] for r in rows)


def test_lands_events_and_quarantine_readable_by_pyarrow_and_duckdb(project, events_appender):
    settings = project()
    good, bad = events_appender(settings, 1000, bad_every=10)
    lander = Lander.from_settings(settings)
    result = lander.run()
    lander.close()
    assert (result.events, result.quarantined) == (900, 100) == (len(good), len(bad))
    assert result.days == {"2026-11-20", "2026-11-21", "2026-11-22"}
    root = Path(settings.lake_uri())

    events = ds.dataset(root / "events", format="parquet", partitioning="hive").to_table()
    assert events.num_rows == 900
    assert set(events.column("message_id").to_pylist()) == set(good)
    for f in EVENT_SCHEMA:
        assert events.schema.field(f.name).type == f.type
    assert events.column("bus_offset").null_count == 0

    con = duckdb.connect()
    per_day = con.sql(
        f"select event_date, typeof(event_date), count(*), "
        f"bool_and(cast(timestamp as date) = event_date) "
        f"from read_parquet('{root}/events/**/*.parquet', hive_partitioning=true) "
        "group by all order by 1"
    ).fetchall()
    assert sum(r[2] for r in per_day) == 900
    assert len(per_day) == 3
    assert {r[1] for r in per_day} == {"DATE"}
    assert all(r[3] for r in per_day)
    props = con.execute(
        f"select json_extract_string(properties, '$.note') from read_parquet("
        f"'{root}/events/**/*.parquet') where message_id = 'msg-00000013'"
    ).fetchall()
    assert props == [("line\nbreak",)]

    q = ds.dataset(root / "quarantine", format="parquet", partitioning="hive").to_table()
    assert q.num_rows == 100
    assert set(q.column("reason_code").to_pylist()) == {"plan_violation"}
    assert q.schema.field("raw").type == QUARANTINE_SCHEMA.field("raw").type
    assert set(q.column("message_id").to_pylist()) == set(bad)


def test_rerun_lands_only_new_events(project, events_appender):
    settings = project()
    first, _ = events_appender(settings, 300)
    lander = Lander.from_settings(settings)
    assert lander.run().events == 300
    lander.close()
    second, _ = events_appender(settings, 200, start=300)
    lander = Lander.from_settings(settings)
    again = lander.run()
    lander.close()
    assert again.events == 200
    assert _lake_ids(Path(settings.lake_uri())) == Counter(first + second)


@pytest.mark.parametrize("stage", ["before_commit", "lake_committed"])
def test_crash_around_the_lake_commit_neither_loses_nor_duplicates(project, events_appender, stage):
    settings = project(max_records=150)
    good, _ = events_appender(settings, 1200)
    calls = {"n": 0}

    def hook(at: str, tp: TopicPartition) -> None:
        if at == stage:
            calls["n"] += 1
            if calls["n"] == 4:
                raise Crash(stage)

    lander = Lander.from_settings(settings, hook=hook)
    with pytest.raises(Crash):
        lander.run()
    lander.close()
    root = Path(settings.lake_uri())
    partial = _lake_ids(root)
    assert 0 < sum(partial.values()) < 1200
    if stage == "lake_committed":
        # the lake is ahead of the bus group: the restart must trust the lake
        consumer = open_consumer(settings, settings.land.consumer_group, [EVENTS])
        lake_rows = sum(partial.values())
        bus_rows = sum(consumer.committed(tp) for tp in consumer.assignment())
        consumer.close()
        assert bus_rows < lake_rows

    lander = Lander.from_settings(settings)
    lander.run()
    lander.close()
    counts = _lake_ids(root)
    assert counts == Counter(good)


def test_crash_between_data_files_and_commit_record(project, events_appender, monkeypatch):
    settings = project(max_records=200)
    good, _ = events_appender(settings, 1000)
    lander = Lander.from_settings(settings)
    real = lander.lake._write_record
    calls = {"n": 0}

    def dying_write_record(record):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash("killed after the data files were written")
        return real(record)

    monkeypatch.setattr(lander.lake, "_write_record", dying_write_record)
    with pytest.raises(Crash):
        lander.run()
    lander.close()
    root = Path(settings.lake_uri())
    leftovers = [p for p in root.rglob("*.tmp")]
    assert leftovers, "the dying commit should leave hidden temporary files"
    monkeypatch.undo()

    lander = Lander.from_settings(settings)
    lander.run()
    lander.close()
    assert _lake_ids(root) == Counter(good)
    # plain readers never see the hidden temporary files
    assert ds.dataset(root / "events", format="parquet", partitioning="hive").count_rows() == 1000


def test_a_second_lander_of_the_group_on_a_local_bus_is_refused(project, events_appender):
    settings = project(max_records=100)
    good, _ = events_appender(settings, 300)
    first = Lander.from_settings(settings)
    with pytest.raises(EventlakeError, match="already has a member"):
        Lander.from_settings(settings)
    first.run()
    first.close()
    second = Lander.from_settings(settings)  # the group is free again
    assert second.run().events == 0
    second.close()
    assert _lake_ids(Path(settings.lake_uri())) == Counter(good)


def test_a_racing_commit_of_the_same_batch_is_refused_and_skipped(project, events_appender):
    """As after a Kafka rebalance: another member landed the batch first."""
    settings = project(max_records=100)
    good, _ = events_appender(settings, 300)
    lander = Lander.from_settings(settings)
    lander.run(max_batches=1)
    # another writer lands the partition's next batch behind this lander's back
    lander.consumer.close()
    rival = Lander.from_settings(settings)
    rival.run(max_batches=1)
    rival.close()
    lander.consumer = open_consumer(settings, settings.land.consumer_group)
    for tp in lander.consumer.assignment():
        lander.consumer.seek(tp, 0)  # a stale position, as a new partition owner might have
    lander.run()
    lander.close()
    assert _lake_ids(Path(settings.lake_uri())) == Counter(good)


def test_pretty_printed_and_broken_records_on_the_bus_never_stop_the_lander(project):
    import json

    from eventlake.bus import open_producer

    settings = project()
    base = {
        "type": "track",
        "event": "Level Started",
        "timestamp": "2026-11-20T10:00:00.000000Z",
        "received_at": "2026-11-20T10:00:01.000000Z",
    }
    values = [
        json.dumps({**base, "message_id": "flat"}).encode(),
        json.dumps({**base, "message_id": "pretty"}, indent=2).encode(),
        b"{truncated",
        json.dumps({**base, "message_id": "last"}).encode(),
    ]
    producer = open_producer(settings)
    producer.append(EVENTS, values, [b"k"] * 4)
    producer.close()
    lander = Lander.from_settings(settings)
    result = lander.run()
    lander.close()
    assert (result.events, result.quarantined) == (3, 1)
    root = Path(settings.lake_uri())
    assert _lake_ids(root) == Counter(["flat", "pretty", "last"])
    q = ds.dataset(root / "quarantine", format="parquet", partitioning="hive").to_table()
    assert q.column("reason_code").to_pylist() == ["unreadable_record"]
    assert q.column("raw").to_pylist() == ["{truncated"]


def test_a_following_lander_told_to_stop_lands_what_the_bus_holds_then(project, events_appender):
    """``eventlake up`` stops the intake first, then the lander: what the collector
    acknowledged last is in the lake even when the stop came before the lander's first
    poll (here: before it started following at all). Landing it twice is impossible: the
    records are then behind the lake's offsets."""
    settings = project()
    good, _ = events_appender(settings, 250)
    lander = Lander.from_settings(settings)
    result = lander.run(follow=True, should_stop=lambda: True)
    assert (result.events, result.batches) == (250, 1)
    again = lander.run(follow=True, should_stop=lambda: True)
    lander.close()
    assert (again.events, again.batches) == (0, 0)
    assert _lake_ids(Path(settings.lake_uri())) == Counter(good)
