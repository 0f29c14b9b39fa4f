"""Benchmark freshness end to end: collector 200 -> the first metrics API answer reflecting it.

``eventlake up`` on the embedded defaults (local bus, local lake, DuckDB) over a warehouse
with a generated history (10M events over 30 days by default), while client processes
send Segment batches through the collector at a sustained rate and a marker thread sends
one marker event (``track`` "Freshness Marker", one player, so markers keep their order)
every ``--marker-interval`` seconds and polls the data API for it
(``/api/metrics/events_daily.json?event_name=Freshness Marker&total=true``: the count of
markers the published warehouse holds). A marker's freshness = the first API answer whose
count includes it minus the moment its 200 arrived (the API is polled every
``--poll`` seconds, which bounds the error).

    # once: generate the history and build it (minutes), kept in --dir for every run
    .venv/bin/python benchmarks/bench_freshness.py --dir /tmp/fresh-history --prepare
    # the measurement: 3 minutes at 20,000 events/s, then the step-up search
    .venv/bin/python benchmarks/bench_freshness.py --dir /tmp/fresh-history \\
        --rate 20000 --duration 180 --steps 40000,60000,80000,100000,120000 --step-seconds 60

Each run works on a copy of ``--dir`` (the lake hard-linked: its files never change; the
bus, the warehouse and the dbt folder copied), so every run starts from the same history.
Before measuring, a warm-up sends a little traffic until two builds have published (the
first runs of a copied warehouse copy it once into the second generation file).

The step-up search runs each rate for ``--step-seconds`` and calls the lag *bounded* when
the clients reached 95% of the rate, every marker of the step was seen, and the markers of
the step's second half are not fresher-than-bounded: their p95 is at most the first half's
p95 + ``--growth`` seconds, and no marker waited more than a quarter of the step (else
both halves wait for the same few builds and their p95s cannot show growth). The highest
bounded rate is printed. The lander's lag (bus records not yet in the lake, read from
serve's ``/healthz`` every second and counted in events: the clients send ``BATCH_EVENTS``
per record) is judged apart: it is *bounded* when the clients reached 95% of the rate and
the largest lag of the step's second half exceeds the first half's by at most
``--lag-growth`` (5%) of the events sent in a half: the lander landed at least 95% of what
arrived meanwhile, so the lag does not grow with time. The search goes on while either
stays bounded, and prints the highest rate of each: freshness bounded (the builds keep up)
and lander lag bounded (collect and land keep up, on the same cores as the builds).
Printed too: the machine's load average before and after (the machine may be shared),
every setting that differs from the defaults, the builds' durations and how each prepared
its generation (caught up or copied, from the build child's log), and the collector's
503s.
Not a test: numbers are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import math
import multiprocessing as mp
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WRITE_KEY = "dev-write-key"
MARKER = "Freshness Marker"
BATCH_EVENTS = 500  # events per request: ~170 KB, under Segment's 500 KB
NAMES = ["Level Started", "Level Completed", "Level Failed", "Session Started"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _eventlake(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("eventlake")
    return subprocess.run([str(exe), *args], cwd=cwd, check=check, text=True, capture_output=True)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# -- preparing the history ------------------------------------------------------------------


def prepare(folder: Path, users: int, days: int) -> None:
    """Generate ``users`` players over ``days`` days into a project in ``folder`` and build
    it (landed, warehouse built, bus compacted)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "eventlake.toml").exists():
        _eventlake("init", str(folder), cwd=folder)
    started = time.perf_counter()
    print(f"generating {users:,} players x {days} days into {folder} (load {_load()})")
    gen = _eventlake("generate", "--users", str(users), "--days", str(days), "--json", cwd=folder)
    print(gen.stdout.strip())
    print("landing and building the history (a full build: minutes)")
    run = _eventlake("run", "--json", cwd=folder)
    result = json.loads(run.stdout)
    print(f"built: {result['landed']:,} events landed, {result['seconds']:.0f} s")
    _eventlake("bus", "compact", cwd=folder)
    (folder / ".bench-freshness").write_text(
        json.dumps({"users": users, "days": days, "events": result["landed"]}), "utf-8"
    )
    print(f"prepared in {time.perf_counter() - started:.0f} s (load {_load()})")


