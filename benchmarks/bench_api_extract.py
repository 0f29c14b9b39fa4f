"""Benchmark: REST API extraction, eventlake's parallel source vs a sequential script.

Starts the pinball example API in its own process with a fixed latency per request (default
50 ms), then extracts players, tournaments and every tournament's results (one page each:
a few thousand pages) twice in the same run:

- sequential: one request at a time with httpx, like a linear extraction script;
- eventlake: ``run_api_source`` with its rate limit and concurrency (lake + warehouse).

Prints both times, the ratio, and the most requests the server saw in any one-second window
during the eventlake run (must not exceed the rate limit). Not a test.

    .venv/bin/python benchmarks/bench_api_extract.py [--tournaments 2000] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
PINBALL = ROOT / "examples" / "pinball"


@contextlib.contextmanager
def api_server(args: argparse.Namespace) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        str(PINBALL / "pinball_api.py"),
        "--port",
        str(port),
        "--players",
        str(args.players),
        "--tournaments",
        str(args.tournaments),
        "--latency-ms",
        str(args.latency_ms),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{url}/_admin/stats", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def sequential(url: str, page: int) -> tuple[int, int]:
    """The linear-script way: one request after the other. Returns (requests, rows)."""
    rows: list[dict[str, Any]] = []
    n = 0
    with httpx.Client(base_url=url, timeout=30) as c:
        p = 1
        while True:
            body = c.get("/page/players", params={"page": p, "per_page": page}).json()
            n += 1
            rows += body["data"]
            if p >= body["meta"]["total_pages"]:
                break
            p += 1
        tournaments: list[dict[str, Any]] = []
        off = 0
        while True:
            body = c.get("/offset/tournaments", params={"offset": off, "limit": page}).json()
            n += 1
            tournaments += body["data"]
            off += page
            if off >= body["total"]:
                break
        rows += tournaments
        for t in tournaments:
            cursor = None
            while True:
                params: dict[str, Any] = {"limit": page}
                if cursor:
                    params["cursor"] = cursor
                path = f"/cursor/tournaments/{t['tournament_id']}/results"
                body = c.get(path, params=params).json()
                n += 1
                rows += body["data"]
                cursor = body["next_cursor"]
                if not cursor:
                    break
    return n, len(rows)


def parallel(url: str, args: argparse.Namespace, work: Path) -> tuple[int, int, float]:
    from eventlake.config import load_config
    from eventlake.sources.api import run_api_source

    d = yaml.safe_load((PINBALL / "pinball.yaml").read_text())
    d.update(base_url=url, rate_limit=args.rate_limit, concurrency=args.concurrency)
    for res in d["resources"].values():
        res["pagination"]["size"] = args.page_size
    (work / "pinball.yaml").write_text(yaml.safe_dump(d))
    (work / "eventlake.toml").write_text(
        '[lake]\npath = "lake"\n[warehouse]\npath = "wh.duckdb"\n'
        '[sources.api.pinball]\ndefinition = "pinball.yaml"\n'
    )
    settings = load_config(work / "eventlake.toml")
    t0 = time.perf_counter()
    result = run_api_source(settings, "pinball")
    seconds = time.perf_counter() - t0
    if not result.ok:
        raise SystemExit(f"eventlake run failed: {[r.error for r in result.resources]}")
    print(
        f"  (eventlake: extract + lake {result.extract_seconds:.1f} s, warehouse load "
        f"{result.seconds - result.extract_seconds:.1f} s)"
    )
    return result.requests, sum(result.loaded.values()), seconds


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best = lo = 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--tournaments", type=int, default=2000, help="one results page each")
    ap.add_argument("--players", type=int, default=2000)
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--rate-limit", type=float, default=400.0, help="requests/s (eventlake)")
    ap.add_argument("--concurrency", type=int, default=48)
    a = ap.parse_args()
    with api_server(a) as url, tempfile.TemporaryDirectory() as tmp:
        httpx.post(f"{url}/_admin/reset")
        t0 = time.perf_counter()
        seq_requests, seq_rows = sequential(url, a.page_size)
        seq = time.perf_counter() - t0
        print(
            f"sequential: {seq_requests} requests, {seq_rows} rows in {seq:.1f} s "
            f"({seq_requests / seq:.1f} req/s)",
            flush=True,
        )
        httpx.post(f"{url}/_admin/reset")
        par_requests, par_rows, par = parallel(url, a, Path(tmp))
        stats = httpx.get(f"{url}/_admin/stats").json()
    peak = max_in_window(stats["times"])
    print(
        f"eventlake:  {par_requests} requests, {par_rows} rows (lake + warehouse) in "
        f"{par:.1f} s ({par_requests / par:.1f} req/s; rate limit {a.rate_limit:g}/s, "
        f"peak {peak} requests in one second, concurrency {a.concurrency})"
    )
    print(
        f"ratio: eventlake is {seq / par:.1f}x faster than sequential "
        f"({'rate limit respected' if peak <= a.rate_limit else 'RATE LIMIT EXCEEDED'})"
    )


if __name__ == "__main__":
    main()
