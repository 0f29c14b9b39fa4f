"""The same lake and dbt project built on PostgreSQL give the same metrics as on DuckDB."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from eventlake.pipeline.run import load_and_build

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_db(postgres_url: str) -> str:
    """A fresh database in the throwaway cluster; its URL."""
    name = f"wh_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_url.rsplit("/", 1)[0] + "/" + name


def test_postgres_metrics_equal_duckdb(
    small_lake: Path,
    tmp_path: Path,
    pg_db: str,
    duckdb_expected: dict[str, Any],
    so: SimpleNamespace,
) -> None:
    settings = so.project_settings(tmp_path / "pg", small_lake, backend="postgres", url=pg_db)
    first = load_and_build(settings)
    assert first.commits_loaded == 7
    assert not first.skipped_build and first.models_built > 0
    so.assert_same_metrics(duckdb_expected, so.postgres_metrics(pg_db), "postgres")

    # raw layer: every committed row loaded once, quarantine too
    with psycopg.connect(pg_db) as conn:
        events = conn.execute("SELECT count(*) FROM raw.events").fetchone()
        quarantined = conn.execute("SELECT count(*) FROM raw.quarantine").fetchone()
    assert events is not None and quarantined is not None
    assert quarantined[0] == 10

    # `eventlake status` reads the PostgreSQL warehouse
    from eventlake.pipeline.status import collect_status

    report = collect_status(settings)
    assert report.loaded == events[0] and report.not_yet_loaded == 0
    assert report.quarantined == 10 and report.modeled is not None and report.modeled > 0
    resent = so.lakedata.game_events(so.DAY0 + dt.timedelta(days=2), 4, first_user=2)
    assert report.duplicates == len(resent)  # the re-sent batch

    # a second run with nothing new loads nothing and keeps the same rows
    again = load_and_build(settings)
    assert again.commits_loaded == 0 and again.skipped_build
    with psycopg.connect(pg_db) as conn:
        assert conn.execute("SELECT count(*) FROM raw.events").fetchone() == events
    so.assert_same_metrics(duckdb_expected, so.postgres_metrics(pg_db), "postgres (re-run)")


def test_postgres_incremental_run_equals_duckdb(
    tmp_path: Path,
    pg_db: str,
    duckdb_expected: dict[str, Any],
    so: SimpleNamespace,
) -> None:
    """The incremental path on PostgreSQL: the late batch and the re-sent duplicates arrive
    after a first build, and the run that rebuilds their days gives DuckDB's full answer."""
    lake = tmp_path / "lake"
    writer = so.lakedata.LakeWriter(so.open_lake(str(lake)))
    commits = so.small_lake_commits()
    for events, quarantine in commits[:5]:
        writer.commit(events, quarantine or None)
    settings = so.project_settings(tmp_path / "pg", lake, backend="postgres", url=pg_db)
    first = load_and_build(settings)
    assert first.full_refresh and first.commits_loaded == 5
    for events, quarantine in commits[5:]:
        writer.commit(events, quarantine or None)
    second = load_and_build(settings)
    assert second.commits_loaded == 2 and not second.full_refresh
    assert set(second.changed_days) == {"2026-03-03", "2026-03-04"}
    with psycopg.connect(pg_db) as conn:
        rebuilt = {
            r[0]: r[1] for r in conn.execute("SELECT day, rows_only FROM staging.int_changed_days")
        }
    assert set(rebuilt) >= {dt.date(2026, 3, 3), dt.date(2026, 3, 4)}
    # the run knew its new rows: a day that only got new messages went below the day
    assert any(rebuilt.values()), rebuilt
    so.assert_same_metrics(duckdb_expected, so.postgres_metrics(pg_db), "postgres (incremental)")


def _sessions(rows: list[tuple[Any, ...]], so: SimpleNamespace) -> list[Any]:
    return so.normalise(["session"], rows)[1]  # type: ignore[no-any-return]


