"""Benchmark: metric API latency under concurrent clients, on every warehouse engine, vs
the raw query time of each engine.

Builds a synthetic warehouse shaped like the metrics models from N game events (default
10M, DuckDB SQL, ``eventlake.warehouse.sample``) and copies its tables, same rows and
types, into PostgreSQL (a throwaway cluster, or ``--postgres-url``) and into Spark Parquet
tables (the process's SparkSession, then published as a Spark build does). For each engine
it starts ``eventlake serve`` as a subprocess on a free 127.0.0.1 port and sends a bounded
number of dashboard-like requests (random date ranges, platform filters, group-by, top-N)
from C concurrent clients. Baselines run the very same SQL and parameters at the same
concurrency straight on the engine: DuckDB (read-only connection, one cursor per thread),
PostgreSQL (psycopg, one connection per thread), the Spark reader (DuckDB over Spark's
Parquet files) and, for the record, Spark SQL itself (``spark.sql``, fewer requests).
Printed: p50/p95/p99 of each and a summary table of p95 per engine.

The requests are the dashboard's: each asks only for the measures its chart draws
(``measures=``), and the API aggregates them as declared (the host-provider top 10 recounts
distinct players from the user grain on every miss). Then ``--recounts`` (on by default)
times, one at a time with the cache off, the heaviest answers a dashboard or a script can
ask for: distinct players over the whole range from ``int_user_days``, distinct users per
event over ``fct_events`` (one row per event), and the ordered conversion funnel (on
DuckDB; ``--no-recounts`` skips them).

Phases per engine: ``miss`` (server result cache off: every request runs its query) and
``hit`` (the server's default cache, warmed by one pass of the same requests: what a
dashboard reload repeats). The hit phase reads the server's own cache counters from
``/metrics`` and prints the share of its requests really served from the cache. Both phases
use the server's default settings otherwise.

    .venv/bin/python benchmarks/bench_serve.py                    # 10M events, all engines
    .venv/bin/python benchmarks/bench_serve.py --engines duckdb   # DuckDB only
    .venv/bin/python benchmarks/bench_serve.py --dir /tmp/bench-serve   # build once, reuse
    .venv/bin/python benchmarks/bench_serve.py --events 1000000 --requests 500
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from eventlake.serve.catalog import CatalogFile
from eventlake.serve.params import MetricQuery, parse_metric_query
from eventlake.warehouse.sample import (
    build_sample_warehouse,
    copy_sample_to_postgres,
    copy_sample_to_spark,
)

ENGINES = ("duckdb", "postgres", "spark")

PLATFORMS = ["iOS", "Android", "Windows", "macOS"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _requests(n: int, days: int, seed: int) -> list[tuple[str, list[tuple[str, str]]]]:
    """Dashboard-like requests: (metric, query items)."""
    import datetime as dt

    rng = random.Random(seed)
    first = dt.date(2026, 1, 1)
    out = []
    for _ in range(n):
        a = rng.randrange(days)
        b = rng.randrange(a, days)
        rng_items = [
            ("start", (first + dt.timedelta(days=a)).isoformat()),
            ("end", (first + dt.timedelta(days=b)).isoformat()),
        ]
        if rng.random() < 0.5:
            rng_items.append(("platform", rng.choice(PLATFORMS)))
        kind = rng.randrange(4)
        if kind == 0:
            dau = [("measures", "dau"), ("measures", "wau"), ("measures", "mau")]
            out.append(("daily_active_users", [*rng_items, ("group_by", "activity_date"), *dau]))
        elif kind == 1:
            out.append(
                (
                    "revenue_daily",
                    [*rng_items, ("group_by", "activity_date"), ("measures", "revenue")],
                )
            )
        elif kind == 2:
            items = [i for i in rng_items if i[0] != "platform"]
            out.append(
                (
                    "host_providers_daily",
                    [
                        *items,
                        ("group_by", "host_provider"),
                        ("sort", "-active_users"),
                        ("limit", "10"),
                        ("measures", "active_users"),
                    ],
                )
            )
        else:
            out.append(
                (
                    "events_daily",
                    [
                        *rng_items,
                        ("group_by", "event_name"),
                        ("sort", "-events"),
                        ("measures", "events"),
                    ],
                )
            )
    return out


#: The heaviest answers: recounts over whole user grains and the funnel (whole range).
RECOUNTS = [
    ("players per platform (int_user_days)", "daily_active_users", [("group_by", "platform")]),
    ("players in range, total", "daily_active_users", [("total", "true"), ("measures", "dau")]),
    (
        "users per event name (fct_events)",
        "events_daily",
        [("group_by", "event_name"), ("measures", "users")],
    ),
    ("conversion funnel, 7-day window", "conversion_funnel", []),
    ("conversion funnel by platform", "conversion_funnel", [("group_by", "platform")]),
]


def _recounts(port: int, runs: int = 5) -> None:
    """Median and max latency of each heavy answer, one request at a time (cache off)."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        for label, metric, items in RECOUNTS:
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                r = client.get(f"/api/metrics/{metric}.json", params=items)
                times.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise RuntimeError(f"{metric} {items}: {r.status_code} {r.text[:200]}")
            print(
                f"  {label:<40} median {statistics.median(times) * 1000:8.1f} ms  "
                f"max {max(times) * 1000:8.1f} ms"
            )


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def _summary(name: str, lat: list[float], wall: float) -> dict[str, float]:
    row = {
        "p50": _pct(lat, 0.50),
        "p95": _pct(lat, 0.95),
        "p99": _pct(lat, 0.99),
        "mean": statistics.fmean(lat) * 1000,
        "rps": len(lat) / wall,
    }
    print(
        f"  {name:<28} n={len(lat):>5}  p50 {row['p50']:7.2f} ms  p95 {row['p95']:7.2f} ms  "
        f"p99 {row['p99']:7.2f} ms  {row['rps']:7.0f} req/s"
    )
    return row


