"""On Spark, day's runs of the pipeline equal a full rebuild (the DuckDB test's counterpart).

Spark's Parquet tables take no DELETE: the incremental models replace day partitions with
dbt-spark's ``insert_overwrite`` (dynamic partition overwrite) after dropping the days they
rebuild, and the identity map is rebuilt whole (docs/models.md). The game lake of
``conftest.py`` is copied into a new lake commit by commit: the pipeline builds the first
commits, then runs one day's run per further commit (``eventlake run`` with
``warehouse.backend = "spark"``), then ``eventlake build --full-refresh`` rebuilds every day
from the same raw layer; every table and view must be equal, row by row.

The two day's runs (the game lake's commit 21, then commits 22 and 23 together, as after
a longer pause) bring late events for old days, duplicates of earlier messages and
identity merges across days (checked below on the lake), and one crafted duplicate that
empties a day: its copy arrived earlier than the original, so the message moves to
another day and the original's day is left with no row in any model, the case a dynamic
partition overwrite alone would miss (the empty day keeps its rows).

Slow: a JVM, a Derby metastore and four dbt builds on Spark in local mode (one session):
about 4 minutes on two quiet cores, over 10 when the machine is loaded, hence the
module's own timeout.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import eventlake_tests_support as support
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventlake.config import Settings
from eventlake.lake import EVENT_SCHEMA, EVENTS_DIR, Lake, PendingFile, open_lake
from eventlake.pipeline.run import build, run

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]

#: What one run rebuilds, not results: these differ between runs by design.
RUN_STATE = {"int_changed_days", "int_identity_changes"}
#: The game lake's commits built first, then the commits of each day's run.
FIRST_BUILD = 21
DAY_RUNS = [[21], [22, 23]]
#: The day of the crafted lone event, before the game starts; emptied by the last run.
LONE_DAY = dt.date(2026, 2, 27)
LONE_ID = "lone-message-1"


def _copy_commit(source: Lake, target: Lake, commit_id: str) -> list[dt.date]:
    """Commit ``commit_id`` of ``source`` again into ``target``; return its event days."""
    record = source.read_commit("events", commit_id)
    files = []
    for f in record.files:
        table = pq.read_table(source.path(f.path), schema=EVENT_SCHEMA)
        files.append(PendingFile(f.path, table, dict(f.partition)))
    target.commit("events", commit_id, files, dict(record.meta))
    return sorted({dt.date.fromisoformat(f.partition["event_date"]) for f in record.files})


def _lone_row(day: dt.date, received: dt.datetime, offset: int) -> dict[str, Any]:
    """One copy of the crafted event of player 0's first device (no other event that day)."""
    at = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    return {
        "message_id": LONE_ID,
        "type": "track",
        "event": "Level Started",
        "anonymous_id": "anon-000-a",
        "timestamp": at,
        "original_timestamp": at,
        "sent_at": received - dt.timedelta(seconds=1),
        "received_at": received,
        "properties": json.dumps({"level": 1}),
        "context": json.dumps({"os": {"name": "ios"}, "location": {"country": "US"}}),
        "source": "game",
        "host": "comcast.net",
        "bus_partition": 9,
        "bus_offset": offset,
    }


def _commit_rows(lake: Lake, commit_id: str, rows: list[dict[str, Any]]) -> None:
    files = []
    for row in rows:
        day = row["timestamp"].date().isoformat()
        table = pa.Table.from_pylist([row], schema=EVENT_SCHEMA)
        path = f"{EVENTS_DIR}/event_date={day}/{commit_id}.parquet"
        files.append(PendingFile(path, table, {"event_date": day}))
    lake.commit("events", commit_id, files)


def _spark_settings(project: Path, lake_root: Path, spark_dir: Path) -> Settings:
    settings: Settings = support.project_settings(
        project,
        lake_root,
        threads=2,  # the default
        backend="spark",
        spark_master="local[2]",
        spark_dir=str(spark_dir),
    )
    return settings


def _value(value: Any) -> Any:
    # doubles summed in another order may differ in the last bits; nothing else is rounded
    return round(value, 9) if isinstance(value, float) else value


def _snapshot(spark: Any) -> dict[str, tuple[list[str], Counter[tuple[Any, ...]]]]:
    """Every model relation: (column names sorted, rows in that column order)."""
    out = {}
    for schema in ("staging", "marts", "metrics"):
        for table in spark.catalog.listTables(schema):
            if table.isTemporary or table.name in RUN_STATE:
                continue
            data = spark.table(f"{schema}.{table.name}").toArrow()
            columns = sorted(data.column_names)
            rows = data.select(columns).to_pylist()
            key = f"{schema}.{table.name}"
            out[key] = (columns, Counter(tuple(_value(r[c]) for c in columns) for r in rows))
    return out


