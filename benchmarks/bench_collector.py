"""Benchmark: events/s the collector makes durable, against a bare parse-only ASGI endpoint.

Both servers run as uvicorn subprocesses on 127.0.0.1 with the same settings; a bounded
load generator (raw keep-alive HTTP/1.1 over asyncio, ``--connections`` concurrent
connections, one request in flight on each) posts ``/v1/batch`` bodies of ``--batch``
events (~300 bytes each) for ``--seconds`` to each in turn. The collector's figure counts
only events whose request got 200, i.e. that are fsynced on the local bus; the baseline
endpoint reads and ``msgspec``-parses the same body and answers, nothing more.

    .venv/bin/python benchmarks/bench_collector.py                # defaults
    .venv/bin/python benchmarks/bench_collector.py --seconds 20 --connections 64 --workers 2

Prints events/s of each and the ratio collector / baseline (target: >= 100,000 events/s
and >= 0.5 on a 2-core machine).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
WRITE_KEY = "bench-key"

BARE_APP = textwrap.dedent(
    """
    import msgspec
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    OK = b'{"success":true}'

    async def batch(request):
        body = await request.body()
        msgspec.json.decode(body)
        return Response(OK, 200, media_type="application/json")

    app = Starlette(routes=[Route("/v1/batch", batch, methods=["POST"])])
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_bodies(count: int, batch: int) -> list[bytes]:
    """``count`` distinct batch bodies of ``batch`` game events (~300 bytes each)."""
    bodies = []
    for b in range(count):
        events = []
        for i in range(batch):
            events.append(
                {
                    "type": "track",
                    "event": "Level Completed",
                    "messageId": str(uuid.uuid4()),
                    "userId": f"user-{(b * batch + i) % 5000:05d}",
                    "anonymousId": f"anon-{(b * batch + i) % 7000:06d}",
                    "timestamp": "2026-11-25T01:02:03.456Z",
                    "properties": {"level": i % 40, "score": 1000 + i, "duration_seconds": 61.5},
                    "context": {
                        "library": {"name": "eventlake-tracker", "version": "0.1.0"},
                        "os": {"name": "iOS"},
                        "locale": "en-US",
                    },
                }
            )
        bodies.append(msgspec.json.encode({"batch": events, "sentAt": "2026-11-25T01:02:04.000Z"}))
    return bodies