def clone(history: Path, work: Path) -> None:
    """A working copy of the prepared project: the lake hard-linked, the rest copied."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name in ("eventlake.toml", "tracking-plan.yaml", "exchange-rates.csv"):
        if (history / name).exists():
            shutil.copy2(history / name, work / name)
    data, out = history / "data", work / "data"
    out.mkdir()
    subprocess.run(["cp", "-al", str(data / "lake"), str(out / "lake")], check=True)
    for name in ("bus", "dbt", "pipeline"):
        if (data / name).exists():
            shutil.copytree(data / name, out / name, symlinks=True)
    # the published warehouse, as one plain file (its generations are made from it)
    shutil.copyfile(data / "warehouse.duckdb", out / "warehouse.duckdb")


# -- the clients ----------------------------------------------------------------------------


def _auth() -> str:
    return "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()


def _batch_body(prefix: str, first: int, n: int, now: str, users: int) -> bytes:
    context = '"context":{"os":{"name":"iOS"},"app":{"version":"1.4.0"},"locale":"en-US"}'
    parts = [
        f'{{"type":"track","event":"{NAMES[i % 4]}","userId":"bench-{i % users}",'
        f'"messageId":"{prefix}-{i}","timestamp":"{now}","properties":{{"level":{i % 60}}},'
        f"{context}}}"
        for i in range(first, first + n)
    ]
    return ('{"batch":[' + ",".join(parts) + '],"sentAt":"' + now + '"}').encode()


def client(
    port: int, rate: float, until: float, prefix: str, out: Any, users: int = 20_000
) -> None:
    """Send ``rate`` events/s until ``until`` (monotonic), in batches; report counts."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": _auth()}
    sent = refused = errors = 0
    n = 0
    start = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= until:
            break
        due = start + sent / rate
        if due > now:
            time.sleep(min(due - now, until - now))
            continue
        stamp = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        body = _batch_body(prefix, n, BATCH_EVENTS, stamp, users)
        try:
            conn.request("POST", "/v1/batch", body, headers)
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            time.sleep(0.1)
            continue
        if resp.status == 200:
            sent += BATCH_EVENTS
            n += BATCH_EVENTS
        elif resp.status == 503:
            refused += 1
            time.sleep(float(resp.getheader("Retry-After") or 1))
        else:
            errors += 1
    out.put({"sent": sent, "refused": refused, "errors": errors, "seconds": until - start})


@dataclass
class Markers:
    """Markers sent (their 200 times) and when the API first showed each."""

    acked: list[float] = field(default_factory=list)
    seen: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def freshness(self, since: float = 0.0, until: float = float("inf")) -> list[float]:
        with self.lock:
            return [
                self.seen[i] - t
                for i, t in enumerate(self.acked)
                if since <= t < until and i in self.seen
            ]