def test_postgres_runs_commit_by_commit_equal_duckdb(
    tmp_path: Path,
    pg_db: str,
    duckdb_project: Any,
    duckdb_expected: dict[str, Any],
    so: SimpleNamespace,
) -> None:
    """One run per lake commit on PostgreSQL, as ``eventlake up`` does: new days of known
    players and late new players only bring new messages (their days go below the day, and
    the sessions and user-days change only for their users: int_session_changes,
    int_user_day_changes), the re-sent batch
    brings copies (whole days); the end equals DuckDB's full build, metrics and sessions."""
    import duckdb

    lake = tmp_path / "lake"
    writer = so.lakedata.LakeWriter(so.open_lake(str(lake)))
    settings = so.project_settings(tmp_path / "pg", lake, backend="postgres", url=pg_db)
    # per run: rows_only days, session changes, user-day changes
    routes: list[tuple[int, int, int]] = []
    for events, quarantine in so.small_lake_commits():
        writer.commit(events, quarantine or None)
        load_and_build(settings)
        with psycopg.connect(pg_db) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM staging.int_changed_days WHERE rows_only), "
                "(SELECT count(*) FROM staging.int_session_changes), "
                "(SELECT count(*) FROM staging.int_user_day_changes)"
            ).fetchone()
        assert row is not None
        routes.append((int(row[0]), int(row[1]), int(row[2])))
    assert any(sessions for _, sessions, _ in routes[1:]), routes  # the sessions route ran
    assert any(user_days for _, _, user_days in routes[1:]), routes  # and the user-days'
    assert any(rows_only for rows_only, _, _ in routes[1:]), routes
    so.assert_same_metrics(duckdb_expected, so.postgres_metrics(pg_db), "postgres (per commit)")
    columns = (
        "session_id, user_key, session_start_at, session_end_at, session_date, "
        "duration_seconds, event_count, platform, country, host_provider"
    )
    with psycopg.connect(pg_db) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        got = conn.execute(f"SELECT {columns} FROM marts.fct_sessions").fetchall()
    db = duckdb_project.resolve(duckdb_project.warehouse.path)
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        expected = con.execute(f"SELECT {columns} FROM marts.fct_sessions").fetchall()
    assert expected and _sessions(got, so) == _sessions(expected, so)


#: Requests whose SQL (eventlake.serve.metric_sql) must give the same answer on both engines:
#: recounts from the user grains, window values, ratios, date spines, totals, the funnel.
API_REQUESTS: list[tuple[str, list[tuple[str, str]]]] = [
    ("daily_active_users", [("group_by", "activity_date")]),
    ("daily_active_users", [("group_by", "platform"), ("start", "2026-03-03")]),
    ("daily_active_users", [("total", "true"), ("platform", "iOS"), ("platform", "Android")]),
    ("rolling_active_users_28d", [("group_by", "country"), ("end", "2026-03-05")]),
    ("revenue_daily", [("group_by", "platform"), ("sort", "-revenue")]),
    ("revenue_daily", [("group_by", "activity_date"), ("country", "US")]),
    ("purchases_by_item_daily", [("group_by", "item")]),
    ("funnel_daily", [("group_by", "host_provider")]),
    ("host_providers_daily", [("total", "true")]),
    ("events_daily", [("group_by", "event_name"), ("start", "2026-03-02"), ("end", "2026-03-04")]),
    ("guild_joins_daily", [("group_by", "guild_id")]),
    ("retention_cohorts", [("group_by", "weeks_since_signup")]),
    ("retention_cohorts", [("group_by", "cohort_week"), ("weeks_since_signup", "0")]),
    ("conversion_funnel", [("group_by", "platform"), ("conversion_window_days", "2")]),
    ("conversion_funnel", [("start", "2026-03-03"), ("country", "US"), ("country", "DE")]),
]


