"""The warehouse protocol, run against every engine (see conftest.BACKENDS).

Every expected number is counted independently from the lake's Parquet files with pyarrow
(and its commit folder listed with ``os``), never from the warehouse's own SQL.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import eventlake_tests_support as support
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from eventlake.config import Settings
from eventlake.errors import ModelBuildError, QueryRefusedError
from eventlake.lake import Lake, open_lake
from eventlake.pipeline.run import load_and_build
from eventlake.warehouse import (
    Warehouse,
    WarehouseCounts,
    WarehouseReader,
    WriteTransaction,
    open_warehouse,
)

pytestmark = pytest.mark.integration

lakedata = support.lakedata()
D1, D2, D3 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)
PROBE_SELECT = ["probe_daily", "probe_total"]


def _lake(settings: Settings) -> Lake:
    return open_lake(settings.lake_uri())


def _lake_files(settings: Settings, top: str) -> list[Path]:
    root = Path(settings.lake_uri()) / top
    return sorted(p for p in root.rglob("*.parquet") if not p.name.startswith("."))


def _lake_truth(settings: Settings) -> dict[str, Any]:
    """Counts of the lake computed with pyarrow and os alone."""
    events = [pq.read_table(p) for p in _lake_files(settings, "events")]
    quarantine = [pq.read_table(p) for p in _lake_files(settings, "quarantine")]
    ids = [str(v) for t in events for v in t.column("message_id").to_pylist()]
    by_day: dict[dt.date, int] = {}
    for path, table in zip(_lake_files(settings, "events"), events, strict=True):
        day = dt.date.fromisoformat(path.parent.name.split("=", 1)[1])
        by_day[day] = by_day.get(day, 0) + table.num_rows
    newest = max(pc.max(t.column("received_at")).as_py() for t in events) if events else None
    commits = Path(settings.lake_uri()) / "_commits" / "events"
    return {
        "rows": len(ids),
        "distinct": len(set(ids)),
        "quarantine": sum(t.num_rows for t in quarantine),
        "by_day": by_day,
        "commits": {n[: -len(".json")] for n in os.listdir(commits) if n.endswith(".json")},
        "newest": newest,
    }


def _rows_by_day(reader: WarehouseReader) -> dict[dt.date, int]:
    result = reader.execute("SELECT event_date, count(*) FROM raw.events GROUP BY event_date")
    return {_as_date(day): int(n) for day, n in result.rows}


def _as_date(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _load(warehouse: Warehouse, settings: Settings, **kwargs: Any) -> Any:
    with warehouse.transaction() as tx:
        return tx.load_raw(_lake(settings), **kwargs)


def _read(warehouse: Warehouse, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    reader = warehouse.reader()
    try:
        return reader.execute(sql, params).rows
    finally:
        reader.close()


def _day_seqs(warehouse: Warehouse) -> dict[dt.date, int]:
    rows = _read(
        warehouse, "SELECT day, load_seq FROM raw._day_loads WHERE raw_table = ?", ("events",)
    )
    return {_as_date(day): int(seq) for day, seq in rows}


def test_engine_implements_the_protocol(wh_settings: Settings) -> None:
    warehouse = open_warehouse(wh_settings)
    assert isinstance(warehouse, Warehouse)
    assert warehouse.engine == wh_settings.warehouse.backend
    writer = lakedata.LakeWriter(_lake(wh_settings))
    writer.commit(lakedata.game_events(D1, 2))
    with warehouse.transaction() as tx:
        assert isinstance(tx, WriteTransaction)
        assert tx.dbt_target().name == wh_settings.warehouse.backend
        tx.load_raw(_lake(wh_settings))
    reader = warehouse.reader()
    try:
        assert isinstance(reader, WarehouseReader)
        assert reader.engine == wh_settings.warehouse.backend
    finally:
        reader.close()


def test_raw_load_is_idempotent(wh_settings: Settings) -> None:
    warehouse = open_warehouse(wh_settings)
    writer = lakedata.LakeWriter(_lake(wh_settings))
    writer.commit(lakedata.game_events(D1, 3), lakedata.quarantine_rows(D1, 2))
    writer.commit(lakedata.game_events(D2, 2, tag="b-"))
    truth = _lake_truth(wh_settings)

    first = _load(warehouse, wh_settings)
    assert first.commits_loaded == 2 and first.event_days == (D1, D2)
    reader = warehouse.reader()
    try:
        assert _rows_by_day(reader) == truth["by_day"]
        again = _load(warehouse, wh_settings)
        assert again.commits_loaded == 0 and again.event_days == ()
        assert _rows_by_day(reader) == truth["by_day"]
        # replacing a day that got nothing new keeps exactly its rows
        redo = _load(warehouse, wh_settings, reload_days=[D1])
        assert redo.commits_loaded == 0 and redo.event_days == (D1,)
        assert _rows_by_day(reader) == truth["by_day"]
        count = reader.execute("SELECT count(*) FROM raw.quarantine").rows
        assert count == [(truth["quarantine"],)]
    finally:
        reader.close()


def test_late_day_is_replaced_and_nothing_else_reloaded(wh_settings: Settings) -> None:
    warehouse = open_warehouse(wh_settings)
    writer = lakedata.LakeWriter(_lake(wh_settings))
    for n, day in enumerate((D1, D2, D3)):
        writer.commit(lakedata.game_events(day, 2, tag=f"d{n}-"))
    _load(warehouse, wh_settings)
    before = _day_seqs(warehouse)
    assert set(before) == {D1, D2, D3} and len(set(before.values())) == 1

    writer.commit(lakedata.game_events(D1, 2, tag="late-", received=D3, first_user=10))
    late = _load(warehouse, wh_settings)
    assert late.commits_loaded == 1 and late.event_days == (D1,)
    after = _day_seqs(warehouse)
    assert after[D1] > before[D1]
    assert after[D2] == before[D2] and after[D3] == before[D3]
    assert _rows_by_day_of(warehouse) == _lake_truth(wh_settings)["by_day"]


def test_models_built_false_then_true(wh_settings: Settings) -> None:
    warehouse = open_warehouse(wh_settings)
    assert warehouse.models_built() is False
    lakedata.LakeWriter(_lake(wh_settings)).commit(lakedata.game_events(D1, 2))
    with warehouse.transaction() as tx:
        assert tx.models_built() is False
        tx.load_raw(_lake(wh_settings))
    assert warehouse.models_built() is False  # the raw layer is not a model
    load_and_build(wh_settings, select=PROBE_SELECT)
    assert warehouse.models_built() is True
    with warehouse.transaction() as tx:
        assert tx.models_built() is True


def test_counts_are_right(wh_settings: Settings) -> None:
    warehouse = open_warehouse(wh_settings)
    assert warehouse.counts() == WarehouseCounts()
    writer = lakedata.LakeWriter(_lake(wh_settings))
    writer.commit(lakedata.game_events(D1, 3), lakedata.quarantine_rows(D1, 2))
    writer.commit(lakedata.game_events(D2, 3, tag="b-"), lakedata.quarantine_rows(D2, 1, tag="q"))
    writer.commit(lakedata.game_events(D2, 2, tag="b-"))  # re-sent: duplicate message ids
    load_and_build(wh_settings)  # the whole project: stg_events is tested against marts
    truth = _lake_truth(wh_settings)
    assert truth["rows"] > truth["distinct"]  # the lake has duplicates to count

    counts = warehouse.counts()
    assert dict(counts.loaded_commits) == {"events": frozenset(truth["commits"])}
    assert counts.lake_rows == {"events": truth["rows"], "quarantine": truth["quarantine"]}
    assert counts.raw_events == truth["rows"]
    assert counts.distinct_events == truth["distinct"]
    assert counts.modeled == truth["distinct"]  # stg_events: one row per message_id
    assert counts.newest_received_at is not None
    assert counts.newest_received_at == truth["newest"]


def test_failed_build_publishes_nothing(wh_settings: Settings) -> None:
    """What a failed build leaves behind, engine by engine (``warehouse/base.py``).

    Every engine: the failed run's lake commit is not recorded as loaded (the next run
    loads it again) and the models downstream of the failed test keep their rows. DuckDB
    also keeps its raw rows and the failed model itself: the published file is untouched.
    PostgreSQL and Spark change tables in place: the raw rows of the failed run are there
    and the model whose test failed was rebuilt before the test ran.
    """
    warehouse = open_warehouse(wh_settings)
    writer = lakedata.LakeWriter(_lake(wh_settings))
    writer.commit(lakedata.game_events(D1, 2))
    load_and_build(wh_settings, select=PROBE_SELECT)
    loaded = warehouse.counts().loaded_commits
    total = _read(warehouse, "SELECT events, days FROM probe.probe_total")
    daily = sorted(_read(warehouse, "SELECT event_date, events FROM probe.probe_daily"))
    raw_days = set(_rows_by_day_of(warehouse))

    poison = lakedata.game_events(D2, 1, tag="poison-")
    poison[0] = dict(poison[0], event="Poison")
    writer.commit(poison)
    with pytest.raises(ModelBuildError, match="probe_daily"):
        load_and_build(wh_settings, select=PROBE_SELECT)

    assert warehouse.counts().loaded_commits == loaded
    assert _read(warehouse, "SELECT events, days FROM probe.probe_total") == total
    after_daily = sorted(_read(warehouse, "SELECT event_date, events FROM probe.probe_daily"))
    if wh_settings.warehouse.backend == "duckdb":
        assert set(_rows_by_day_of(warehouse)) == raw_days
        assert after_daily == daily
    else:  # changed in place: the raw rows and the failed model itself
        assert set(_rows_by_day_of(warehouse)) == raw_days | {D2}
        assert [_as_date(d) for d, _ in after_daily] == [D1, D2]
    # the next run sees the failed run's commit as new again
    again = _load(warehouse, wh_settings)
    assert again.commits_loaded == 1 and again.event_days == (D2,)


def _rows_by_day_of(warehouse: Warehouse) -> dict[dt.date, int]:
    reader = warehouse.reader()
    try:
        return _rows_by_day(reader)
    finally:
        reader.close()


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE raw.intruder (x INTEGER)",
        "INSERT INTO raw._day_loads (raw_table) VALUES ('x')",
        "DELETE FROM raw._loaded_commits",
        "DROP TABLE raw._lake_files",
    ],
)
def test_reader_is_read_only(wh_settings: Settings, statement: str) -> None:
    warehouse = open_warehouse(wh_settings)
    lakedata.LakeWriter(_lake(wh_settings)).commit(lakedata.game_events(D1, 2))
    _load(warehouse, wh_settings)
    before = warehouse.counts()
    reader = warehouse.reader()
    try:
        with pytest.raises(QueryRefusedError, match="read"):
            reader.execute(statement)
        assert reader.execute("SELECT count(*) FROM raw._loaded_commits").rows == [(1,)]
    finally:
        reader.close()
    assert warehouse.counts() == before


def test_reader_binds_parameters_and_follows_publishes(wh_settings: Settings) -> None:
    warehouse = open_warehouse(wh_settings)
    writer = lakedata.LakeWriter(_lake(wh_settings))
    writer.commit(lakedata.game_events(D1, 2))
    _load(warehouse, wh_settings)
    truth = _lake_truth(wh_settings)
    reader = warehouse.reader()
    try:
        version = reader.version()
        # a literal '?' and '%' in the text stay text; only bare ? are placeholders
        sql = (
            "SELECT count(*) FROM raw.events WHERE event_date = ? AND type <> ? "
            "AND message_id NOT LIKE '%?%' -- the last ? is not a placeholder"
        )
        got = reader.execute(sql, (D1, "it's 100% not a type"))
        assert got.columns and got.rows == [(truth["by_day"][D1],)]
        limited = reader.execute("SELECT message_id FROM raw.events", limit=3)
        assert len(limited.rows) == 3 and limited.truncated
        writer.commit(lakedata.game_events(D2, 2, tag="b-"))
        _load(warehouse, wh_settings)
        assert reader.version() != version
        assert _rows_by_day(reader) == _lake_truth(wh_settings)["by_day"]
    finally:
        reader.close()