@dataclass
class LagSamples:
    """The lander's lag over time, in events: (monotonic time, events) once a second."""

    samples: list[tuple[float, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def largest(self, since: float, until: float) -> float:
        with self.lock:
            values = [v for t, v in self.samples if since <= t < until]
        return max(values) if values else float("nan")


def sample_lag(port: int, lags: LagSamples, stop: threading.Event) -> None:
    """Read ``lander.lag_records`` from serve's /healthz every second (records x
    ``BATCH_EVENTS`` = events: the markers' one-event records are negligible)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.wait(1.0):
        try:
            conn.request("GET", "/healthz")
            body = json.loads(conn.getresponse().read())
        except (OSError, http.client.HTTPException, ValueError):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        records = (body.get("lander") or {}).get("lag_records")
        if records is not None:
            with lags.lock:
                lags.samples.append((time.monotonic(), float(records) * BATCH_EVENTS))


def send_markers(
    port: int, markers: Markers, interval: float, stop: threading.Event, prefix: str
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": _auth()}
    i = 0
    while not stop.wait(interval):
        stamp = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        event = {
            "type": "track",
            "event": MARKER,
            "userId": "freshness-marker",
            "messageId": f"{prefix}-marker-{i}",
            "timestamp": stamp,
        }
        body = json.dumps({"batch": [event], "sentAt": stamp}).encode()
        try:
            conn.request("POST", "/v1/batch", body, headers)
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        if resp.status == 200:
            with markers.lock:
                markers.acked.append(time.monotonic())
            i += 1


def _marker_count(conn: http.client.HTTPConnection) -> int | None:
    today = dt.datetime.now(dt.UTC).date()
    query = urllib.parse.urlencode(
        {
            "start": (today - dt.timedelta(days=1)).isoformat(),
            "end": (today + dt.timedelta(days=1)).isoformat(),
            "event_name": MARKER,
            "total": "true",
            "measures": "events",
        }
    )
    conn.request("GET", f"/api/metrics/events_daily.json?{query}")
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        return None
    rows = json.loads(data)["rows"]
    return int(rows[0]["events"] or 0) if rows else 0


def poll_markers(
    port: int, markers: Markers, interval: float, stop: threading.Event, base: int
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.wait(interval):
        try:
            count = _marker_count(conn)
        except (OSError, http.client.HTTPException, ValueError):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        if count is None:
            continue
        now = time.monotonic()
        with markers.lock:
            for i in range(min(count - base, len(markers.acked))):
                markers.seen.setdefault(i, now)


# -- one measured phase ---------------------------------------------------------------------


@dataclass
class Phase:
    rate: float
    seconds: float
    sent: int = 0
    refused: int = 0
    errors: int = 0
    fresh: list[float] = field(default_factory=list)
    first_half: list[float] = field(default_factory=list)
    second_half: list[float] = field(default_factory=list)
    unseen: int = 0
    lag_first: float = float("nan")
    lag_second: float = float("nan")
    lag_end: float = float("nan")

    @property
    def achieved(self) -> float:
        return self.sent / self.seconds

    @property
    def reached(self) -> bool:
        """The clients sent at least 95% of the target rate."""
        return self.achieved >= 0.95 * self.rate

    def lag_bounded(self, growth: float) -> bool:
        """The lander kept up: its largest lag grew from the first half to the second by
        at most ``growth`` of the events sent in a half."""
        if not self.reached or math.isnan(self.lag_second):
            return False
        return self.lag_second - self.lag_first <= growth * self.rate * self.seconds / 2

    def bounded(self, growth: float) -> bool:
        """The builds kept up: every marker seen, the second half's p95 within ``growth``
        seconds of the first half's, and no marker older than a quarter of the phase (a
        phase shorter than that holds too few builds to tell growth from one long build:
        both halves' markers would wait for the same build)."""
        if not self.reached or self.unseen:
            return False
        if not self.first_half or not self.second_half:
            return False
        if max(self.first_half + self.second_half) > self.seconds / 4:
            return False
        return _p(self.second_half, 95) <= _p(self.first_half, 95) + growth


def _p(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(pct / 100 * (len(ordered) - 1)))))
    return ordered[k]