def _rows(spark: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in spark.sql(sql).collect()]


@pytest.fixture(scope="module")
def spark_runs(
    game_lake: Any, tmp_path_factory: pytest.TempPathFactory, spark_dir: Path
) -> dict[str, Any]:
    """The runs, on the test process's one Spark session (the ``spark_dir`` fixture), its
    catalog emptied first."""
    from eventlake.warehouse.factory import resolved_config
    from eventlake.warehouse.spark import spark_session

    root = tmp_path_factory.mktemp("spark-inc")
    lake = open_lake(str(root / "lake"))
    ids = game_lake.commit_ids
    for cid in ids[:FIRST_BUILD]:
        _copy_commit(game_lake.lake, lake, cid)
    first_received = dt.datetime(2026, 3, 5, 10, tzinfo=dt.UTC)
    lone = _lone_row(LONE_DAY, first_received, 0)
    _commit_rows(lake, "events-p0009-00000000000000000000", [lone])
    settings = _spark_settings(root / "project", root / "lake", spark_dir)
    support.reset_spark(settings)
    out: dict[str, Any] = {"settings": settings, "runs": [], "given": [], "rebuilt": []}
    out["merged"], out["raw_days"] = [], []
    first = run(settings, land=False)
    spark = spark_session(resolved_config(settings.warehouse, settings.base_dir))
    out["spark"], out["first"] = spark, first
    out["lone_before"] = _rows(
        spark, f"select count(*) from staging.stg_events where event_date = date '{LONE_DAY}'"
    )
    for n, group in enumerate(DAY_RUNS):
        days = sorted({d for i in group for d in _copy_commit(game_lake.lake, lake, ids[i])})
        if n == len(DAY_RUNS) - 1:
            # the re-sent copy arrived an hour before the original: it wins, and moves
            # the message to a day of this commit
            moved = _lone_row(days[-1], first_received - dt.timedelta(hours=1), 1)
            _commit_rows(lake, "events-p0009-00000000000000000001", [moved])
        result = run(settings, land=False)
        out["runs"].append(result)
        out["given"].append(sorted(dt.date.fromisoformat(d) for d in result.changed_days))
        out["rebuilt"].append(
            sorted(r[0] for r in _rows(spark, "select day from staging.int_changed_days"))
        )
        merged = _rows(
            spark,
            "select count(*) from staging.int_identity_changes where old_component is not null",
        )
        out["merged"].append(int(merged[0][0]))
        raw_days = _rows(spark, "select count(distinct event_date) from raw.events")
        out["raw_days"].append(int(raw_days[0][0]))
    out["moved_to"] = days[-1]
    out["incremental"] = _snapshot(spark)
    out["full"] = build(settings, full_refresh=True)
    out["rebuild"] = _snapshot(spark)
    return out


def test_days_runs_equal_a_full_rebuild_on_spark(spark_runs: dict[str, Any]) -> None:
    inc, full = spark_runs["incremental"], spark_runs["rebuild"]
    assert len(full) >= 24 and sorted(inc) == sorted(full)
    # the game lake sends no group call, and Spark rebuilds sessions by whole days (no
    # session or user-day changes below the day); every other relation has rows to compare
    assert {name for name, (_, rows) in full.items() if not rows} == {
        "staging.stg_groups",
        "staging.int_session_changes",
        "staging.int_user_day_changes",
    }
    for name, (columns, rows) in full.items():
        inc_columns, inc_rows = inc[name]
        assert inc_columns == columns, name
        only_inc, only_full = inc_rows - rows, rows - inc_rows
        assert not only_inc and not only_full, (
            f"{name}: {sum(only_inc.values())} rows only after the day's runs, "
            f"{sum(only_full.values())} only in the full rebuild (first: "
            f"{next(iter(only_inc or only_full))})"
        )


