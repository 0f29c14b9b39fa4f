"""The dbt build's fixed costs and its incremental data tests, on a small real warehouse.

- dbt's partial parsing is reused by a new process (the manifest parsed by an earlier
  process is read back from ``target/partial_parse.msgpack``, nothing is re-parsed);
- a build writes no run artifacts (``--no-write-json``) but the catalog still comes from
  the manifest that parsing wrote;
- on an incremental run the key tests stay global: a duplicate messageId on a day the run
  did not rebuild is still found, and the grain test finds a row with a null day;
- an incremental run keeps the staging views whose SQL did not change (a full build and a
  changed view re-create them);
- an incremental run inserts into the incremental tables directly, and a column the model
  does not produce still fails it (on_schema_change=fail).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import eventlake_tests_support as support
import pytest

from eventlake.config import ModelsConfig, Settings
from eventlake.warehouse import dbt as dbt_build
from eventlake.warehouse.dbt import ModelTestsFailedError

build_models = support.build_duckdb_in_place

pytestmark = pytest.mark.integration

START = dt.date(2026, 5, 4)
DAYS = 4
LAST_DAY = START + dt.timedelta(days=DAYS - 1)


def _create_raw(db: Path) -> None:
    """raw.events: 400 track events over DAYS days, 20 users, a few duplicates."""
    con = duckdb.connect(str(db))
    try:
        con.execute("create schema raw")
        con.execute(
            f"""
            create table raw.events as
            with g as (
                select i, i % 20 as u,
                       timestamp '{START}' + to_days((i % {DAYS})::int)
                           + to_seconds((i * 97 % 80000)::bigint) as ts
                from range(400) as t(i)
            )
            select
                'm-' || i as message_id, 'track' as type,
                case when i % 5 = 0 then 'Item Purchased' else 'Level Completed' end as event,
                null::varchar as name,
                case when u % 2 = 0 then 'user-' || u end as user_id,
                'anon-' || u as anonymous_id, null::varchar as group_id,
                null::varchar as previous_id, ts::timestamptz as "timestamp",
                ts::timestamptz as original_timestamp, ts::timestamptz as sent_at,
                (ts + interval 1 second)::timestamptz as received_at,
                case when i % 5 = 0 then '{{"item": "sword", "price": 2.5}}' else '{{}}' end
                    as properties,
                null::varchar as traits, '{{"os": {{"name": "ios"}}}}' as context,
                null::varchar as integrations, 'game' as source, 'comcast.net' as host,
                'test' as user_agent, '198.51.100.1' as ip, 0 as bus_partition,
                i::bigint as bus_offset, ts::date as event_date
            from g
            """
        )
        # duplicates: the same message again, a minute later
        con.execute(
            "insert into raw.events select * replace (received_at + interval 60 second "
            "as received_at, bus_offset + 1000 as bus_offset) from raw.events "
            "where bus_offset % 50 = 0"
        )
    finally:
        con.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("build-checks")
    settings = Settings(base_dir=tmp, models=ModelsConfig(user_models_dir=None))
    db = tmp / "warehouse.duckdb"
    _create_raw(db)
    result = build_models(db, settings)
    yield {"settings": settings, "db": db, "result": result, "tmp": tmp}


@contextlib.contextmanager
def _changed(built: dict[str, Any], name: str) -> Iterator[tuple[Settings, Path]]:
    """(settings, warehouse) for a test that changes the built warehouse: it keeps its file
    name (the profile, hence dbt's partial parsing, keys on the path) and the original is
    restored afterwards."""
    backup = built["tmp"] / f"{name}.duckdb"
    shutil.copyfile(built["db"], backup)
    try:
        yield built["settings"], built["db"]
    finally:
        shutil.move(backup, built["db"])


def _execute(db: Path, sql: str) -> None:
    con = duckdb.connect(str(db))
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(sql)
    finally:
        con.close()


def test_full_build_passes_every_test(built: dict[str, Any]) -> None:
    result = built["result"]
    assert result.ok and "stg_events" in result.models_built
    assert result.tests_passed >= 27  # one grain or key + row checks per model


def test_a_new_process_reuses_the_partial_parse(built: dict[str, Any]) -> None:
    with _changed(built, "partial-parse") as (settings, db):
        project = settings.resolve(settings.models.dbt_dir) / "project"
        dbt_build._MANIFESTS.clear()  # what a new process starts with
        result = build_models(db, settings, changed_days=[LAST_DAY])
        assert result.ok and result.tests_passed > 0
        perf = json.loads((project / "target" / "perf_info.json").read_text(encoding="utf-8"))
        assert perf["is_partial_parse_enabled"] is True
        assert perf["parsed_path_count"] == 0  # every file came from partial_parse.msgpack
        log = (settings.resolve(settings.models.dbt_dir) / "logs" / "dbt.log").read_text(
            encoding="utf-8"
        )
        last = log.rsplit("Running with dbt", 2)
        assert "Unable to do partial parsing" not in "".join(last[1:])


def test_build_writes_no_run_artifacts_but_the_catalog(built: dict[str, Any]) -> None:
    settings = built["settings"]
    target = settings.resolve(settings.models.dbt_dir) / "project" / "target"
    assert not (target / "run_results.json").exists()
    assert (target / "manifest.json").is_file()
    catalog = json.loads(built["result"].catalog_path.read_text(encoding="utf-8"))
    assert "daily_active_users" in {m["name"] for m in catalog["metrics"]}


def test_incremental_run_still_finds_a_duplicate_message_on_another_day(
    built: dict[str, Any],
) -> None:
    with _changed(built, "duplicate") as (settings, db):
        # a row of the first day (not rebuilt below) takes a messageId of the last day
        _execute(
            db,
            f"""
            update staging.stg_events set message_id = (
                select min(message_id) from staging.stg_events where event_date = '{LAST_DAY}'
            )
            where message_id = (
                select min(message_id) from staging.stg_events where event_date = '{START}'
            )
            """,
        )
        with pytest.raises(ModelTestsFailedError) as info:
            build_models(db, settings, changed_days=[LAST_DAY])
        names = [name for name, _ in info.value.failures]
        assert any("stg_events" in n and "unique_key" in n for n in names), names


def test_incremental_run_finds_a_null_day_in_a_grain(built: dict[str, Any]) -> None:
    with _changed(built, "null-day") as (settings, db):
        _execute(
            db,
            "insert into staging.int_user_days (user_key, activity_date, events) "
            "values ('user-0', null, 1)",
        )
        with pytest.raises(ModelTestsFailedError) as info:
            build_models(db, settings, changed_days=[START])
        names = [name for name, _ in info.value.failures]
        # (its row checks, which read dim_users, are skipped: dim_users is built from
        # int_user_days, so dbt does not build it after a failed test)
        assert names == ["int_user_days: test int_user_days_grain"], names


def _last_invocation_log(settings: Settings) -> str:
    log = (settings.resolve(settings.models.dbt_dir) / "logs" / "dbt.log").read_text(
        encoding="utf-8"
    )
    return log.rsplit("Running with dbt", 1)[-1]


def test_incremental_run_keeps_unchanged_staging_views(built: dict[str, Any]) -> None:
    with _changed(built, "views") as (settings, db):
        build_models(db, settings, changed_days=[LAST_DAY])
        # the six staging views and fct_events (meta keep_unchanged_view)
        log = _last_invocation_log(settings)
        assert log.count("unchanged view kept") == 7
        assert re.search(r"marts\.fct_events \.*\s*\[OK \(unchanged view kept\)", log), log
        # a view whose recorded SQL differs (here: its comment) is re-created
        _execute(db, "comment on view staging.stg_tracks is 'something else'")
        result = build_models(db, settings, changed_days=[LAST_DAY])
        assert "stg_tracks" in result.models_built
        assert _last_invocation_log(settings).count("unchanged view kept") == 6
        con = duckdb.connect(str(db), read_only=True)
        try:
            comment = con.execute(
                "select comment from duckdb_views() "
                "where schema_name = 'staging' and view_name = 'stg_tracks'"
            ).fetchone()
            tracks = con.execute("select count(*) from staging.stg_tracks").fetchone()
            events = con.execute(
                "select count(*) from staging.stg_events where event_type = 'track'"
            ).fetchone()
        finally:
            con.close()
        assert comment is not None and str(comment[0]).startswith("eventlake:")
        assert tracks == events and tracks is not None and tracks[0] > 0
        # a full build re-creates every view
        build_models(db, settings)
        assert "unchanged view kept" not in _last_invocation_log(settings)


def test_incremental_run_inserts_directly_and_still_fails_on_schema_drift(
    built: dict[str, Any],
) -> None:
    with _changed(built, "schema-drift") as (settings, db):
        build_models(db, settings, changed_days=[LAST_DAY])
        # no temporary table: the rows went straight into the table (macros/incremental_duckdb)
        ran = _compiled_run_sql(settings, "fct_purchases")
        assert 'insert into "warehouse"."marts"."fct_purchases"' in ran and "__dbt_tmp" not in ran
        # a column the model does not produce: on_schema_change=fail names it
        _execute(db, "alter table marts.fct_purchases add column discount double")
        with pytest.raises(ModelTestsFailedError) as info:
            build_models(db, settings, changed_days=[LAST_DAY])
        failures = dict(info.value.failures)
        assert "discount (model: none, table: DOUBLE)" in failures["model fct_purchases"]
        assert "--full-refresh" in failures["model fct_purchases"]


def _compiled_run_sql(settings: Settings, model: str) -> str:
    """The SQL dbt ran for the model's materialization (target/run/...)."""
    run_dir = settings.resolve(settings.models.dbt_dir) / "project" / "target" / "run"
    (path,) = run_dir.rglob(f"{model}.sql")
    return path.read_text(encoding="utf-8")


def test_previous_state_is_only_read_from_models_that_run_later(built: dict[str, Any]) -> None:
    """A model that reads another's previous rows (previous_relation) must be its ancestor:
    dbt then always runs the other model after it, so the rows are last run's."""
    support.check_previous_reads(built["settings"])


def test_reconciliation_fails_when_a_raw_row_is_not_counted(built: dict[str, Any]) -> None:
    with _changed(built, "reconciliation") as (settings, db):
        # another copy of a first-day message lands in raw, but the run is told only about
        # the last day: stg_events does not count it, and the sum of copies falls short
        _execute(
            db,
            f"""
            insert into raw.events
            select * replace (bus_offset + 100000 as bus_offset)
            from raw.events where event_date = '{START}' limit 1
            """,
        )
        with pytest.raises(ModelTestsFailedError) as info:
            build_models(db, settings, changed_days=[LAST_DAY])
        failures = dict(info.value.failures)
        (message,) = [m for n, m in failures.items() if "reconciles_with_raw" in n]
        assert "raw_rows=409" in message and "duplicates_removed=8" in message, message


def test_copies_tied_on_every_arrival_key_keep_one_row_by_content(
    built: dict[str, Any],
) -> None:
    """The same messageId twice in one bus record (same received_at, partition, offset):
    one row is kept, the same one on every run (the smallest content), with copies=2."""
    with _changed(built, "tie") as (settings, db):
        _execute(
            db,
            f"""
            insert into raw.events
            select * replace ('{{"a": 0}}' as properties)
            from raw.events where event_date = '{LAST_DAY}'
              and message_id = (select min(message_id) from raw.events
                                where event_date = '{LAST_DAY}' and bus_offset < 1000)
            """,
        )
        build_models(db, settings, changed_days=[LAST_DAY])
        con = duckdb.connect(str(db), read_only=True)
        try:
            rows = con.execute(
                "select s.properties, s.copies from staging.stg_events as s where message_id = "
                f"(select min(message_id) from raw.events where event_date = '{LAST_DAY}' "
                "and bus_offset < 1000)"
            ).fetchall()
        finally:
            con.close()
        assert rows == [('{"a": 0}', 2)]
