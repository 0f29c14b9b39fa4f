"""Benchmark `generate --to bus`: synthetic events made durable on the local bus per second.

Same world, same run, for each bus record format (``arrow``: many events per record, the
default; ``json``: one event per record):

- baseline: a raw ``LocalProducer.append`` of the same records, already serialised;
- end to end: simulate + encode + append, what ``eventlake generate --to bus`` does
  (``--workers 1``), and split over several writer processes (``--workers N``).

Arrow records are body-compressed as ``generate`` writes them (the ``bus.arrow_compression``
setting, or ``--compression``), and the baseline appends those same compressed records.

The ratio end-to-end / baseline says how much the generator costs on top of the bus itself
(1.0 would be "free"). On a shared machine wall-clock swings, so each end-to-end line also
gives the CPU seconds it used (this process and its writer processes) and events per
CPU-second. Run: ``.venv/bin/python benchmarks/bench_generate.py [--users N] [--format arrow]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from eventlake.bus.local import LocalProducer
from eventlake.config import load_config
from eventlake.generate import BusEncoder, WorldConfig, build_world, simulate, write_bus_parallel
from eventlake.generate.arrow import ArrowEncoder, system_memory_pool
from eventlake.generate.outputs import _append
from eventlake.spec import load_tracking_plan

PLAN = Path(__file__).resolve().parents[1] / "eventlake" / "templates" / "tracking-plan.yaml"


def _raw_append(root: Path, chunks: list) -> float:
    """Seconds to append the pre-serialised records as ``write_bus`` does."""
    producer = LocalProducer(root)
    started = time.perf_counter()
    for c in chunks:
        _append(producer, "events", c.values, c.keys)
        _append(producer, "quarantine", c.quarantine_values, c.quarantine_keys)
    seconds = time.perf_counter() - started
    producer.close()
    return seconds


def _cpu_seconds() -> float:
    """User + system CPU of this process and of its finished children so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--chunk", type=int, default=80_000, help="rows per encode step")
    parser.add_argument("--workers", type=int, default=2, help="processes for the parallel run")
    parser.add_argument(
        "--compression",
        choices=["zstd", "lz4", "none"],
        default=None,
        help="Arrow record body compression (default: the bus.arrow_compression setting)",
    )
    parser.add_argument(
        "--format",
        choices=["arrow", "json", "both"],
        default="both",
        help="bus record format(s) to measure",
    )
    args = parser.parse_args()
    compression = args.compression or load_config(None).bus.arrow_compression
    config = WorldConfig(users=args.users, days=args.days, start=dt.date(2026, 1, 1))
    plan = load_tracking_plan(PLAN)
    tmp = Path(tempfile.mkdtemp(prefix="bench-generate-"))
    try:
        t0 = time.perf_counter()
        world = build_world(config)
        frame = simulate(world)
        t_sim = time.perf_counter() - t0
        n = len(frame)
        print(f"world: {args.users} users x {args.days} days = {n:,} events")
        print(f"simulate                       {n / t_sim:12,.0f} events/s ({t_sim:.2f} s)")
        for fmt in ("arrow", "json") if args.format == "both" else (args.format,):
            encoder = BusEncoder(world, source="game", plan=plan)
            arrow = ArrowEncoder(encoder, 4, compression=compression) if fmt == "arrow" else None
            t0 = time.perf_counter()
            chunks = []
            with system_memory_pool():
                for lo in range(0, n, args.chunk):
                    rows = np.arange(lo, min(lo + args.chunk, n), dtype=np.int64)
                    chunks.append(
                        arrow.encode(frame, rows) if arrow else encoder.encode(frame, rows)
                    )
            t_enc = time.perf_counter() - t0
            size = sum(len(v) for c in chunks for v in c.values) / n
            t_raw = _raw_append(tmp / f"raw-{fmt}", chunks)
            del chunks
            results = {}
            for workers in (1, args.workers):
                bus = {"path": str(tmp / f"e2e-{fmt}-{workers}"), "arrow_compression": compression}
                settings = load_config(None, base_dir=tmp, bus=bus)
                c0 = _cpu_seconds()
                t0 = time.perf_counter()
                w = build_world(config)
                f = simulate(w)
                write_bus_parallel(
                    w,
                    f,
                    settings,
                    source="game",
                    plan=plan,
                    workers=workers,
                    chunk_rows=args.chunk,
                    record_format=fmt,
                )
                results[workers] = (time.perf_counter() - t0, _cpu_seconds() - c0)
            codec = f", {compression} compression" if fmt == "arrow" else ""
            print(f"[{fmt}] {size:.0f} B/event on the bus{codec}")
            print(f"[{fmt}] encode only                {n / t_enc:12,.0f} events/s")
            print(f"[{fmt}] baseline raw append        {n / t_raw:12,.0f} events/s ({t_raw:.2f} s)")
            for workers, (secs, cpu) in results.items():
                print(
                    f"[{fmt}] end to end, {workers} process(es) {n / secs:12,.0f} events/s "
                    f"({secs:.2f} s)  ratio to raw append {t_raw / secs:.2f}  "
                    f"cpu {cpu:.2f} s = {n / cpu:,.0f} events/cpu-s"
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        "the figure: [arrow] end to end (the default of `generate --to bus`); "
        "target >= 500,000 events/s"
    )


if __name__ == "__main__":
    main()