async def _get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str
) -> tuple[int, bytes]:
    """One keep-alive HTTP/1.1 GET (a minimal client keeps the load generator's own CPU
    use small on a 2-core machine, where it competes with the server)."""
    writer.write(f"GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _load(
    port: int, reqs: list[tuple[str, list[tuple[str, str]]]], clients: int, time_limit: float
) -> tuple[list[float], float]:
    queue = list(reversed(reqs))
    lat: list[float] = []
    deadline = time.monotonic() + time_limit

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue and time.monotonic() < deadline:
                metric, items = queue.pop()
                target = f"/api/metrics/{metric}.json?{urlencode(items)}"
                t0 = time.perf_counter()
                status, body = await _get(reader, writer, target)
                lat.append(time.perf_counter() - t0)
                if status != 200:
                    raise RuntimeError(f"{status}: {body[:200]!r}")
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return lat, time.perf_counter() - t0


def _queries(catalog: Path, reqs: list[tuple[str, list[tuple[str, str]]]]) -> list[MetricQuery]:
    """The API's own SQL and parameters for each request (what the server runs)."""
    cat = CatalogFile(catalog).get()
    return [parse_metric_query(cat.metrics[m], items, max_limit=100_000) for m, items in reqs]


def _threaded(
    queries: list[MetricQuery],
    clients: int,
    time_limit: float,
    connect: Callable[[], Any],
    run: Callable[[Any, MetricQuery], object],
    close: Callable[[Any], object] = lambda c: None,
) -> tuple[list[float], float]:
    """Run ``queries`` from ``clients`` threads, each with its own ``connect()``."""
    queue = list(reversed(queries))
    lock = threading.Lock()
    lat: list[float] = []
    deadline = time.monotonic() + time_limit

    def worker() -> None:
        conn = connect()
        try:
            while time.monotonic() < deadline:
                with lock:
                    if not queue:
                        return
                    q = queue.pop()
                t0 = time.perf_counter()
                run(conn, q)
                took = time.perf_counter() - t0
                with lock:
                    lat.append(took)
        finally:
            close(conn)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, time.perf_counter() - t0