def run_phase(
    collect_port: int,
    markers: Markers,
    rate: float,
    seconds: float,
    clients: int,
    tag: str,
    settle: float,
    lags: LagSamples | None = None,
) -> Phase:
    """Send ``rate`` events/s for ``seconds`` from ``clients`` processes; then wait up to
    ``settle`` s for the phase's markers."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start = time.monotonic()
    until = start + seconds
    procs = [
        ctx.Process(
            target=client,
            args=(collect_port, rate / clients, until, f"{tag}-c{k}", out),
            daemon=True,
        )
        for k in range(clients)
    ]
    for p in procs:
        p.start()
    reports = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    # the phase's markers: sent between start and until; wait for them to be seen
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        with markers.lock:
            pending = [
                i
                for i, t in enumerate(markers.acked)
                if start <= t < until and i not in markers.seen
            ]
        if not pending:
            break
        time.sleep(0.5)
    phase = Phase(rate, seconds)
    mid = start + seconds / 2
    if lags is not None:
        phase.lag_first = lags.largest(start, mid)
        phase.lag_second = lags.largest(mid, until)
        phase.lag_end = lags.largest(until - 2.0, until)
    phase.sent = sum(r["sent"] for r in reports)
    phase.refused = sum(r["refused"] for r in reports)
    phase.errors = sum(r["errors"] for r in reports)
    phase.fresh = markers.freshness(start, until)
    phase.first_half = markers.freshness(start, mid)
    phase.second_half = markers.freshness(mid, until)
    with markers.lock:
        phase.unseen = sum(
            1 for i, t in enumerate(markers.acked) if start <= t < until and i not in markers.seen
        )
    return phase


def _print_phase(label: str, ph: Phase, growth: float, lag_growth: float) -> None:
    print(
        f"{label:<6} target {ph.rate:>8,.0f}/s  sent {ph.achieved:>8,.0f}/s  "
        f"503s {ph.refused:>4}  "
        f"errors {ph.errors:>3}  markers {len(ph.fresh):>4} (+{ph.unseen} unseen)  freshness "
        f"p50 {_p(ph.fresh, 50):6.2f} s  p95 {_p(ph.fresh, 95):6.2f} s  "
        f"max {max(ph.fresh, default=float('nan')):6.2f} s  "
        f"halves p95 {_p(ph.first_half, 95):6.2f} -> {_p(ph.second_half, 95):6.2f} s  "
        f"{'bounded' if ph.bounded(growth) else 'NOT bounded'}",
        flush=True,
    )
    print(
        f"{'':<6} lander lag (events): largest in the first half {ph.lag_first:,.0f}, "
        f"second half {ph.lag_second:,.0f}, at the end {ph.lag_end:,.0f}  "
        f"{'bounded' if ph.lag_bounded(lag_growth) else 'NOT bounded'}",
        flush=True,
    )


# -- the run --------------------------------------------------------------------------------


def _wait_http(port: int, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.5)
    raise SystemExit(f"nothing answered on 127.0.0.1:{port}{path} within {timeout:.0f} s")


_BUILD = re.compile(r"run \S+ ok in ([\d.]+) s")
_GEN = re.compile(
    r"warehouse generation \S+ (caught up|copied|created) for version \d+ in ([\d.]+) s"
)


def summarise_log(log: Path) -> None:
    text = log.read_text("utf-8", "replace") if log.exists() else ""
    builds = [float(m.group(1)) for m in _BUILD.finditer(text)]
    gens: dict[str, list[float]] = {}
    for m in _GEN.finditer(text):
        gens.setdefault(m.group(1), []).append(float(m.group(2)))
    if builds:
        print(
            f"builds: {len(builds)}, seconds p50 {statistics.median(builds):.2f}, "
            f"p95 {_p(builds, 95):.2f}, max {max(builds):.2f}"
        )
    for how, secs in sorted(gens.items()):
        print(
            f"generations {how}: {len(secs)}, seconds p50 {statistics.median(secs):.2f}, "
            f"max {max(secs):.2f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dir", type=Path, required=True, help="the prepared history (a project)")
    ap.add_argument("--prepare", action="store_true", help="generate and build the history")
    ap.add_argument("--users", type=int, default=50_000, help="players (~200 events each)")
    ap.add_argument("--days", type=int, default=30, help="days of history")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: DIR.run)")
    ap.add_argument("--rate", type=float, default=20_000, help="events/s of the main phase")
    ap.add_argument("--duration", type=float, default=180, help="seconds of the main phase")
    ap.add_argument(
        "--steps",
        default="40000,60000,80000,100000,120000,140000",
        help="rates of the step-up search ('' for none)",
    )
    ap.add_argument("--step-seconds", type=float, default=60, help="seconds per step")
    ap.add_argument(
        "--growth",
        type=float,
        default=5.0,
        help="bounded: second-half p95 <= first-half p95 + this (s)",
    )
    ap.add_argument(
        "--lag-growth",
        type=float,
        default=0.05,
        help="lander lag bounded: the second half's largest lag exceeds the first half's "
        "by at most this share of the events sent in a half",
    )
    ap.add_argument("--clients", type=int, default=2, help="client processes")
    ap.add_argument("--marker-interval", type=float, default=0.5, help="seconds between markers")
    ap.add_argument("--poll", type=float, default=0.1, help="seconds between API polls")
    ap.add_argument(
        "--land-age",
        type=float,
        default=None,
        help="land.max_age_seconds (default: the project's, 5 s; model runs ask the lander "
        "to land its open batch, so this no longer sets freshness)",
    )
    ap.add_argument(
        "--min-interval",
        type=float,
        default=None,
        help="schedule.models_min_interval (default: the project's, 5 s)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()

    history = args.dir.resolve()
    if args.prepare or not (history / ".bench-freshness").exists():
        prepare(history, args.users, args.days)
        if args.prepare:
            return
    info = json.loads((history / ".bench-freshness").read_text("utf-8"))
    work = (args.work or history.with_name(history.name + ".run")).resolve()
    print(f"history: {info['events']:,} events, {info['users']:,} players, {info['days']} days")
    print(f"load average before: {_load()}  ({os.cpu_count()} cores)")
    t0 = time.perf_counter()
    clone(history, work)
    print(f"cloned into {work} in {time.perf_counter() - t0:.1f} s")
    collect_port, serve_port = _free_port(), _free_port()
    overrides = {
        "EVENTLAKE_COLLECT__HOST": "127.0.0.1",
        "EVENTLAKE_COLLECT__PORT": str(collect_port),
        "EVENTLAKE_SERVE__HOST": "127.0.0.1",
        "EVENTLAKE_SERVE__PORT": str(serve_port),
    }
    if args.land_age is not None:
        overrides["EVENTLAKE_LAND__MAX_AGE_SECONDS"] = str(args.land_age)
    if args.min_interval is not None:
        overrides["EVENTLAKE_SCHEDULE__MODELS_MIN_INTERVAL"] = str(args.min_interval)
    print(
        "settings besides the project's defaults: "
        + " ".join(f"{k}={v}" for k, v in overrides.items())
    )
    log_path = work.with_name(work.name + ".up.log")
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115
    up = subprocess.Popen(
        [str(Path(sys.executable).with_name("eventlake")), "up"],
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **overrides},
    )
    markers = Markers()
    stop = threading.Event()
    try:
        _wait_http(collect_port, "/healthz", 120)
        _wait_http(serve_port, "/healthz", 120)
        tag = f"b{int(time.time())}"
        sender = threading.Thread(
            target=send_markers,
            args=(collect_port, markers, args.marker_interval, stop, tag),
            daemon=True,
        )
        poller = threading.Thread(
            target=poll_markers, args=(serve_port, markers, args.poll, stop, 0), daemon=True
        )
        lags = LagSamples()
        sampler = threading.Thread(target=sample_lag, args=(serve_port, lags, stop), daemon=True)
        sender.start()
        poller.start()
        sampler.start()
        # warm-up: a little traffic until markers are seen after two builds published
        t0 = time.monotonic()
        run_phase(collect_port, markers, 1000, 20, 1, tag + "-warm", settle=600)
        # ... and until a build caught a generation up (the steady state), sending a trickle
        deadline = time.monotonic() + 900
        while "caught up" not in log_path.read_text("utf-8", "replace"):
            if time.monotonic() > deadline:
                raise SystemExit(f"no generation caught up after the warm-up: see {log_path}")
            run_phase(collect_port, markers, 500, 5, 1, f"{tag}-warm{int(time.monotonic())}", 0)
        warm = markers.freshness()
        print(
            f"warm-up: {time.monotonic() - t0:.0f} s, markers seen {len(warm)} "
            f"(freshness max {max(warm, default=float('nan')):.1f} s: first builds copy "
            "the history into the second generation)",
            flush=True,
        )
        summarise_log(log_path)
        phases: list[tuple[str, Phase]] = []
        main_phase = run_phase(
            collect_port,
            markers,
            args.rate,
            args.duration,
            args.clients,
            tag + "-main",
            settle=120,
            lags=lags,
        )
        _print_phase("main", main_phase, args.growth, args.lag_growth)
        phases.append(("main", main_phase))
        best = args.rate if main_phase.bounded(args.growth) else None
        best_lag = args.rate if main_phase.lag_bounded(args.lag_growth) else None
        fresh_on, lag_on = best is not None, best_lag is not None
        steps = [float(s) for s in args.steps.split(",") if s.strip()]
        for rate in steps:
            if not (fresh_on or lag_on):
                break
            ph = run_phase(
                collect_port,
                markers,
                rate,
                args.step_seconds,
                args.clients,
                f"{tag}-s{int(rate)}",
                # markers of an unbounded freshness are not waited for long
                settle=60 if fresh_on else 5,
                lags=lags,
            )
            _print_phase("step", ph, args.growth, args.lag_growth)
            phases.append(("step", ph))
            fresh_on = fresh_on and ph.bounded(args.growth)
            lag_on = lag_on and ph.lag_bounded(args.lag_growth)
            if fresh_on:
                best = rate
            if lag_on:
                best_lag = rate
        print()
        print(f"load average after: {_load()}")
        summarise_log(log_path)
        print(
            f"main phase {args.rate:,.0f} events/s for {args.duration:.0f} s: freshness "
            f"p50 {_p(main_phase.fresh, 50):.2f} s, p95 {_p(main_phase.fresh, 95):.2f} s, "
            f"max {max(main_phase.fresh, default=float('nan')):.2f} s "
            f"({len(main_phase.fresh)} markers, polled every {args.poll:g} s)"
        )
        print(
            "highest rate with bounded freshness: "
            + (f"{best:,.0f} events/s" if best is not None else "none (main phase unbounded)")
        )
        print(
            "highest rate with bounded lander lag: "
            + (
                f"{best_lag:,.0f} events/s"
                if best_lag is not None
                else "none (main phase unbounded)"
            )
        )
    finally:
        stop.set()
        os.killpg(up.pid, signal.SIGTERM)
        try:
            up.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
        log.close()
        print(f"eventlake up log: {log_path}")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
