"""Benchmark: the warehouse raw layer loading a lake, and one late day against the full load.

Writes a synthetic lake (``--events`` rows over ``--days`` days, one lake commit per day, the
lander's layout and schema), then measures in the same run:

- baseline: a plain DuckDB ``CREATE TABLE AS SELECT * FROM read_parquet(<all files>)``;
- full: ``load_raw`` of the whole lake into an empty warehouse (bookkeeping, per-day
  replace) -> events/s and the ratio to the baseline;
- late: one more commit of late events for a single old day, loaded incrementally -> seconds
  and the ratio to the full load (the point of the commit-record change feed).

    .venv/bin/python benchmarks/bench_raw.py --events 1000000 --days 30
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from eventlake.lake import EVENT_SCHEMA, PendingFile, open_lake
from eventlake.warehouse.duckdb import DuckDBTransaction


def day_table(day: dt.date, n: int, offset: int, rng: np.random.Generator) -> pa.Table:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    secs = np.sort(rng.integers(0, 86_400, n)).astype("int64")
    ts = pa.array(
        (np.datetime64(start.replace(tzinfo=None), "us") + secs * 1_000_000).astype("M8[us]"),
        pa.timestamp("us", tz="UTC"),
    )
    users = rng.integers(0, max(1, n // 20), n)
    names = np.array(["Session Started", "Level Started", "Level Completed", "Item Purchased"])
    cols = {
        "message_id": pa.array([f"m{offset + i}" for i in range(n)]),
        "type": pa.array(["track"] * n),
        "event": pa.array(names[rng.integers(0, len(names), n)]),
        "user_id": pa.array([f"u{u}" for u in users]),
        "anonymous_id": pa.array([f"a{u}" for u in users]),
        "timestamp": ts,
        "received_at": ts,
        "properties": pa.array(['{"level": 3}'] * n),
        "context": pa.array(['{"os": {"name": "ios"}}'] * n),
        "bus_partition": pa.array(np.zeros(n, "int32")),
        "bus_offset": pa.array(np.arange(offset, offset + n, dtype="int64")),
    }
    arrays = [cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in EVENT_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="Events in the lake.")
    parser.add_argument("--days", type=int, default=30, help="Days they span.")
    parser.add_argument("--late", type=int, default=10_000, help="Late events for one day.")
    args = parser.parse_args()

    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lake = open_lake(str(root / "lake"))
        first = dt.date(2026, 1, 1)
        per_day = args.events // args.days
        offset = 0
        t0 = time.perf_counter()
        for i in range(args.days):
            day = first + dt.timedelta(days=i)
            table = day_table(day, per_day, offset, rng)
            cid = f"events-p0000-{offset:020d}"
            path = f"events/event_date={day.isoformat()}/{cid}.parquet"
            lake.commit("events", cid, [PendingFile(path, table, {"event_date": day.isoformat()})])
            offset += per_day
        total = per_day * args.days
        print(f"lake: {total:,} events over {args.days} days in {time.perf_counter() - t0:.1f} s")

        files = [str(Path(lake.root) / f) for f in sorted(lake.committed_files("events"))]
        base_db = duckdb.connect(str(root / "baseline.duckdb"))
        t0 = time.perf_counter()
        base_db.execute("CREATE TABLE events AS SELECT * FROM read_parquet(?)", [files])
        baseline = time.perf_counter() - t0
        base_db.close()

        # the raw load a write transaction runs on its working copy (no copy/publish timed)
        work = DuckDBTransaction(root / "w.duckdb", threads=2)
        t0 = time.perf_counter()
        result = work.load_raw(lake)
        full = time.perf_counter() - t0
        late_day = first + dt.timedelta(days=args.days // 2)
        late_table = day_table(late_day, args.late, offset, rng)
        cid = f"events-p0000-{offset:020d}"
        path = f"events/event_date={late_day.isoformat()}/{cid}.parquet"
        lake.commit(
            "events", cid, [PendingFile(path, late_table, {"event_date": late_day.isoformat()})]
        )
        t0 = time.perf_counter()
        late = work.load_raw(lake)
        incremental = time.perf_counter() - t0

    assert len(result.event_days) == args.days and late.event_days == (late_day,)
    print(f"baseline read_parquet -> table: {baseline:.2f} s ({total / baseline:,.0f} events/s)")
    print(
        f"raw layer full load:            {full:.2f} s ({total / full:,.0f} events/s); "
        f"ratio to baseline {baseline / full:.2f}"
    )
    print(
        f"late day ({args.late:,} late events into a {per_day:,}-event day): "
        f"{incremental:.2f} s; ratio to the full load {incremental / full:.3f} "
        f"(1/{full / incremental:.0f})"
    )


if __name__ == "__main__":
    main()