def _raw_duckdb(
    db: Path, queries: list[MetricQuery], clients: int, time_limit: float
) -> tuple[list[float], float]:
    """DuckDB: one read-only connection, a cursor per thread."""
    import duckdb

    conn = duckdb.connect(str(db), read_only=True)
    try:
        return _threaded(
            queries,
            clients,
            time_limit,
            conn.cursor,
            lambda cur, q: cur.execute(q.sql, list(q.params)).fetchall(),
            lambda cur: cur.close(),
        )
    finally:
        conn.close()


def _raw_postgres(
    url: str, queries: list[MetricQuery], clients: int, time_limit: float
) -> tuple[list[float], float]:
    """PostgreSQL: psycopg, one autocommit connection per thread, binary results."""
    import psycopg

    from eventlake.warehouse.postgres import qmark_to_pyformat

    def run(conn: Any, q: MetricQuery) -> object:
        with conn.cursor(binary=True) as cur:
            cur.execute(qmark_to_pyformat(q.sql), list(q.params))
            return cur.fetchall()

    return _threaded(
        queries,
        clients,
        time_limit,
        lambda: psycopg.connect(url, autocommit=True),
        run,
        lambda conn: conn.close(),
    )


def _raw_spark_reader(
    config: Any, queries: list[MetricQuery], clients: int, time_limit: float
) -> tuple[list[float], float]:
    """The Spark reader (DuckDB over Spark's Parquet files), called straight from threads."""
    from eventlake.warehouse import ReaderOptions, open_warehouse

    reader = open_warehouse(config).reader(ReaderOptions(threads=1))
    try:
        return _threaded(
            queries, clients, time_limit, lambda: None, lambda _, q: reader.execute(q.sql, q.params)
        )
    finally:
        reader.close()


def _spark_literal(value: Any) -> str:
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _spark_sql(q: MetricQuery) -> str:
    """The API's statement in Spark SQL: backquoted identifiers, parameters inlined."""
    sql = re.sub(r'"([A-Za-z_][A-Za-z0-9_]*)"', r"`\1`", q.sql)
    parts = sql.split("?")
    out = parts[0]
    for value, rest in zip(q.params, parts[1:], strict=True):
        out += _spark_literal(value) + rest
    return out


def _raw_spark_sql(
    config: Any, queries: list[MetricQuery], clients: int, time_limit: float
) -> tuple[list[float], float]:
    """Spark SQL itself: ``spark.sql(...).collect()`` from threads of one SparkSession."""
    from eventlake.warehouse.spark import spark_session

    spark = spark_session(config)
    return _threaded(
        queries, clients, time_limit, lambda: None, lambda _, q: spark.sql(_spark_sql(q)).collect()
    )


