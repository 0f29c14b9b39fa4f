"""Benchmark a day's run against a full rebuild on the Spark warehouse (local mode).

The generator's game world (``--users`` players over ``--days`` days, duplicates, late
events, aliases) goes to the project's local bus in two parts, split by arrival: every
event received before the last day, then the last day's arrivals (late events for earlier
days included). Through the pipeline on ``warehouse.backend = "spark"``:

1. land the first part, ``run``: raw load and the first build (every table created; it
   also warms the JVM up);
2. land the last day, ``run`` without landing: the day's run of new commits;
3. ``--rounds`` times, in turn (the same machine load for both sides of the ratio):
   ``build --full-refresh`` (every table rebuilt from the raw layer), ``run --date LAST``
   (the last day's raw partition replaced and its models rebuilt, like step 2) and
   ``build`` with no day to rebuild (dbt's fixed cost on Spark).

Prints the seconds of each step, the medians and the ratio day's run / full rebuild, the
state (lake events, raw rows, days rebuilt, the size of ``spark-warehouse/``) and the
load average.

    .venv/bin/python benchmarks/bench_spark_build.py                 # 1,000 players, 14 days
    .venv/bin/python benchmarks/bench_spark_build.py --users 5000 --days 30
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import eventlake
from eventlake.config import Settings
from eventlake.generate import WorldConfig, generate, write_bus_parallel
from eventlake.land import land
from eventlake.pipeline.run import build, run
from eventlake.tracking_plan import plan_from_settings

START = dt.date(2026, 1, 1)


def _settings(project: Path) -> Settings:
    plan = Path(eventlake.__file__).parent / "templates" / "tracking-plan.yaml"
    (project / "tracking-plan.yaml").write_text(plan.read_text(encoding="utf-8"))
    return Settings(
        base_dir=project,
        warehouse={"backend": "spark", "spark_master": "local[2]", "spark_dir": "data/spark"},
        models={"user_models_dir": None},
    )


def _timed(label: str, step: Any) -> tuple[float, Any]:
    load = os.getloadavg()[0]
    started = time.perf_counter()
    result = step()
    seconds = time.perf_counter() - started
    print(f"{label:<44} {seconds:7.1f} s   (load before {load:.2f})", flush=True)
    return seconds, result


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def bench(users: int, days: int, seed: int, rounds: int, keep: bool) -> dict[str, float]:
    from eventlake.warehouse.spark_session import spark_session, stop_spark_session

    project = Path(tempfile.mkdtemp(prefix="bench_spark_build_"))
    try:
        settings = _settings(project)
        world, frame = generate(WorldConfig(users=users, days=days, start=START, seed=seed))
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        last_day = START + dt.timedelta(days=days - 1)
        last = dt.datetime.combine(last_day, dt.time(), tzinfo=dt.UTC)
        cut = int((last - epoch).total_seconds()) * 1_000_000
        history = np.flatnonzero(frame.recv < cut)
        arrivals = np.flatnonzero(frame.recv >= cut)
        plan = plan_from_settings(settings)

        def send(rows: Any) -> None:
            write_bus_parallel(
                world, frame, settings, source="generator", plan=plan, rows=rows, workers=1
            )
            land(settings)

        send(history)
        print(f"{len(history):,} events received before {last_day}, {len(arrivals):,} on it")
        first, _ = _timed("first build (raw load + every table)", lambda: run(settings, land=False))
        send(arrivals)
        new, result = _timed("day's run of the new commits", lambda: run(settings, land=False))
        spark = spark_session(settings)
        rebuilt = spark.sql("select count(*) from staging.int_changed_days").collect()[0][0]
        full: list[float] = []
        day: list[float] = []
        fixed: list[float] = []
        for n in range(1, rounds + 1):
            full.append(
                _timed(f"[{n}] full rebuild", lambda: build(settings, full_refresh=True))[0]
            )
            day.append(
                _timed(
                    f"[{n}] day's run (run --date {last_day})",
                    lambda: run(settings, day=last_day, land=False),
                )[0]
            )
            fixed.append(_timed(f"[{n}] build, no day to rebuild", lambda: build(settings))[0])
        raw = spark.sql("select count(*) from raw.events").collect()[0][0]
        modeled = spark.sql("select count(*) from staging.stg_events").collect()[0][0]
        size = _size(Path(settings.resolve(settings.warehouse.spark_dir)) / "spark-warehouse")
        print(
            f"\nstate: {raw:,} raw rows, {modeled:,} distinct events over {days} days, "
            f"spark-warehouse {size / 1e6:.1f} MB; the day's run loaded "
            f"{result.commits_loaded} commits, {len(result.changed_days)} given days, "
            f"rebuilt {rebuilt}"
        )
        med_full, med_day, med_fixed = (statistics.median(x) for x in (full, day, fixed))
        print(
            f"medians: full rebuild {med_full:.1f} s, day's run {med_day:.1f} s, "
            f"fixed {med_fixed:.1f} s"
        )
        print(
            f"day's run / full rebuild: {med_day / med_full:.3f} "
            f"(the new commits' run: {new / med_full:.3f})"
        )
        print(f"fixed cost / full rebuild: {med_fixed / med_full:.3f}")
        print(f"load average (1, 5, 15 min): {os.getloadavg()}")
        return {"first": first, "full": med_full, "day": med_day, "fixed": med_fixed}
    finally:
        stop_spark_session()
        if keep:
            print(f"kept {project}")
        else:
            shutil.rmtree(project, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1000, help="players of the world")
    parser.add_argument("--days", type=int, default=14, help="days of history")
    parser.add_argument("--seed", type=int, default=42, help="generator seed")
    parser.add_argument("--rounds", type=int, default=3, help="full rebuild / day's run pairs")
    parser.add_argument("--keep", action="store_true", help="keep the project folder")
    args = parser.parse_args()
    os.environ["TZ"] = "UTC"
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    bench(args.users, args.days, args.seed, args.rounds, args.keep)


if __name__ == "__main__":
    main()