def test_days_runs_were_incremental(spark_runs: dict[str, Any]) -> None:
    first, runs = spark_runs["first"], spark_runs["runs"]
    assert first.ok and first.full_refresh and first.commits_loaded == FIRST_BUILD + 1
    assert spark_runs["full"].ok and spark_runs["full"].full_refresh
    for result, given, rebuilt, raw_days in zip(
        runs, spark_runs["given"], spark_runs["rebuilt"], spark_runs["raw_days"], strict=True
    ):
        assert result.ok and not result.full_refresh and not result.skipped_build
        assert result.commits_loaded >= 1 and given
        # a day's run rebuilds the given days and what they can change, not the history
        assert set(given) <= set(rebuilt) and len(rebuilt) < raw_days, (rebuilt, raw_days)
    # late identifies and duplicates on other days pull earlier days into some run
    pairs = zip(spark_runs["given"], spark_runs["rebuilt"], strict=True)
    assert any(set(rebuilt) - set(given) for given, rebuilt in pairs)


def test_the_runs_bring_late_events_duplicates_and_identity_merges(
    spark_runs: dict[str, Any], game_lake: Any
) -> None:
    """The scenario, checked on the lake's rows (not on model output)."""
    lake: Lake = game_lake.lake
    seen: set[str] = set()
    first_days: set[dt.date] = set()
    for n, cid in enumerate(game_lake.commit_ids[: DAY_RUNS[-1][-1] + 1]):
        record = lake.read_commit("events", cid)
        received = dt.date.fromisoformat(record.meta["received_day"])
        ids: list[str] = []
        days = set()
        for f in record.files:
            ids += pq.read_table(lake.path(f.path), columns=["message_id"])[0].to_pylist()
            days.add(dt.date.fromisoformat(f.partition["event_date"]))
        if n >= FIRST_BUILD:
            assert any(i in seen for i in ids), f"commit {cid}: no duplicate of an earlier message"
            assert any(d < received - dt.timedelta(days=1) for d in days), f"{cid}: nothing late"
            assert days & first_days, f"commit {cid}: no event for a day built before"
        seen.update(ids)
        first_days |= days
    # every day's run recomputed components that a new link joined to an existing one
    assert all(spark_runs["merged"]), spark_runs["merged"]


def test_a_day_left_empty_is_dropped(spark_runs: dict[str, Any]) -> None:
    spark = spark_runs["spark"]
    assert spark_runs["lone_before"] == [(1,)]
    assert LONE_DAY in spark_runs["rebuilt"][-1]
    for table, column in [
        ("staging.stg_events", "event_date"),
        ("marts.fct_events", "event_date"),  # a view of stg_events
        ("staging.int_user_days", "activity_date"),
        ("metrics.events_daily", "event_date"),
        ("metrics.daily_active_users", "activity_date"),
    ]:
        rows = _rows(spark, f"select count(*) from {table} where {column} = date '{LONE_DAY}'")
        assert rows == [(0,)], table
    moved = _rows(
        spark, f"select event_date, copies from staging.stg_events where message_id = '{LONE_ID}'"
    )
    assert moved == [(spark_runs["moved_to"], 2)]


def test_day_models_are_parquet_tables_partitioned_by_day(spark_runs: dict[str, Any]) -> None:
    spark = spark_runs["spark"]
    expected = {
        "staging.stg_events": "event_date",
        "staging.int_user_days": "activity_date",
        "marts.fct_sessions": "session_date",
        "marts.fct_purchases": "purchase_date",
        "marts.fct_guild_joins": "join_date",
        "metrics.daily_active_users": "activity_date",
        "metrics.rolling_active_users_28d": "activity_date",
        "metrics.events_daily": "event_date",
    }
    for table, column in expected.items():
        detail = {r[0]: r[1] for r in _rows(spark, f"describe table extended {table}")}
        assert detail.get("Provider") == "parquet", table
        partitions = _rows(spark, f"show partitions {table}")
        assert partitions and all(str(p[0]).startswith(f"{column}=") for p in partitions), table
    # fct_events is a view of stg_events joined with the identity map: nothing stored
    assert _rows(spark, "describe table extended marts.fct_events") and any(
        str(r[0]).strip() == "Type" and str(r[1]).strip().upper() == "VIEW"
        for r in _rows(spark, "describe table extended marts.fct_events")
    )
    # the identity map has no day: a plain table, rebuilt whole by each run
    assert not _rows(spark, "describe table extended staging.int_identity_map")[0][0].startswith(
        "#"
    )


def test_previous_state_is_read_before_it_is_replaced(spark_runs: dict[str, Any]) -> None:
    """On Spark too, a model reading another's previous rows is that model's ancestor."""
    manifest = support.check_previous_reads(spark_runs["settings"])
    assert manifest["nodes"]["model.eventlake.int_identity_map"]["config"]["materialized"] == (
        "table"
    )
