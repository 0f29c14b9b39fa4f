"""``eventlake query`` and ``POST /api/query`` on every engine: the statement guard, then the
engine's sandboxed reader (issue 17).

Each protection is proven twice: through ``run_query`` (guard and sandbox: a clear error)
and on the sandboxed reader alone, as if the guard had missed the statement (it still
cannot read a file, keep a setting, or run past its memory or time limit).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import eventlake_tests_support as support
import pytest
from click.testing import CliRunner

from eventlake.config import Settings
from eventlake.errors import (
    QueryMemoryError,
    QueryRefusedError,
    QueryTimeoutError,
    SchemaMismatchError,
)
from eventlake.lake import open_lake
from eventlake.warehouse import NO_VERSION, open_warehouse, run_query, sandbox_options

pytestmark = pytest.mark.integration

lakedata = support.lakedata()
D1 = dt.date(2026, 3, 1)

#: What reads a server file, and what changes a setting, in each engine's SQL.
DUCKDB = {
    "file": "SELECT * FROM read_csv('/etc/hostname')",
    "config": "PRAGMA threads = 7",
    "setting": "SELECT current_setting('threads')",
}
ENGINE_SQL = {
    "duckdb": DUCKDB,
    "spark": DUCKDB,  # the Spark reader is DuckDB over Spark's Parquet files
    "postgres": {
        "file": "SELECT pg_read_file('/etc/hostname')",
        "config": "SELECT set_config('statement_timeout', '0', false)",
        "setting": "SELECT current_setting('statement_timeout')",
    },
}
#: Needs far more than 16 MB on every engine (a hash or a sort of 30M integers).
BIG = "SELECT count(DISTINCT g) FROM generate_series(1, 30000000) AS t(g)"
#: Runs for minutes on every engine.
LONG = "SELECT sum(g) FROM generate_series(1, 10000000000) AS t(g)"


def _published(settings: Settings) -> Settings:
    """``settings`` after one raw load (something published on every engine)."""
    lakedata.LakeWriter(open_lake(settings.lake_uri())).commit(lakedata.game_events(D1, 3))
    with open_warehouse(settings).transaction() as tx:
        tx.load_raw(open_lake(settings.lake_uri()))
    return settings


def _limited(settings: Settings, **warehouse: object) -> Settings:
    return settings.model_copy(
        update={"warehouse": settings.warehouse.model_copy(update=warehouse)}
    )


def test_nothing_published_is_version_none(wh_settings: Settings) -> None:
    reader = open_warehouse(wh_settings).reader(sandbox_options(wh_settings.warehouse))
    try:
        assert reader.version() == NO_VERSION
    finally:
        reader.close()


def test_query_reads_and_names_missing_tables(wh_settings: Settings) -> None:
    settings = _published(wh_settings)
    result = run_query(settings, "SELECT count(*) AS n FROM raw.events")
    assert result.columns == ["n"] and result.rows == [(13,)]
    tables = run_query(settings, "SHOW TABLES")
    assert tables.columns == ["schema", "name", "type"]
    assert ("raw", "events") in [(s, n) for s, n, _type in tables.rows]  # Spark: a view
    limited = run_query(settings, "SELECT message_id FROM raw.events", limit=5)
    assert len(limited.rows) == 5 and limited.truncated and limited.notes
    with pytest.raises(SchemaMismatchError, match="no_such_table"):
        run_query(settings, "SELECT * FROM raw.no_such_table")


def test_reading_a_file_is_refused(wh_settings: Settings) -> None:
    settings = _published(wh_settings)
    sql = ENGINE_SQL[settings.warehouse.backend]["file"]
    with pytest.raises(QueryRefusedError, match="refused"):
        run_query(settings, sql)  # the guard
    reader = open_warehouse(settings).reader(sandbox_options(settings.warehouse))
    try:
        with pytest.raises(QueryRefusedError, match="refused"):
            reader.execute(sql)  # the sandbox alone
    finally:
        reader.close()


def test_a_setting_cannot_be_changed_or_kept(wh_settings: Settings) -> None:
    settings = _published(wh_settings)
    sql = ENGINE_SQL[settings.warehouse.backend]
    with pytest.raises(QueryRefusedError, match="refused"):
        run_query(settings, sql["config"])  # the guard
    with pytest.raises(QueryRefusedError, match="refused"):
        run_query(settings, "SET threads = 7")
    reader = open_warehouse(settings).reader(sandbox_options(settings.warehouse))
    try:
        before = reader.execute(sql["setting"]).rows
        try:
            # DuckDB: the reader refuses SET (and its configuration is locked, see
            # test_locked_configuration); PostgreSQL: set_config runs, in a transaction
            # that is rolled back with the statement
            reader.execute(sql["config"])
        except QueryRefusedError as exc:
            assert settings.warehouse.backend != "postgres", exc
        assert reader.execute(sql["setting"]).rows == before
    finally:
        reader.close()


def test_exceeding_the_memory_limit_is_a_clear_error(wh_settings: Settings) -> None:
    settings = _limited(_published(wh_settings), query_memory_mb=16)
    with pytest.raises(QueryMemoryError, match="memory limit of 16 MB"):
        run_query(settings, BIG)
    # within the limit the same reader answers
    assert run_query(settings, "SELECT count(*) FROM raw.events").rows == [(13,)]


def test_running_too_long_is_cancelled(wh_settings: Settings) -> None:
    settings = _limited(_published(wh_settings), query_timeout=0.5)
    reader = open_warehouse(settings).reader(sandbox_options(settings.warehouse))
    try:
        with pytest.raises(QueryTimeoutError, match=r"0\.5 s"):
            run_query(reader, LONG)
        # the reader is usable again at once
        assert run_query(reader, "SELECT count(*) FROM raw.events").rows == [(13,)]
    finally:
        reader.close()


def test_eventlake_query_runs_on_every_engine(wh_settings: Settings, tmp_path: Path) -> None:
    from eventlake.cli import cli

    settings = _published(wh_settings)
    wh = settings.warehouse
    toml = tmp_path / "cli" / "eventlake.toml"
    toml.parent.mkdir()
    lines = [
        "[lake]",
        f'path = "{settings.lake_uri()}"',
        "[warehouse]",
        f'backend = "{wh.backend}"',
        f'path = "{settings.resolve(wh.path)}"',
        f'spark_dir = "{settings.resolve(wh.spark_dir)}"',
    ]
    if wh.url:
        lines.append(f'url = "{wh.url}"')
    toml.write_text("\n".join(lines) + "\n", encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(cli, ["-c", str(toml), "query", "SELECT count(*) AS n FROM raw.events"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.splitlines()[-1] == "(1 row)" and "13" in ok.output
    as_json = runner.invoke(
        cli, ["-c", str(toml), "query", "--json", "SELECT event_date FROM raw.events LIMIT 1"]
    )
    assert as_json.exit_code == 0 and '"event_date": "2026-03-01"' in as_json.output
    refused = runner.invoke(cli, ["-c", str(toml), "query", "DROP TABLE raw.events"])
    assert refused.exit_code == 1 and isinstance(refused.exception, QueryRefusedError)
    assert str(refused.exception).startswith("DROP TABLE statement (DROP) refused")


def test_locked_configuration_on_duckdb_readers(tmp_path: Path) -> None:
    """Below the reader's statement check: its DuckDB instance refuses any change."""
    import duckdb

    from eventlake.warehouse.duckdb import connect_sandboxed

    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    conn = connect_sandboxed(path, settings={"memory_limit": "64MB"})
    try:
        for sql in ("SET threads = 7", "SET memory_limit = '10GB'", "RESET memory_limit"):
            with pytest.raises(duckdb.Error, match="locked"):
                conn.execute(sql)
        cursor = conn.cursor()  # a cursor is a connection of its own: locked as well
        with pytest.raises(duckdb.Error, match="locked"):
            cursor.execute("SET GLOBAL enable_external_access = true")
        limit = cursor.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        assert limit.replace(" ", "") in ("61.0MiB", "64.0MiB")
    finally:
        conn.close()