@contextlib.contextmanager
def _throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL cluster (initdb -A trust) on a free 127.0.0.1 port, removed after."""
    import pwd

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    bindir = found[0].parent if found else Path(shutil.which("initdb") or "initdb").parent
    port = _free_port()
    datadir = Path(tempfile.mkdtemp(prefix="bench-serve-pg-", dir="/tmp"))
    prefix: list[str] = []
    user = pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:  # initdb refuses root
        pg = pwd.getpwnam("postgres")
        os.chown(datadir, pg.pw_uid, pg.pw_gid)
        prefix, user = ["runuser", "-u", "postgres", "--"], "postgres"
    data = str(datadir / "d")
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-A", "trust", "-U", user, "-D", data],
        check=True,
        capture_output=True,
    )
    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={datadir}"
    ctl = [*prefix, str(bindir / "pg_ctl"), "-D", data]
    subprocess.run(
        [*ctl, "-o", opts, "-w", "-l", str(datadir / "log"), "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*ctl, "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(datadir, ignore_errors=True)


def _postgres_database(url: str) -> str:
    """A new database with C collation (text sorts by bytes, as in DuckDB)."""
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    return url.rsplit("/", 1)[0] + "/" + name


def _start_server(
    project: Path, cache_entries: int | None, warehouse: dict[str, str]
) -> tuple[subprocess.Popen[bytes], int]:
    """``eventlake serve`` on the project; ``cache_entries`` None keeps the default;
    ``warehouse``: [warehouse] settings (the engine) as environment variables."""
    port = _free_port()
    # A project folder (`eventlake serve` refuses to run outside one); paths come from env.
    (project / "eventlake.toml").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_")}
    env.update(
        EVENTLAKE_WAREHOUSE__PATH=str(project / "warehouse.duckdb"),
        EVENTLAKE_MODELS__DBT_DIR=str(project / "dbt"),
        EVENTLAKE_LAKE__PATH=str(project / "lake"),
    )
    env.update({f"EVENTLAKE_WAREHOUSE__{k.upper()}": v for k, v in warehouse.items()})
    if cache_entries is not None:
        env["EVENTLAKE_SERVE__CACHE_ENTRIES"] = str(cache_entries)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from eventlake.cli import main; main()",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(base + "/healthz", timeout=2)
            return proc, port
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("eventlake serve did not start") from None
            time.sleep(0.2)


def _cache_counts(port: int) -> tuple[int, int]:
    """(hits, misses) of the server's result cache, from its Prometheus /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("eventlake_api_cache_hits_total", "eventlake_api_cache_misses_total"):
            values[name] = int(value)
    return values["eventlake_api_cache_hits_total"], values["eventlake_api_cache_misses_total"]


