"""Benchmark: metric API latency under concurrent clients vs the raw DuckDB query time.

Builds a synthetic warehouse shaped like the metrics models from N game events (default
10M, DuckDB SQL, ``eventlake.warehouse.sample``), starts ``eventlake serve`` as a subprocess on
a free 127.0.0.1 port, and sends a bounded number of dashboard-like requests (random date
ranges, platform filters, group-by, top-N) from C concurrent clients. The baseline runs the
very same SQL and parameters straight on DuckDB (read-only connection, one cursor per
thread) at the same concurrency. Printed: p50/p95/p99 of each and the p95 ratio.

Phases: ``miss`` (server result cache off: every request runs its query) and ``hit`` (the
server's default cache, warmed by one pass of the same requests: what a dashboard reload
repeats). The hit phase reads the server's own cache counters from ``/metrics`` and prints the
share of its requests that were really served from the cache. Both phases use the server's
default settings otherwise.

    .venv/bin/python benchmarks/bench_serve.py                    # 10M events, 16 clients
    .venv/bin/python benchmarks/bench_serve.py --dir /tmp/bench-serve   # build once, reuse
    .venv/bin/python benchmarks/bench_serve.py --events 1000000 --requests 500
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

from eventlake.serve.catalog import CatalogFile
from eventlake.serve.params import parse_metric_query
from eventlake.warehouse.sample import build_sample_warehouse

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
            out.append(("daily_active_users", [*rng_items, ("group_by", "activity_date")]))
        elif kind == 1:
            out.append(("revenue_daily", [*rng_items, ("group_by", "activity_date")]))
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
                    ],
                )
            )
        else:
            out.append(
                ("events_daily", [*rng_items, ("group_by", "event_name"), ("sort", "-events")])
            )
    return out


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


def _raw(
    db: Path,
    catalog: Path,
    reqs: list[tuple[str, list[tuple[str, str]]]],
    clients: int,
    time_limit: float,
) -> tuple[list[float], float]:
    import duckdb

    cat = CatalogFile(catalog).get()
    queries = [parse_metric_query(cat.metrics[m], items, max_limit=100_000) for m, items in reqs]
    conn = duckdb.connect(str(db), read_only=True)
    queue = list(reversed(queries))
    lock = threading.Lock()
    lat: list[float] = []
    deadline = time.monotonic() + time_limit

    def worker() -> None:
        cur = conn.cursor()
        while time.monotonic() < deadline:
            with lock:
                if not queue:
                    return
                q = queue.pop()
            t0 = time.perf_counter()
            cur.execute(q.sql, list(q.params)).fetchall()
            dt_ = time.perf_counter() - t0
            with lock:
                lat.append(dt_)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    conn.close()
    return lat, wall


def _start_server(project: Path, cache_entries: int | None) -> tuple[subprocess.Popen[bytes], int]:
    """``eventlake serve`` on the project; ``cache_entries`` None keeps the default."""
    port = _free_port()
    # A project folder (`eventlake serve` refuses to run outside one); paths come from env.
    (project / "eventlake.toml").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_")}
    env.update(
        EVENTLAKE_WAREHOUSE__PATH=str(project / "warehouse.duckdb"),
        EVENTLAKE_MODELS__DBT_DIR=str(project / "dbt"),
        EVENTLAKE_LAKE__PATH=str(project / "lake"),
    )
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
        "--dir",
        type=Path,
        default=None,
        help="keep the warehouse here and reuse it in later runs (built once per size)",
    )
    args = ap.parse_args(argv)

    tmp = None
    if args.dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-serve-")
        project = Path(tmp.name)
    else:
        project = args.dir
        project.mkdir(parents=True, exist_ok=True)
    db, catalog = project / "warehouse.duckdb", project / "dbt" / "metrics_catalog.json"
    marker = project / f".built-{args.events}-{args.users}-{args.days}"
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
    results: dict[str, dict[str, float]] = {}
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} (shared: compare ratios)")
    print(
        f"{args.clients} concurrent clients, {args.requests} requests per phase "
        f"(bounded to {args.time_limit:.0f} s), loopback"
    )
    lat, wall = _raw(db, catalog, reqs, args.clients, args.time_limit)
    results["raw"] = _summary("raw DuckDB, same SQL", lat, wall)
    hit_share = 0.0
    for phase, cache in (("miss", 0), ("hit", None)):
        proc, port = _start_server(project, cache)
        try:
            if phase == "hit":
                asyncio.run(_load(port, reqs, args.clients, args.time_limit))  # warm the cache
                before = _cache_counts(port)
            lat, wall = asyncio.run(_load(port, reqs, args.clients, args.time_limit))
            if phase == "hit":
                after = _cache_counts(port)
                looked = sum(after) - sum(before)
                hit_share = (after[0] - before[0]) / looked if looked else 0.0
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        label = "API, cache off (every query)" if phase == "miss" else "API, cache hits"
        results[phase] = _summary(label, lat, wall)
    print(f"  hit phase: {hit_share:.0%} of its requests were served from the server's cache")
    raw95 = results["raw"]["p95"]
    met = {p: "met" if results[p]["p95"] <= 50 else "NOT met" for p in ("miss", "hit")}
    print(
        f"p95 ratio API/raw DuckDB: cache off {results['miss']['p95'] / raw95:.2f}x, "
        f"cache hits {results['hit']['p95'] / raw95:.2f}x "
        f"(target p95 <= 50 ms: cache off {met['miss']}, cache hits {met['hit']}; "
        f"load average now {os.getloadavg()[0]:.1f})"
    )
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