async def _client(
    port: int, requests: list[bytes], deadline: float, counts: list[int], batch: int
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    try:
        while time.perf_counter() < deadline:
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if status == 200:
                counts[0] += batch
            else:
                counts[1] += 1
    finally:
        writer.close()


async def _load(port: int, bodies: list[bytes], seconds: float, conns: int, batch: int) -> tuple:
    auth = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    requests = [
        (
            f"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Basic {auth}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]
    counts = [0, 0]
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(_client(port, requests, deadline, counts, batch) for _ in range(conns)))
    return counts[0], counts[1], time.perf_counter() - start


def run_load(port: int, bodies: list[bytes], seconds: float, conns: int, batch: int) -> tuple:
    try:
        import uvloop

        return uvloop.run(_load(port, bodies, seconds, conns, batch))
    except ImportError:
        return asyncio.run(_load(port, bodies, seconds, conns, batch))


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not start within {timeout} s")


def start(cmd: list[str], port: int, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL)
    wait_ready(port, proc)
    return proc


def count_bus_records(path: Path) -> int:
    """Events in topic ``events`` of the local bus at ``path`` (checks what was acked)."""
    from eventlake.bus.local import LocalConsumer
    from eventlake.bus.records import record_rows

    consumer = LocalConsumer(path, "bench-verify", ["events"])
    total = 0
    try:
        while records := consumer.poll(1_000_000, 0.1):
            total += sum(record_rows(r.value) for r in records)
    finally:
        consumer.close()
    return total


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=12.0, help="load duration per server")
    ap.add_argument(
        "--rounds", type=int, default=4, help="alternating windows per server (noise control)"
    )
    ap.add_argument("--connections", type=int, default=32, help="concurrent client connections")
    ap.add_argument("--batch", type=int, default=100, help="events per request")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn workers of each server")
    ap.add_argument(
        "--commit-threads", type=int, default=4, help="collect.commit_threads of the collector"
    )
    ap.add_argument("--bus-partitions", type=int, default=4, help="bus.partitions of the local bus")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()

    bodies = make_bodies(64, args.batch)
    avg_event = (sum(map(len, bodies)) / len(bodies)) / args.batch
    python = sys.executable
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_")}
    env["PYTHONPATH"] = str(ROOT)
    with tempfile.TemporaryDirectory(prefix="bench-collector-") as tmp:
        work = Path(tmp)
        (work / "bare_app.py").write_text(BARE_APP)
        (work / "eventlake.toml").write_text(
            f'[collect]\nwrite_keys = {{ "{WRITE_KEY}" = "bench" }}\n'
            f"commit_threads = {args.commit_threads}\n"
            f'[bus]\npath = "{work / "bus"}"\npartitions = {args.bus_partitions}\n'
            '[spec]\ntracking_plan = "tracking-plan.yaml"\n'
        )
        (work / "tracking-plan.yaml").write_text(
            (ROOT / "eventlake/templates/tracking-plan.yaml").read_text()
        )
        uv_opts = [
            "--log-level",
            "warning",
            "--no-access-log",
            "--no-proxy-headers",
            "--workers",
            str(args.workers),
        ]

        bare_port, port = free_port(), free_port()
        bare = start(
            [python, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port), *uv_opts],
            bare_port,
            env | {"PYTHONPATH": f"{work}:{ROOT}"},
            work,
        )
        collector = None
        try:
            collector = start(
                [
                    python,
                    "-c",
                    "from eventlake.cli import main; main()",
                    "collect",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                    "--workers",
                    str(args.workers),
                ],
                port,
                env | {"EVENTLAKE_CONFIG": str(work / "eventlake.toml")},
                work,
            )
            for p in (bare_port, port):  # warm-up
                run_load(p, bodies, 1.0, args.connections, args.batch)
            # Alternate short windows so both servers see the same (shared, noisy) machine.
            base_events = base_errors = events = errors = 0
            base_secs = secs = 0.0
            window = args.seconds / args.rounds
            for _ in range(args.rounds):
                n, e, t = run_load(bare_port, bodies, window, args.connections, args.batch)
                base_events, base_errors, base_secs = (
                    base_events + n,
                    base_errors + e,
                    base_secs + t,
                )
                n, e, t = run_load(port, bodies, window, args.connections, args.batch)
                events, errors, secs = events + n, errors + e, secs + t
        finally:
            stop(bare)
            if collector is not None:
                stop(collector)
        on_bus = count_bus_records(work / "bus")
        if on_bus < events:  # the warm-up's events are on the bus too, hence "<"
            raise SystemExit(f"only {on_bus} events on the bus for {events} acknowledged events")

    base_rate = base_events / base_secs
    rate = events / secs
    result = {
        "collector_events_per_s": round(rate),
        "baseline_events_per_s": round(base_rate),
        "ratio": round(rate / base_rate, 3) if base_rate else None,
        "collector_non_200": errors,
        "events_on_bus": on_bus,
        "baseline_non_200": base_errors,
        "batch": args.batch,
        "avg_event_bytes": round(avg_event),
        "connections": args.connections,
        "workers": args.workers,
        "commit_threads": args.commit_threads,
        "bus_partitions": args.bus_partitions,
        "seconds": args.seconds,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"collector (durable on the local bus): {rate:,.0f} events/s "
        f"({errors} non-200 replies; {on_bus:,} events on the bus incl. warm-up)\n"
        f"bare parse-only ASGI endpoint:        {base_rate:,.0f} events/s\n"
        f"ratio collector / baseline:           {result['ratio']}\n"
        f"({args.batch} events of ~{avg_event:.0f} bytes per request, {args.connections} "
        f"connections, {args.workers} worker(s), {args.seconds:.0f} s each)"
    )


if __name__ == "__main__":
    main()
