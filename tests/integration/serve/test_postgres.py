"""The data API on a PostgreSQL warehouse, answer for answer against DuckDB on the same data.

The sample warehouse is built once with DuckDB and its ``metrics.*`` tables copied row for
row, with the same types, into a throwaway PostgreSQL database (C collation, so text sorts
by bytes as in DuckDB). Two servers, one per engine, then get the same requests: JSON and
CSV, filters, group-by, sort and paging, dimension values, the catalog, ``POST
/api/query``. Answers are compared byte for byte, except sums of DOUBLE measures, whose
last digit depends on the order each engine adds in (compared to 1e-9).
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import psycopg
import pytest

from eventlake.warehouse.sample import copy_sample_to_postgres

serving = sys.modules["eventlake_tests_serving"]
pytestmark = pytest.mark.integration

QUERY_TOKEN = "pg-query-token"


@pytest.fixture(scope="module")
def pg_url(postgres_url: str) -> str:
    return serving.postgres_database(postgres_url, f"serve_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def both(sample_project: Path, pg_url: str) -> Iterator[tuple[str, str]]:
    """(DuckDB server URL, PostgreSQL server URL) over the same sample data."""
    duck = serving.make_settings(
        sample_project, query_enabled=True, query_token=QUERY_TOKEN, cache_entries=0
    )
    copy_sample_to_postgres(duck.resolve(duck.warehouse.path), pg_url)
    pg = serving.postgres_settings(
        sample_project, pg_url, query_enabled=True, query_token=QUERY_TOKEN, cache_entries=0
    )
    with serving.serving(duck) as duck_url, serving.serving(pg) as pg_base:
        yield duck_url, pg_base


@pytest.mark.parametrize(
    ("path", "items"), serving.ENGINE_REQUESTS, ids=[f"{p}?{i}" for p, i in serving.ENGINE_REQUESTS]
)
def test_every_answer_equals_duckdbs(
    both: tuple[str, str], path: str, items: list[tuple[str, str]]
) -> None:
    duck_url, pg_url = both
    duck = httpx.get(duck_url + path, params=items, timeout=30)
    pg = httpx.get(pg_url + path, params=items, timeout=30)
    assert duck.status_code == pg.status_code == 200, (duck.text[:300], pg.text[:300])
    assert duck.headers["content-type"] == pg.headers["content-type"]
    assert len(pg.content) > 20
    assert serving.same_answer(duck, pg), (duck.text[:500], pg.text[:500])


def test_types_encode_alike(both: tuple[str, str]) -> None:
    """Dates as ISO strings, DECIMAL revenue and integer counts as numbers, in both."""
    _, pg_url = both
    row = httpx.get(f"{pg_url}/api/metrics/revenue_daily.json", params={"limit": 1}).json()["rows"][
        0
    ]
    assert isinstance(row["activity_date"], str) and len(row["activity_date"]) == 10
    assert isinstance(row["revenue"], int | float) and isinstance(row["dau"], int)
    grouped = httpx.get(
        f"{pg_url}/api/metrics/revenue_daily.json", params={"group_by": "platform"}
    ).json()["rows"]
    assert all(isinstance(r["dau"], int) for r in grouped), "a SUM of counts is an integer"


def test_the_catalog_and_health_say_the_warehouse_is_ready(both: tuple[str, str]) -> None:
    duck_url, pg_url = both
    duck, pg = httpx.get(f"{duck_url}/api/metrics"), httpx.get(f"{pg_url}/api/metrics")
    assert pg.json() == duck.json() and pg.json()["warehouse_ready"] is True
    assert httpx.get(f"{pg_url}/healthz").json()["warehouse"] is True


def test_api_query_on_postgres_reads_and_refuses(both: tuple[str, str]) -> None:
    duck_url, pg_url = both
    headers = {"Authorization": f"Bearer {QUERY_TOKEN}"}
    sql = (
        "SELECT platform, sum(dau) AS dau, sum(revenue) AS revenue FROM metrics.revenue_daily "
        "GROUP BY platform ORDER BY platform"
    )
    answers = [
        httpx.post(f"{url}/api/query", json={"sql": sql}, headers=headers, timeout=30)
        for url in (duck_url, pg_url)
    ]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[1].json()["rows"] == answers[0].json()["rows"]
    as_csv = httpx.post(f"{pg_url}/api/query", json={"sql": sql, "format": "csv"}, headers=headers)
    assert as_csv.status_code == 200 and as_csv.text.splitlines()[0] == "platform,dau,revenue"
    for bad, fragment in [
        ("DROP TABLE metrics.revenue_daily", "DROP"),
        ("SELECT pg_read_file('/etc/hostname')", "pg_read_file"),
        ("SELECT set_config('statement_timeout', '0', false)", "set_config"),
        ("SELECT pg_advisory_lock(7)", "pg_advisory_lock"),
        ("SELECT * FROM pg_file_settings", "pg_file_settings"),
        ("SELECT no_such_column FROM metrics.revenue_daily", "no_such_column"),
    ]:
        r = httpx.post(f"{pg_url}/api/query", json={"sql": bad}, headers=headers)
        assert r.status_code == 400 and r.json()["parameter"] == "sql", (bad, r.text)
        assert fragment in r.json()["error"], (bad, r.text)
    count = httpx.post(
        f"{pg_url}/api/query",
        json={"sql": "SELECT count(*) FROM metrics.revenue_daily"},
        headers=headers,
    )
    assert count.status_code == 200 and count.json()["rows"][0][0] > 0


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_every_type_encodes_as_on_duckdb(both: tuple[str, str], fmt: str) -> None:
    """Dates, timestamps, decimals, booleans, NULL, text, integers and doubles, one row."""
    sql = (
        "SELECT DATE '2026-01-02' AS d, CAST('2026-01-02 03:04:05+00' AS TIMESTAMPTZ) AS ts, "
        "CAST(1.50 AS DECIMAL(10, 2)) AS n, CAST(12 AS DECIMAL(38, 0)) AS whole, true AS b, "
        "false AS f, NULL AS z, 'caf\u00e9, \"q\"' AS t, CAST(7 AS BIGINT) AS i, "
        "CAST(0.1 AS DOUBLE PRECISION) AS x"
    )
    headers = {"Authorization": f"Bearer {QUERY_TOKEN}"}
    duck, pg = (
        httpx.post(f"{url}/api/query", json={"sql": sql, "format": fmt}, headers=headers)
        for url in both
    )
    assert duck.status_code == pg.status_code == 200, (duck.text, pg.text)
    if fmt == "json":
        assert duck.json()["rows"] == pg.json()["rows"]
        assert pg.json()["rows"] == [
            ["2026-01-02", "2026-01-02T03:04:05Z", 1.50, 12, True, False, None, 'café, "q"', 7, 0.1]
        ]
        assert b"1.50,12,true,false,null" in pg.content, "decimals keep their digits"
    else:
        assert duck.text == pg.text


def test_api_query_time_limit_on_postgres(sample_project: Path, pg_url: str) -> None:
    settings = serving.postgres_settings(
        sample_project, pg_url, query_enabled=True, query_token=QUERY_TOKEN
    )
    settings.warehouse.query_timeout = 0.5
    with serving.serving(settings) as url:
        t0 = time.monotonic()
        r = httpx.post(
            f"{url}/api/query",
            json={"sql": "SELECT pg_sleep(20)"},
            headers={"Authorization": f"Bearer {QUERY_TOKEN}"},
            timeout=30,
        )
        assert r.status_code == 400 and "0.5 s" in r.json()["error"], r.text
        assert time.monotonic() - t0 < 10


def test_cache_etags_and_a_new_publish(sample_project: Path, postgres_url: str) -> None:
    url = serving.postgres_database(postgres_url, f"serve_{uuid.uuid4().hex[:8]}")
    duck = serving.make_settings(sample_project)
    copy_sample_to_postgres(duck.resolve(duck.warehouse.path), url)
    settings = serving.postgres_settings(sample_project, url)
    path = "/api/metrics/revenue_daily.json?group_by=activity_date"
    with serving.serving(settings) as base, httpx.Client(base_url=base, timeout=30) as c:
        first = c.get(path)
        assert first.status_code == 200
        again = c.get(path)
        assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
        assert "eventlake_api_cache_hits_total 1" in c.get("/metrics").text
        assert c.get(path, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM metrics.revenue_daily WHERE activity_date > '2026-01-31'")
            from eventlake.warehouse.postgres import publish_generation

            publish_generation(conn)
        serving.wait_for_reload(settings)
        after = c.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert after.status_code == 200, "a new publish invalidates the ETag and the cache"
        # grouped by date, every day of the range stays (a date spine); the deleted days
        # now read zero revenue
        late = [r for r in after.json()["rows"] if r["activity_date"] > "2026-01-31"]
        assert late and all(r["revenue"] == 0 for r in late)
        before = [r for r in first.json()["rows"] if r["activity_date"] > "2026-01-31"]
        assert any(r["revenue"] != 0 for r in before)


def test_a_missing_table_is_a_503_with_a_hint_and_no_build_yet_says_what_to_run(
    sample_project: Path, postgres_url: str
) -> None:
    url = serving.postgres_database(postgres_url, f"serve_{uuid.uuid4().hex[:8]}")
    settings = serving.postgres_settings(sample_project, url)
    with serving.serving(settings) as base, httpx.Client(base_url=base, timeout=30) as c:
        # nothing built in this database yet
        assert c.get("/healthz").json()["warehouse"] is False
        r = c.get("/api/metrics/revenue_daily.json")
        assert r.status_code == 503 and "eventlake build" in r.json()["error"]
        duck = serving.make_settings(sample_project)
        copy_sample_to_postgres(duck.resolve(duck.warehouse.path), url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE metrics.guild_joins_daily")
        serving.wait_for_reload(settings)
        assert c.get("/api/metrics/revenue_daily.json").status_code == 200
        r = c.get("/api/metrics/guild_joins_daily.json")
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        assert "does not match" in error and "guild_joins_daily" in error
        assert "eventlake build" in error
        r = c.get("/api/dimensions/guild_name/values")
        assert r.status_code == 503 and "eventlake build" in r.json()["error"]


def test_an_unreachable_server_is_a_503_not_a_500(sample_project: Path, free_port: int) -> None:
    settings = serving.postgres_settings(
        sample_project, f"postgresql://nobody@127.0.0.1:{free_port}/none"
    )
    with serving.serving(settings) as base, httpx.Client(base_url=base, timeout=60) as c:
        r = c.get("/api/metrics/revenue_daily.json")
        assert r.status_code == 503 and "connect" in r.json()["error"], r.text
        health = c.get("/healthz")
        assert health.status_code == 200 and health.json()["warehouse"] is False


def test_publishes_under_load_never_fail_a_request(sample_project: Path, postgres_url: str) -> None:
    url = serving.postgres_database(postgres_url, f"serve_{uuid.uuid4().hex[:8]}")
    duck = serving.make_settings(sample_project)
    wh = duck.resolve(duck.warehouse.path)
    copy_sample_to_postgres(wh, url)
    settings = serving.postgres_settings(sample_project, url, cache_entries=0)
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop = threading.Event()
    with serving.serving(settings) as base:

        def hammer(seed: int) -> None:
            with httpx.Client(base_url=base, timeout=60) as c:
                n = seed
                while not stop.is_set():
                    r = c.get(
                        "/api/metrics/revenue_daily.json",
                        params={"group_by": "activity_date", "limit": 1000 + n % 97},
                    )
                    with lock:
                        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    n += 1

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        try:
            for _ in range(3):
                time.sleep(0.5)
                copy_sample_to_postgres(wh, url)  # drop and recreate every table
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 20


def test_copy_keeps_the_types(sample_project: Path, pg_url: str, both: tuple[str, str]) -> None:
    with psycopg.connect(pg_url) as conn:
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'metrics' AND table_name = 'revenue_daily'"
            ).fetchall()
        )
    assert types["activity_date"] == "date" and types["revenue"] == "numeric"
    assert types["dau"] == "bigint" and types["arpdau"] == "double precision"
    assert json.loads(json.dumps(types))


def test_the_sample_copy_streams_tables_larger_than_one_batch(
    sample_project: Path, postgres_url: str
) -> None:
    # Tables go to COPY as CSV in batches: every batch after the first must come without
    # its header (a header in the middle of the stream is a bad row to PostgreSQL).
    url = serving.postgres_database(postgres_url, f"serve_{uuid.uuid4().hex[:8]}")
    duck = serving.make_settings(sample_project)
    wh = duck.resolve(duck.warehouse.path)
    copied = copy_sample_to_postgres(wh, url, batch_rows=7)
    assert max(copied.values()) > 7 * 3
    con = duckdb.connect(str(wh), read_only=True)
    try:
        expected = {
            f"{s}.{t}": con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0]  # type: ignore[index]
            for s, t in con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema IN ('staging', 'marts', 'metrics')"
            ).fetchall()
        }
    finally:
        con.close()
    assert copied == expected
    with psycopg.connect(url) as conn:
        for name, rows in expected.items():
            schema, table = name.split(".")
            got = conn.execute(f'SELECT count(*) FROM {schema}."{table}"').fetchone()
            assert got is not None and got[0] == rows, name
