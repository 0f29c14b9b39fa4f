"""The read-only query guard refuses every way to write, attach, copy or touch a file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from eventlake.errors import QueryRefusedError, SchemaMismatchError, WarehouseError
from eventlake.warehouse import open_warehouse
from eventlake.warehouse.duckdb import connect_sandboxed
from eventlake.warehouse.query import check_read_only, run_query, sandbox_options

ALLOWED = [
    "SELECT 1",
    "select * from metrics.daily_active_users where day >= '2026-01-01' limit 5;",
    "WITH a AS (SELECT 1 AS x) SELECT x FROM a",
    "FROM raw.events SELECT count(*)",
    "SELECT * FROM range(3)",
    "SELECT * FROM duckdb_tables()",
    "DESCRIBE raw.events",
    "SHOW TABLES",
    "SUMMARIZE raw.events",
    "PRAGMA show_tables",
    "PRAGMA table_info('raw.events')",
    "SELECT 'read_csv(x)' AS looks_like_a_call, 'a;b' AS semicolon",
    "VALUES (1, 'a'), (2, 'b')",
]

# (statement, a fragment the refusal message must contain)
REFUSED = [
    ("INSERT INTO raw.events SELECT * FROM raw.events", "INSERT"),
    ("UPDATE raw.events SET type = 'x'", "UPDATE"),
    ("DELETE FROM raw.events", "DELETE"),
    ("DROP TABLE raw.events", "DROP"),
    ("CREATE TABLE t AS SELECT 1", "CREATE"),
    ("CREATE OR REPLACE MACRO m() AS 1", "CREATE"),
    ("ALTER TABLE raw.events ADD COLUMN x INT", "ALTER"),
    ("TRUNCATE raw.events", "TRUNCATE"),
    ("COPY raw.events TO '/tmp/out.csv'", "COPY"),
    ("COPY (SELECT 1) TO '/tmp/out.parquet' (FORMAT parquet)", "COPY"),
    ("COPY raw.events FROM '/etc/passwd'", "COPY"),
    ("EXPORT DATABASE '/tmp/dump'", "EXPORT"),
    ("IMPORT DATABASE '/tmp/dump'", "IMPORT"),
    ("ATTACH '/tmp/other.duckdb' AS other", "ATTACH"),
    ("ATTACH 'postgres:dbname=x' AS pg (TYPE postgres)", "ATTACH"),
    ("DETACH other", "DETACH"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("FORCE INSTALL httpfs", "INSTALL"),
    ("SET enable_external_access = true", "SET"),
    ("RESET threads", "RESET"),
    ("USE other", "USE"),
    ("PRAGMA threads=1", "SET"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("PRAGMA disable_checkpoint_on_shutdown", "PRAGMA"),
    ("CALL pragma_version()", "CALL"),
    ("CHECKPOINT", "CHECKPOINT"),
    ("VACUUM", "VACUUM"),
    ("BEGIN TRANSACTION", "BEGIN"),
    ("SELECT 1; DROP TABLE raw.events", "2 statements"),
    ("SELECT 1; SELECT 2", "2 statements"),
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "read_csv_auto"),
    ("SELECT * FROM read_parquet('data/lake/events/*/*.parquet')", "read_parquet"),
    ("SELECT * FROM parquet_scan('x.parquet')", "parquet_scan"),
    ("SELECT * FROM read_json('x.json')", "read_json"),
    ("SELECT * FROM read_json_auto('x.json')", "read_json_auto"),
    ("SELECT * FROM read_ndjson_objects('x.json')", "read_ndjson_objects"),
    ("SELECT * FROM read_text('/etc/passwd')", "read_text"),
    ("SELECT * FROM read_blob('/etc/passwd')", "read_blob"),
    ("SELECT * FROM glob('/etc/*')", "glob"),
    ("SELECT * FROM parquet_metadata('x.parquet')", "parquet_metadata"),
    ("SELECT * FROM sniff_csv('/etc/passwd')", "sniff_csv"),
    ("SELECT * FROM query('DROP TABLE raw.events')", "query"),
    ("SELECT * FROM query_table('raw.events')", "query_table"),
    ("SELECT * FROM sqlite_scan('x.db', 't')", "sqlite_scan"),
    ("SELECT * FROM '/etc/passwd'", "/etc/passwd"),
    ("SELECT * FROM 'data/lake/events/x.parquet'", "file path"),
    ('SELECT * FROM "s3://bucket/x.parquet"', "file path"),
    ("SELECT getenv('EVENTLAKE_SERVE__TOKEN')", "getenv"),
    ("SELECT current_setting('s3_secret_access_key')", "current_setting"),
    ("SELECT * FROM duckdb_secrets()", "duckdb_secrets"),
    # where the warehouse file lives is nobody's business (issue 17)
    ("PRAGMA database_list", "where the warehouse file is"),
    ("SELECT * FROM duckdb_databases()", "where the warehouse file is"),
    ("SELECT path FROM duckdb_databases", "where the warehouse file is"),
    ("SELECT path FROM main.duckdb_databases", "where the warehouse file is"),
    ('SELECT path FROM "DuckDB_Databases"', "where the warehouse file is"),
    ("SELECT file FROM pragma_database_list", "where the warehouse file is"),
    ("SELECT * FROM pg_catalog.pg_settings", "where the warehouse file is"),
    ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
    ("SELECT current_setting('home_directory')", "current_setting"),
    ("SUMMARIZE duckdb_databases", "where the warehouse file is"),
    ("SELECT * FROM (FROM duckdb_databases) AS d", "where the warehouse file is"),
    ("DESCRIBE '/etc/passwd'", "file path"),
    ("SELECT * FROM raw.events WHERE message_id IN (SELECT * FROM read_csv('x'))", "read_csv"),
    ("WITH a AS (SELECT * FROM read_parquet('x')) SELECT * FROM a", "read_parquet"),
    ("SELECT 1 UNION ALL SELECT * FROM glob('*')", "glob"),
    ("SELECT (SELECT count(*) FROM read_text('/etc/shadow'))", "read_text"),
    ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN"),
    ("", "empty"),
    ("   ;  ", "empty"),
    ("SELEC 1", "does not parse"),
]


@pytest.mark.parametrize("sql", ALLOWED)
def test_reading_statements_pass_the_guard(sql: str) -> None:
    assert check_read_only(sql)


@pytest.mark.parametrize(("sql", "fragment"), REFUSED)
def test_writing_and_file_statements_are_refused(sql: str, fragment: str) -> None:
    with pytest.raises(QueryRefusedError) as info:
        check_read_only(sql)
    assert fragment.lower() in str(info.value).lower()


@pytest.fixture
def warehouse(settings) -> Path:  # type: ignore[no-untyped-def]
    path = settings.resolve(settings.warehouse.path)
    path.parent.mkdir(parents=True)
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA metrics")
        conn.execute(
            "CREATE TABLE metrics.dau AS SELECT range AS day, range * 2 AS users FROM range(5)"
        )
    return path


def test_run_query_returns_rows_and_truncates(settings, warehouse) -> None:
    result = run_query(settings, "SELECT day, users FROM metrics.dau ORDER BY day", limit=3)
    assert result.columns == ["day", "users"]
    assert result.rows == [(0, 0), (1, 2), (2, 4)]
    assert result.truncated and result.notes
    assert result.records()[1] == {"day": 1, "users": 2}


def test_sandboxed_connection_blocks_what_the_guard_might_miss(warehouse, tmp_path) -> None:
    conn = connect_sandboxed(warehouse)
    try:
        with pytest.raises(duckdb.Error):
            conn.execute("CREATE TABLE x (a INT)")
        with pytest.raises(duckdb.Error, match="disabled"):
            conn.execute(f"COPY metrics.dau TO '{tmp_path / 'out.csv'}'")
        with pytest.raises(duckdb.Error, match="disabled"):
            conn.execute("SELECT * FROM read_csv('/etc/hostname')")
        with pytest.raises(duckdb.Error, match="locked"):
            conn.execute("SET enable_external_access = true")
    finally:
        conn.close()
    assert not (tmp_path / "out.csv").exists()


def test_run_query_on_a_given_reader_leaves_it_open(settings, warehouse) -> None:
    reader = open_warehouse(settings).reader(sandbox_options(settings.warehouse))
    try:
        result = run_query(reader, "SELECT * FROM range(100)", limit=2)
        assert result.rows == [(0,), (1,)] and result.truncated
        assert reader.execute("SELECT 42").rows == [(42,)]
    finally:
        reader.close()


def test_query_errors_are_warehouse_errors(settings, warehouse) -> None:
    with pytest.raises(SchemaMismatchError, match="does not match the warehouse: .*nope"):
        run_query(settings, "SELECT * FROM nope")
    with pytest.raises(WarehouseError, match="query failed on DuckDB: .*syntax|Conversion"):
        run_query(settings, "SELECT 'x'::INTEGER")


def test_missing_warehouse_says_what_to_run(settings) -> None:
    with pytest.raises(WarehouseError, match="eventlake build"):
        run_query(settings, "SELECT 1")


def test_source_views_over_the_lake_stay_readable(settings, warehouse) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sources = Path(settings.lake_uri()) / "sources" / "students"
    sources.mkdir(parents=True)
    pq.write_table(pa.table({"name": ["ada", "alan"]}), sources / "part-0.parquet")
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute(
            f"CREATE VIEW main.students AS SELECT * FROM read_parquet('{sources}/*.parquet')"
        )
    assert run_query(settings, "SELECT count(*) FROM students").rows == [(2,)]
    secret = warehouse.with_name("secret.csv")
    secret.write_text("token\nabc\n", encoding="utf-8")
    conn = connect_sandboxed(warehouse, allowed_directories=[sources.parent])
    try:
        with pytest.raises(duckdb.Error, match="disabled"):
            conn.execute(f"SELECT * FROM read_csv('{secret}')")
    finally:
        conn.close()


def test_sandbox_settings_do_not_leak_into_other_connections(settings, warehouse) -> None:
    other = duckdb.connect(str(warehouse), read_only=True)
    try:
        run_query(settings, "SELECT 1")
        assert other.execute("SELECT current_setting('enable_external_access')").fetchall() == [
            (True,)
        ]
    finally:
        other.close()


@pytest.mark.parametrize("terms", [401, 999])
def test_deeply_nested_expressions_are_checked_not_crashed(terms: int) -> None:
    # json.loads gives up around 400 nested additions (RecursionError); DuckDB allows 1000.
    sql = "SELECT " + "+".join(["1"] * terms)
    assert check_read_only(sql) == sql
    # the first term of a left-deep sum is the deepest node of the tree
    hidden = "SELECT (SELECT count(*) FROM glob('/etc/*'))+" + "+".join(["1"] * (terms - 20))
    with pytest.raises(QueryRefusedError, match="glob"):
        check_read_only(hidden)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT " + "(" * 100_000 + "1" + ")" * 100_000,
        "SELECT " + "+".join(["1"] * 5000),
        "SELECT * FROM " + "(SELECT * FROM " * 3000 + "t" + ") x" * 3000,
        "SELECT " + "NOT " * 3000 + "true",
    ],
    ids=["parens-100k", "sum-5000", "subqueries-3000", "not-3000"],
)
def test_nesting_beyond_duckdbs_limit_is_a_refusal(sql: str) -> None:
    with pytest.raises(QueryRefusedError, match="does not parse"):
        check_read_only(sql)


def test_deep_statement_that_fails_to_bind_is_a_warehouse_error(settings, warehouse) -> None:
    # Parses (999 terms) but the binder's own depth limit refuses it: one clean error.
    with pytest.raises(WarehouseError, match="depth"):
        run_query(settings, "SELECT " + "+".join(["1"] * 999))
    assert run_query(settings, "SELECT " + "+".join(["1"] * 401)).rows == [(401,)]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "SELECT {'a': [1, 2.5, -3e2, true, NULL, 'x\"y\\\\z', '\u00e9\u20ac']} AS \"k:,[\"",
        "SELECT * FROM range(3) WHERE range IN (1, 2) ORDER BY 1 DESC",
    ],
)
def test_deep_decoder_reads_what_json_loads_reads(sql: str) -> None:
    import json

    from eventlake.warehouse.query import _decode_deep

    conn = duckdb.connect(":memory:")
    try:
        raw = conn.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()[0]
    finally:
        conn.close()
    assert _decode_deep(raw) == json.loads(raw)


def test_show_tables_lists_every_schema(settings, warehouse) -> None:
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("CREATE SCHEMA raw")
        conn.execute("CREATE TABLE raw.events AS SELECT 1 AS x")
        conn.execute("CREATE VIEW metrics.dau_view AS SELECT * FROM metrics.dau")
    for sql in ("SHOW TABLES", "show tables;", "  Show   Tables "):
        result = run_query(settings, sql)
        assert result.columns == ["schema", "name", "type"]
        assert result.rows == [
            ("metrics", "dau", "table"),
            ("metrics", "dau_view", "view"),
            ("raw", "events", "table"),
        ]
    assert run_query(settings, "SHOW TABLES FROM metrics").rows[0][0] == "dau"


def test_no_statement_reveals_the_warehouse_path(settings, warehouse) -> None:
    allowed = [
        "SHOW TABLES",
        "SHOW ALL TABLES",
        "SHOW DATABASES",
        "PRAGMA database_size",
        "SELECT * FROM duckdb_tables()",
        "SELECT * FROM duckdb_schemas()",
        "SELECT * FROM information_schema.schemata",
        "SELECT current_database()",
    ]
    folder = str(warehouse.parent)
    for sql in allowed:
        result = run_query(settings, sql)
        assert folder not in repr(result.rows), sql


def test_python_variables_are_not_tables(settings, warehouse) -> None:
    import pyarrow as pa

    leaked = pa.table({"secret": ["s3cr3t"]})
    plain = duckdb.connect(":memory:")
    try:  # what DuckDB's Python client does by default: the caller's variables are tables
        assert plain.execute("SELECT * FROM leaked").fetchall() == [("s3cr3t",)]
    finally:
        plain.close()
    conn = connect_sandboxed(warehouse)
    try:
        with pytest.raises(duckdb.CatalogException, match="leaked"):
            conn.execute("SELECT * FROM leaked")
        # a cursor is a connection of its own: the setting must hold there too
        with pytest.raises(duckdb.CatalogException, match="leaked"):
            conn.cursor().execute("SELECT * FROM leaked")
    finally:
        conn.close()
    reader = open_warehouse(settings).reader()  # per-thread cursors
    try:
        with pytest.raises(SchemaMismatchError, match="leaked"):
            reader.execute("SELECT * FROM leaked")
    finally:
        reader.close()
    with pytest.raises(SchemaMismatchError, match="leaked"):
        run_query(settings, "SELECT * FROM leaked")
    assert leaked.num_rows == 1
