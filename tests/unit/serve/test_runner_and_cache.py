"""The query runner (its pools, version checks, the sandbox for users' SQL), the result
cache and the catalog's change checks, on real DuckDB files read through the warehouse's
reader (the runner itself knows no engine)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import duckdb
import pytest

from eventlake.config import WarehouseConfig
from eventlake.errors import WarehouseError
from eventlake.serve.catalog import Catalog, CatalogFile
from eventlake.serve.data import CachedResponse, QueryRunner, ResultCache
from eventlake.serve.params import parse_metric_query
from eventlake.warehouse import ReaderOptions, open_warehouse


def _publish(path: Path, rows: int) -> None:
    """Write a warehouse with ``rows`` rows in metrics.t and publish it by atomic rename."""
    work = path.with_name(path.name + ".next")
    work.unlink(missing_ok=True)
    conn = duckdb.connect(str(work))
    conn.execute("CREATE SCHEMA metrics")
    conn.execute("CREATE TABLE metrics.t AS SELECT range AS n FROM range(?)", [rows])
    conn.close()
    os.replace(work, path)


def _runner(path: Path, **kwargs: object) -> QueryRunner:
    options = kwargs.pop("options", None)
    warehouse = open_warehouse(WarehouseConfig(path=path))
    return QueryRunner(warehouse.reader(options), **kwargs)  # type: ignore[arg-type]


def _count(runner: QueryRunner) -> int:
    return int(runner.run("SELECT count(*) FROM metrics.t").rows[0][0])


def test_versions_are_checked_at_most_every_interval(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    _publish(db, 3)
    slow = _runner(db, check_interval=3600)
    try:
        assert _count(slow) == 3
        before = slow.version
        _publish(db, 5)
        # Within the interval the version is not asked again (no stat, no query)...
        assert slow.version == before
        # ...while a statement always runs on the newest publish.
        assert _count(slow) == 5
    finally:
        slow.close()
    every = _runner(db, check_interval=0)
    try:
        before = every.version
        _publish(db, 7)
        assert every.version != before and _count(every) == 7
    finally:
        every.close()
    bounded = _runner(db, check_interval=0.05)
    try:
        before = bounded.version
        _publish(db, 9)
        time.sleep(0.06)  # past the bound, the next call asks again
        assert bounded.version != before and _count(bounded) == 9
    finally:
        bounded.close()


def test_the_event_loop_shares_one_version_check(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    _publish(db, 1)
    runner = _runner(db, check_interval=0)
    calls: list[str] = []
    inner = runner.reader

    class Counting:
        engine = inner.engine

        def version(self) -> str:
            calls.append(threading.current_thread().name)
            time.sleep(0.05)
            return inner.version()

        def execute(self, *args: object, **kwargs: object) -> object:
            return inner.execute(*args, **kwargs)  # type: ignore[arg-type]

        def close(self) -> None:
            inner.close()

    runner.reader = Counting()  # type: ignore[assignment]

    async def main() -> list[str]:
        return await asyncio.gather(*(runner.current_version() for _ in range(10)))

    try:
        versions = asyncio.run(main())
        assert len(set(versions)) == 1 and versions[0] != "none"
        assert len(calls) == 1, "concurrent requests share one check"
        assert calls[0].startswith("eventlake-version"), "never on the event loop"
    finally:
        runner.close()


def test_no_warehouse_is_version_none(tmp_path: Path) -> None:
    runner = _runner(tmp_path / "missing.duckdb", check_interval=0)
    assert runner.version == "none" and runner.problem is None
    _publish(tmp_path / "missing.duckdb", 1)
    assert runner.version != "none" and _count(runner) == 1
    runner.close()


def test_an_unreachable_warehouse_is_version_none_with_the_problem(tmp_path: Path) -> None:
    class Down:
        engine = "test"

        def version(self) -> str:
            raise WarehouseError("cannot connect to the warehouse: connection refused")

        def close(self) -> None:
            pass

    runner = QueryRunner(Down(), check_interval=0)  # type: ignore[arg-type]
    assert runner.version == "none"
    assert runner.problem is not None and "connection refused" in runner.problem


def test_queries_run_on_a_bounded_pool_with_tuned_settings(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    _publish(db, 10)
    runner = _runner(db, workers=2, options=ReaderOptions(threads=1))
    lock = threading.Lock()
    running = [0, 0]  # now, most at once
    names: set[str] = set()

    def job() -> int:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
            names.add(threading.current_thread().name)
        time.sleep(0.02)
        n = _count(runner)
        with lock:
            running[0] -= 1
        return n

    async def main() -> list[int]:
        return await asyncio.gather(*(runner.run_async(job) for _ in range(8)))

    try:
        assert asyncio.run(main()) == [10] * 8
        assert running[1] == 2, "at most `workers` queries at once"
        assert all(n.startswith("eventlake-query") for n in names) and len(names) == 2
        settings = runner.run(
            "SELECT current_setting('threads'), current_setting('disabled_optimizers'), "
            "current_setting('TimeZone')"
        ).rows[0]
        assert settings[0] == 1 and "compressed_materialization" in settings[1]
        assert settings[2] == "UTC"
    finally:
        runner.close()


def test_users_sql_runs_on_the_sandbox_on_threads_of_its_own(tmp_path: Path) -> None:
    from eventlake.warehouse.query import run_query, sandbox_options

    db = tmp_path / "warehouse.duckdb"
    _publish(db, 4)
    config = WarehouseConfig(path=db, query_memory_mb=64, query_timeout=5)
    warehouse = open_warehouse(config)
    runner = QueryRunner(
        warehouse.reader(), sandbox=lambda: warehouse.reader(sandbox_options(config))
    )

    def job() -> tuple[str, object, object]:
        # the guard refuses current_setting(): ask the sandboxed reader itself
        limit = runner.sandbox().execute("SELECT current_setting('memory_limit')").rows[0][0]
        rows = run_query(runner.sandbox(), "SELECT count(*) FROM metrics.t", 10).rows
        return threading.current_thread().name, limit, rows

    try:
        name, limit, rows = asyncio.run(runner.run_adhoc(job))
        assert name.startswith("eventlake-adhoc") and rows == [(4,)]
        assert str(limit).replace(" ", "") in ("64.0MiB", "61.0MiB", "64MB")
        assert runner.sandbox() is runner.sandbox(), "opened once"
    finally:
        runner.close()
    off = _runner(db)
    with pytest.raises(WarehouseError, match="disabled"):
        off.sandbox()
    off.close()


def test_date_filters_include_the_whole_end_day(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    conn = duckdb.connect(str(db))
    conn.execute("CREATE SCHEMA metrics")
    conn.execute(
        "CREATE TABLE metrics.d AS SELECT DATE '2026-01-01' + INTERVAL (i) DAY AS day, "
        "TIMESTAMP '2026-01-01 18:30' + INTERVAL (i) DAY AS at, 1 AS n FROM range(5) r(i)"
    )
    conn.close()
    columns = [
        {"name": "day", "type": "DATE"},
        {"name": "at", "type": "TIMESTAMP"},
        {"name": "n", "type": "INTEGER"},
    ]
    spec = {
        "metrics": [
            {"name": "by_day", "relation": "metrics.d", "date_column": "day", "columns": columns},
            {"name": "by_ts", "relation": "metrics.d", "date_column": "at", "columns": columns},
        ]
    }
    catalog = Catalog.parse(json.dumps(spec).encode(), "v")
    runner = _runner(db)
    try:
        for name in ("by_day", "by_ts"):
            q = parse_metric_query(
                catalog.metrics[name], [("start", "2026-01-02"), ("end", "2026-01-03")], max_limit=9
            )
            assert len(runner.run(q.sql, q.params).rows) == 2, name
    finally:
        runner.close()


def test_result_cache_counts_lookups_and_stays_bounded() -> None:
    cache = ResultCache(2, max_bytes=64)
    assert cache.get("a") is None
    cache.put("a", CachedResponse('"e1"', b"x" * 10))
    cache.put("b", CachedResponse('"e2"', b"y" * 10))
    hit = cache.get("a")
    assert hit is not None and hit.etag == '"e1"' and hit.body == b"x" * 10
    cache.put("c", CachedResponse('"e3"', b"z"))  # evicts b, the least recently used
    assert cache.get("b") is None and len(cache) == 2
    cache.put("big", CachedResponse('"e4"', b"w" * 17))  # over max_bytes / 4: not kept
    assert cache.get("big") is None
    assert (cache.hits, cache.misses) == (1, 3)
    off = ResultCache(0)
    off.put("a", CachedResponse('"e"', b"x"))
    assert off.get("a") is None and len(off) == 0


@pytest.mark.parametrize("interval", [0.0, 0.05])
def test_catalog_changes_are_seen_within_the_interval(tmp_path: Path, interval: float) -> None:
    path = tmp_path / "metrics_catalog.json"
    catalog = CatalogFile(path, check_interval=interval)
    assert catalog.get().metrics == {}
    path.write_text(json.dumps({"metrics": [{"name": "m", "columns": [{"name": "a"}]}]}))
    time.sleep(interval + 0.01)
    assert list(catalog.get().metrics) == ["m"]


def test_catalog_is_not_restated_within_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "metrics_catalog.json"
    path.write_text(json.dumps({"metrics": []}))
    catalog = CatalogFile(path, check_interval=3600)
    first = catalog.get()
    path.write_text(json.dumps({"metrics": [{"name": "m", "columns": [{"name": "a"}]}]}))
    assert catalog.get() is first
