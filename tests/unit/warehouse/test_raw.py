"""The raw layer loads lake commits incrementally, replaces touched days, never appends twice."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import eventlake_tests_lakedata as lakedata  # loaded by conftest.py from lakedata.py
import pyarrow as pa
import pytest

from eventlake.errors import ConfigError, WarehouseError
from eventlake.lake import EVENT_SCHEMA, PendingFile, open_lake
from eventlake.warehouse import open_warehouse
from eventlake.warehouse.duckdb import DuckDBTransaction, write_transaction
from eventlake.warehouse.raw import RAW_TABLES, pending_commits

D1, D2, D3 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)


def _load(db: Path, lake, reload_days=()):  # type: ignore[no-untyped-def]
    """The DuckDB raw load straight into ``db`` (a transaction's body, without the copy)."""
    return DuckDBTransaction(db, threads=2).load_raw(lake, reload_days=reload_days)


def _rows_by_day(db: Path, table: str = "events") -> dict[dt.date, int]:
    column = RAW_TABLES[table].day_column
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute(
            f"SELECT {column}, count(*) FROM raw.{table} GROUP BY 1 ORDER BY 1"
        ).fetchall()
    return dict(rows)


def _seqs(db: Path) -> dict[dt.date, int]:
    with duckdb.connect(str(db), read_only=True) as conn:
        return dict(
            conn.execute(
                "SELECT day, load_seq FROM raw._day_loads WHERE raw_table = 'events'"
            ).fetchall()
        )


def test_first_load_brings_every_committed_day(tmp_path, lake, writer):
    writer.commit(
        lakedata.game_events(D1, 3) + lakedata.game_events(D2, 2),
        lakedata.quarantine_rows(D2, 4),
    )
    db = tmp_path / "w.duckdb"
    result = _load(db, lake)
    assert result.commits_loaded == 1
    assert result.event_days == (D1, D2)
    assert result.changed_days["quarantine"] == (D2,)
    assert result.new_rows == {"events": 13 + 9, "quarantine": 4}
    assert _rows_by_day(db) == {D1: 13, D2: 9}
    assert _rows_by_day(db, "quarantine") == {D2: 4}
    with duckdb.connect(str(db), read_only=True) as conn:
        cols = [r[0] for r in conn.execute("DESCRIBE raw.events").fetchall()]
        ts_type = conn.execute(
            "SELECT data_type FROM duckdb_columns() WHERE table_name = 'events' "
            "AND column_name = 'timestamp'"
        ).fetchone()
    assert cols == [f.name for f in RAW_TABLES["events"].schema] + ["event_date"]
    assert ts_type == ("TIMESTAMP WITH TIME ZONE",)


def test_rerun_with_nothing_new_changes_nothing(tmp_path, lake, writer):
    writer.commit(lakedata.game_events(D1, 3))
    db = tmp_path / "w.duckdb"
    _load(db, lake)
    before = _seqs(db)
    again = _load(db, lake)
    assert again.commits_loaded == 0
    assert again.event_days == ()
    assert _rows_by_day(db) == {D1: 13}
    assert _seqs(db) == before


def test_late_events_replace_only_their_day(tmp_path, lake, writer):
    for day in (D1, D2, D3):
        writer.commit(lakedata.game_events(day, 3))
    db = tmp_path / "w.duckdb"
    first = _load(db, lake)
    assert first.event_days == (D1, D2, D3)
    seqs = _seqs(db)
    writer.commit(lakedata.game_events(D1, 2, tag="late-", received=D3))
    late = _load(db, lake)
    assert late.commits_loaded == 1
    assert late.event_days == (D1,)
    assert _rows_by_day(db) == {D1: 13 + 9, D2: 13, D3: 13}
    after = _seqs(db)
    assert after[D1] > seqs[D1]
    assert after[D2] == seqs[D2] and after[D3] == seqs[D3]


def test_reload_days_replace_without_duplicating(tmp_path, lake, writer):
    writer.commit(lakedata.game_events(D1, 3))
    writer.commit(lakedata.game_events(D1, 1, tag="b-"))
    db = tmp_path / "w.duckdb"
    _load(db, lake)
    for _ in range(2):
        result = _load(db, lake, reload_days=[D1, D2])
        assert result.event_days == (D1, D2)
        assert result.day_rows["events"] == {D1: 13 + 5, D2: 0}
    assert _rows_by_day(db) == {D1: 18}
    with duckdb.connect(str(db), read_only=True) as conn:
        dupes = conn.execute(
            "SELECT count(*) - count(DISTINCT message_id) FROM raw.events"
        ).fetchone()
    assert dupes == (0,)


def test_failed_transaction_leaves_published_raw_untouched(tmp_path, lake, writer):
    writer.commit(lakedata.game_events(D1, 2))
    db = tmp_path / "w.duckdb"
    with write_transaction(db) as work:
        _load(work, lake)
    writer.commit(lakedata.game_events(D2, 2))
    with pytest.raises(RuntimeError), write_transaction(db) as work:
        assert _load(work, lake).event_days == (D2,)
        raise RuntimeError("a model test failed")
    assert _rows_by_day(db) == {D1: 9}
    # The discarded commit is still new for the next run.
    with write_transaction(db) as work:
        assert _load(work, lake).event_days == (D2,)
    assert _rows_by_day(db) == {D1: 9, D2: 9}


def test_source_streams_are_left_alone(tmp_path, lake, writer):
    writer.commit(lakedata.game_events(D1, 1))
    table = pa.table({"x": [1, 2]})
    lake.commit("sources.students", "s-1", [PendingFile("sources/students/a.parquet", table)])
    assert [s for s, _ in pending_commits(lake, {})] == ["events"]
    db = tmp_path / "w.duckdb"
    assert _load(db, lake).commits_loaded == 1


def test_missing_columns_load_as_null(tmp_path, lake):
    rows = lakedata.game_events(D1, 1)
    narrow = pa.Table.from_pylist(rows, schema=EVENT_SCHEMA).drop(["host"])
    lake.commit(
        "events",
        "events-p0000-00000000000000000000",
        [
            PendingFile(
                "events/event_date=2026-03-01/a.parquet", narrow, {"event_date": "2026-03-01"}
            )
        ],
    )
    db = tmp_path / "w.duckdb"
    _load(db, lake)
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute("SELECT count(*), count(host) FROM raw.events").fetchone() == (5, 0)


def test_object_store_lake_is_read_through_pyarrow(tmp_path):
    lake = open_lake("memory://rawtest/lake")
    writer = lakedata.LakeWriter(lake)
    writer.commit(lakedata.game_events(D1, 2), lakedata.quarantine_rows(D1, 1))
    db = tmp_path / "w.duckdb"
    result = _load(db, lake)
    assert result.event_days == (D1,)
    assert _rows_by_day(db) == {D1: 9}
    assert _rows_by_day(db, "quarantine") == {D1: 1}


def test_unknown_backend_is_a_clear_error(settings):
    settings.warehouse.backend = "oracle"
    with pytest.raises(ConfigError, match="unknown warehouse.backend 'oracle'"):
        open_warehouse(settings)


def test_bad_partition_names_the_commit(tmp_path, lake, writer):
    table = pa.Table.from_pylist(lakedata.game_events(D1, 1), schema=EVENT_SCHEMA)
    lake.commit("events", "bad", [PendingFile("events/x.parquet", table)])
    with pytest.raises(WarehouseError, match="events/bad.*no event_date"):
        _load(tmp_path / "w.duckdb", lake)