def test_api_sql_gives_the_same_answers_on_postgres(
    small_lake: Path, tmp_path: Path, pg_db: str, duckdb_project: Any, so: SimpleNamespace
) -> None:
    """The SQL serve generates runs on PostgreSQL (``?`` placeholders become ``%s``) and
    answers what it answers on DuckDB, for every metric endpoint."""
    import json

    import duckdb

    from eventlake.serve.catalog import Catalog
    from eventlake.serve.params import parse_metric_query

    settings = so.project_settings(tmp_path / "pg", small_lake, backend="postgres", url=pg_db)
    load_and_build(settings)
    path = settings.resolve(settings.models.dbt_dir) / "metrics_catalog.json"
    catalog = Catalog.parse(path.read_bytes(), "pg")
    assert json.loads(path.read_text())["coverage"] == "marts.data_coverage"
    duck = duckdb.connect(
        str(duckdb_project.resolve(duckdb_project.warehouse.path)), read_only=True
    )
    try:
        duck.execute("SET TimeZone = 'UTC'")
        with psycopg.connect(pg_db) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            for name, items in API_REQUESTS:
                query = parse_metric_query(catalog.metrics[name], items, max_limit=1000)
                assert "%" not in query.sql
                pg_rows = conn.execute(query.sql.replace("?", "%s"), query.params).fetchall()
                duck_rows = duck.execute(query.sql, list(query.params)).fetchall()
                _, want = so.normalise(list(query.columns), duck_rows)
                _, got = so.normalise(list(query.columns), pg_rows)
                assert want, f"{name} {items}: no rows on DuckDB"
                assert got == want, f"{name} {items}"
    finally:
        duck.close()


def test_postgres_without_url_is_a_clear_error(
    small_lake: Path, tmp_path: Path, so: SimpleNamespace
) -> None:
    from eventlake.errors import ConfigError

    settings = so.project_settings(tmp_path / "pg", small_lake, backend="postgres")
    with pytest.raises(ConfigError, match="warehouse.url"):
        load_and_build(settings)


def test_postgres_raw_layer_from_s3_lake(
    s3_server: dict[str, str], s3_bucket: str, pg_db: str, so: SimpleNamespace
) -> None:
    """The raw layer reads an object-storage lake (moto S3 stand-in) into PostgreSQL."""
    from eventlake.config import WarehouseConfig
    from eventlake.lake import open_lake
    from eventlake.warehouse import open_warehouse

    lake = open_lake(f"s3://{s3_bucket}/lake", s3_server)
    writer = so.lakedata.LakeWriter(lake)
    day = dt.date(2026, 3, 2)
    writer.commit(so.lakedata.game_events(day, 5), so.lakedata.quarantine_rows(day, 3))
    writer.commit(so.lakedata.game_events(day + dt.timedelta(days=1), 4, tag="b-"))
    warehouse = open_warehouse(WarehouseConfig(backend="postgres", url=pg_db))
    with warehouse.transaction() as tx:
        result = tx.load_raw(lake)
    with warehouse.transaction() as tx:
        again = tx.load_raw(lake)
    assert result.commits_loaded == 2 and again.commits_loaded == 0
    with psycopg.connect(pg_db) as conn:
        rows = conn.execute(
            "SELECT event_date, count(*), count(DISTINCT message_id) FROM raw.events "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
        q = conn.execute("SELECT reason_code, count(*) FROM raw.quarantine GROUP BY 1").fetchall()
        ts = conn.execute("SELECT min(timestamp AT TIME ZONE 'UTC') FROM raw.events").fetchone()
    expected_day0 = len(so.lakedata.game_events(day, 5))
    expected_day1 = len(so.lakedata.game_events(day, 4))
    assert rows == [
        (day, expected_day0, expected_day0),
        (day + dt.timedelta(days=1), expected_day1, expected_day1),
    ]
    assert q == [("unplanned_event", 3)]
    assert ts is not None and ts[0] == dt.datetime(2026, 3, 2, 1, 0)