def _api_phases(
    project: Path,
    warehouse: dict[str, str],
    reqs: list[tuple[str, list[tuple[str, str]]]],
    args: argparse.Namespace,
    engine: str,
) -> dict[str, dict[str, float]]:
    """The ``miss`` and ``hit`` phases against ``eventlake serve`` on one engine."""
    results: dict[str, dict[str, float]] = {}
    for phase, cache in (("miss", 0), ("hit", None)):
        proc, port = _start_server(project, cache, warehouse)
        try:
            if phase == "hit":
                asyncio.run(_load(port, reqs, args.clients, args.time_limit))  # warm the cache
                before = _cache_counts(port)
            lat, wall = asyncio.run(_load(port, reqs, args.clients, args.time_limit))
            if phase == "hit":
                after = _cache_counts(port)
                looked = sum(after) - sum(before)
                share = (after[0] - before[0]) / looked if looked else 0.0
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        label = f"API {engine}, " + ("cache off" if phase == "miss" else "cache hits")
        results[phase] = _summary(label, lat, wall)
        if phase == "hit":
            print(f"  {'':28} {share:.0%} of the hit phase's requests came from the cache")
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000, help="synthetic events")
    ap.add_argument("--users", type=int, default=20_000, help="distinct users")
    ap.add_argument("--days", type=int, default=90, help="days of history")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients")
    ap.add_argument("--requests", type=int, default=2000, help="requests per phase")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per phase, at most")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="comma-separated warehouse engines to serve from (duckdb, postgres, spark)",
    )
    ap.add_argument(
        "--postgres-url",
        default=None,
        help="a PostgreSQL server to copy the tables into (default: a throwaway cluster)",
    )
    ap.add_argument(
        "--spark-sql-requests",
        type=int,
        default=200,
        help="requests of the Spark SQL baseline (0 = skip it)",
    )
    ap.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="keep the warehouse here and reuse it in later runs (built once per size)",
    )
    ap.add_argument(
        "--no-recounts", action="store_true", help="skip the heavy single-request timings"
    )
    args = ap.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        ap.error(f"unknown engine(s) {', '.join(sorted(unknown))}: choose from {ENGINES}")

    tmp = None
    if args.dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-serve-")
        project = Path(tmp.name)
    else:
        project = args.dir
        project.mkdir(parents=True, exist_ok=True)
    db, catalog = project / "warehouse.duckdb", project / "dbt" / "metrics_catalog.json"
    marker = project / f".built-v2-{args.events}-{args.users}-{args.days}"
    if not marker.exists():
        t0 = time.perf_counter()
        counts = build_sample_warehouse(
            db, catalog, n_events=args.events, n_users=args.users, days=args.days
        )
        marker.touch()
        print(
            f"built a {args.events:,}-event warehouse in {time.perf_counter() - t0:.1f} s: "
            + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        )
    reqs = _requests(args.requests, args.days, args.seed)
    queries = _queries(catalog, reqs)
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} (shared: compare ratios)")
    print(
        f"{args.clients} concurrent clients, {args.requests} requests per phase "
        f"(bounded to {args.time_limit:.0f} s), loopback; engines: {', '.join(engines)}"
    )
    table: list[tuple[str, str, dict[str, float]]] = []
    with contextlib.ExitStack() as stack:
        for engine in engines:
            print(f"{engine}:")
            if engine == "duckdb":
                warehouse: dict[str, str] = {"backend": "duckdb"}
                raw = _summary(
                    "raw DuckDB, same SQL", *_raw_duckdb(db, queries, args.clients, args.time_limit)
                )
            elif engine == "postgres":
                server = args.postgres_url or stack.enter_context(_throwaway_postgres())
                url = _postgres_database(server)
                t0 = time.perf_counter()
                copied = copy_sample_to_postgres(db, url)
                print(
                    f"  copied {sum(copied.values()):,} metric rows into PostgreSQL in "
                    f"{time.perf_counter() - t0:.1f} s"
                )
                warehouse = {"backend": "postgres", "url": url}
                raw = _summary(
                    "raw PostgreSQL, same SQL",
                    *_raw_postgres(url, queries, args.clients, args.time_limit),
                )
            else:
                from eventlake.config import WarehouseConfig
                from eventlake.warehouse.spark import stop_spark_session

                stack.callback(stop_spark_session)
                spark_dir = project / "spark"
                shutil.rmtree(spark_dir, ignore_errors=True)
                config = WarehouseConfig(backend="spark", spark_dir=spark_dir.resolve())
                t0 = time.perf_counter()
                copied = copy_sample_to_spark(db, config)
                print(
                    f"  wrote {sum(copied.values()):,} metric rows as Spark Parquet tables in "
                    f"{time.perf_counter() - t0:.1f} s (session start included)"
                )
                warehouse = {"backend": "spark", "spark_dir": str(spark_dir.resolve())}
                raw = _summary(
                    "raw Spark reader, same SQL",
                    *_raw_spark_reader(config, queries, args.clients, args.time_limit),
                )
                if args.spark_sql_requests:
                    some = queries[: args.spark_sql_requests]
                    sql = _summary(
                        "raw Spark SQL, same SQL",
                        *_raw_spark_sql(config, some, args.clients, args.time_limit),
                    )
                    table.append(("spark", "raw Spark SQL (spark.sql)", sql))
            table.append((engine, "raw engine, same SQL", raw))
            phases = _api_phases(project, warehouse, reqs, args, engine)
            table.append((engine, "API, cache off", phases["miss"]))
            table.append((engine, "API, cache hits", phases["hit"]))
            ratio = phases["miss"]["p95"] / raw["p95"]
            print(f"  p95 ratio API (cache off) / raw {engine}: {ratio:.2f}x")
    print(f"\nsummary (load average now {os.getloadavg()[0]:.1f}):")
    print(f"  {'engine':<9} {'what':<28} {'p50':>8} {'p95':>8} {'p99':>8} {'req/s':>7}")
    for engine, what, row in table:
        print(
            f"  {engine:<9} {what:<28} {row['p50']:7.1f}ms {row['p95']:7.1f}ms "
            f"{row['p99']:7.1f}ms {row['rps']:7.0f}"
        )
    if not args.no_recounts and "duckdb" in engines:
        print(f"heavy answers on DuckDB, one at a time, cache off (load {os.getloadavg()[0]:.1f}):")
        proc, port = _start_server(project, 0, {"backend": "duckdb"})
        try:
            _recounts(port)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
