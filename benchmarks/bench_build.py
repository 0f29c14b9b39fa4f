"""Benchmark the dbt model build: a full build at N events, and one day's incremental run.

Synthetic raw.events are generated inside DuckDB (30 days of history by default: identified
and anonymous players, purchases, guild joins, 2% duplicates), then:

1. a first build on a fresh warehouse (every table created);
2. a full rebuild of the same data (``changed_days=None``): the baseline;
3. one more day lands (plus a few late events for the day before) and the incremental run
   rebuilds only the changed days (``changed_days=[...]``), against a full rebuild of the
   same data;
4. a run with no changed day: dbt's fixed cost (every node compiled, run and logged), which
   bounds the ratio from below at small sizes;
5. a *small increment*: ``--small`` new events (5,000 by default) on the last day, the
   steady state of ``eventlake up`` (a run every few seconds), told which rows are new
   (``new_offsets``, as the pipeline tells it), with the slowest nodes of that run from
   dbt's log (``--nodes N`` of them). ``--today N`` first fills the last day with N more
   events (one unmeasured run), as a day of ``eventlake up`` at a high rate does, and
   ``--repeat K`` measures K such increments.

Prints seconds, events/s and CPU seconds (all threads of this process) of each build, and the
ratio incremental / full rebuild (target <= 0.2) in wall-clock and in CPU time, for each
size, then a summary table.

    .venv/bin/python benchmarks/bench_build.py                    # 1M, then 10M events
    .venv/bin/python benchmarks/bench_build.py --events 1000000   # one size
    # the current day holding 3M events, three runs of 100,000 new ones
    .venv/bin/python benchmarks/bench_build.py --events 10000000 --today 3000000 \
        --small 100000 --repeat 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from eventlake.config import ModelsConfig, Settings
from eventlake.warehouse.dbt import build_models
from eventlake.warehouse.dbt_project import DbtConfig
from eventlake.warehouse.duckdb import DuckDBDbtTarget

START = dt.date(2026, 1, 1)

_EVENTS = (
    "['Session Started', 'Level Started', 'Level Completed', 'Level Failed', "
    "'Level Started', 'Level Completed', 'Item Purchased', 'Guild Joined']"
)


def _insert_events(
    con: duckdb.DuckDBPyConnection, first: int, count: int, days: int, day0: int, users: int
) -> None:
    """Insert ``count`` events numbered from ``first`` spread over ``days`` days from day0.

    Rows go into raw.events in day order, as the raw layer loads them (one day's lake
    files at a time, ``replace_day``), so a day's rows sit together in the table.
    """
    con.execute("create or replace temp table new_events as from raw.events limit 0")
    con.execute(
        f"""
        insert into new_events
        with g as (
            select i, hash(i) as h, (hash(i * 7 + 1) % {users}) as u,
                   {day0} + (i % {days}) as d
            from range({first}, {first + count}) as t(i)
        ),
        e as (
            select *, {_EVENTS}[1 + (h % 8)::int] as ev,
                   timestamp '{START}' + to_days(d::int)
                       + to_seconds(((h >> 8) % 86000)::bigint) as ts
            from g
        )
        select
            'm-' || i as message_id,
            'track' as type,
            ev as event,
            null as name,
            case when u % 10 < 7 and i % 3 <> 0 then 'user-' || u end as user_id,
            'anon-' || u as anonymous_id,
            null as group_id,
            null as previous_id,
            ts::timestamptz as timestamp,
            ts::timestamptz as original_timestamp,
            (ts + interval 2 second)::timestamptz as sent_at,
            (ts + interval 3 second)::timestamptz as received_at,
            case ev
                when 'Item Purchased' then '{{"item": "sword", "price": 4.99, "currency": "USD"}}'
                when 'Guild Joined' then '{{"guild_id": "g' || (u % 50) || '", "guild_name": "G"}}'
                when 'Session Started' then '{{"session_number": 1}}'
                else '{{"level": ' || (h % 30) || '}}'
            end as properties,
            null as traits,
            '{{"os": {{"name": "' || ['ios', 'android', 'web'][1 + (u % 3)::int]
                || '"}}, "location": {{"country": "' || ['US', 'DE', 'BR', 'JP'][1 + (u % 4)::int]
                || '"}}, "locale": "en-US", "app": {{"version": "1.0"}}}}' as context,
            null as integrations,
            'game' as source,
            ['comcast.net', 'verizon.net', 't-online.de'][1 + (u % 3)::int] as host,
            'bench' as user_agent,
            '198.51.100.1' as ip,
            (u % 4)::int as bus_partition,
            i as bus_offset,
            ts::date as event_date
        from e
        """
    )
    # 2% duplicates: the same message arriving again a minute later
    con.execute(
        f"""
        insert into new_events
        select * replace (received_at + interval 60 second as received_at,
                          bus_offset + {_DUPLICATE_SHIFT} as bus_offset)
        from new_events
        where cast(substr(message_id, 3) as bigint) % 50 = 0
        """
    )
    con.execute("insert into raw.events from new_events order by event_date")
    con.execute("drop table new_events")


_DUPLICATE_SHIFT = 100000000000  # the bus offset of a duplicate: its original's + this


def _offset_ranges(db: Path, first: int, count: int) -> list[tuple[int, int, int]]:
    """The ``new_offsets`` of the events ``_insert_events(first, count)`` added (their
    duplicates included), per bus partition, as the raw load reports them."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            f"""
            select bus_partition, min(bus_offset), max(bus_offset)
            from raw.events
            where bus_offset between {first} and {first + count - 1}
               or bus_offset between {first + _DUPLICATE_SHIFT}
                  and {first + count - 1 + _DUPLICATE_SHIFT}
            group by bus_partition, bus_offset >= {_DUPLICATE_SHIFT}
            order by 1, 2
            """
        ).fetchall()
    finally:
        con.close()
    return [(int(p), int(lo), int(hi)) for p, lo, hi in rows]


def _create_raw(db: Path) -> None:
    con = duckdb.connect(str(db))
    try:
        con.execute("create schema if not exists raw")
        con.execute(
            """
            create table raw.events (
                message_id varchar not null, type varchar not null, event varchar,
                name varchar, user_id varchar, anonymous_id varchar, group_id varchar,
                previous_id varchar, "timestamp" timestamptz not null,
                original_timestamp timestamptz, sent_at timestamptz,
                received_at timestamptz not null, properties varchar, traits varchar,
                context varchar, integrations varchar, source varchar, host varchar,
                user_agent varchar, ip varchar, bus_partition integer, bus_offset bigint,
                event_date date
            )
            """
        )
    finally:
        con.close()


def _run(label: str, fn: object, events: int) -> tuple[float, float]:
    """Run one build; print and return (wall seconds, CPU seconds of this process)."""
    started = time.perf_counter()
    cpu = time.process_time()  # every thread of the process: dbt's and DuckDB's
    result = fn()  # type: ignore[operator]
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    print(
        f"{label:<34} {seconds:8.2f} s  {events / seconds:12,.0f} events/s  "
        f"cpu {cpu:7.2f} s  ({len(result.models_built)} models, {result.tests_passed} tests)"
    )
    return seconds, cpu


TARGET = 0.2


def _print_slowest(log: Path, start: int, count: int) -> None:
    """The ``count`` slowest nodes dbt logged after byte ``start`` of its log."""
    if count <= 0 or not log.exists():
        return
    with open(log, "rb") as f:
        f.seek(start)
        text = f.read().decode("utf-8", "replace")
    timed = []
    for line in text.splitlines():
        m = re.search(
            r"\d+ of \d+ (?:OK|PASS|ERROR|FAIL)\S* (.*?)\s*\.{2,}.* in (\d+\.\d+)s\]", line
        )
        if m:
            timed.append((float(m.group(2)), m.group(1)))
    timed.sort(reverse=True)
    total = sum(t for t, _ in timed)
    print(f"  nodes: {len(timed)}, sum of node times {total:.2f} s; slowest:")
    for seconds, what in timed[:count]:
        print(f"    {seconds:6.2f} s  {what}")


def bench_size(
    events: int,
    days: int,
    threads: int,
    keep: bool,
    small: int = 5000,
    nodes: int = 12,
    today: int = 0,
    repeat: int = 1,
) -> dict[str, float]:
    """Build N events of history, then one day's incremental run; print and return times."""
    users = max(100, events // 100)
    tmp = Path(tempfile.mkdtemp(prefix="bench_build_"))
    try:
        settings = Settings(base_dir=tmp, models=ModelsConfig(user_models_dir=None))
        settings.warehouse.threads = threads
        db = tmp / "warehouse.duckdb"
        config, target = DbtConfig.from_settings(settings), DuckDBDbtTarget(db, threads)
        _create_raw(db)
        con = duckdb.connect(str(db))
        started = time.perf_counter()
        _insert_events(con, 0, events, days, 0, users)
        total = con.execute("select count(*) from raw.events").fetchone()
        con.close()
        assert total is not None
        print(f"\n{events:,} events over {days} days, {users:,} users")
        print(f"generated {total[0]:,} raw rows in {time.perf_counter() - started:.1f} s")

        first = _run("first build (fresh warehouse)", lambda: build_models(config, target), events)
        full = _run(
            "full rebuild (changed_days=None)", lambda: build_models(config, target), events
        )

        per_day = events // days
        con = duckdb.connect(str(db))
        _insert_events(con, events, per_day, 1, days, users)  # the new day
        _insert_events(con, events + per_day, per_day // 50, 1, days - 1, users)  # late ones
        con.close()
        new_day = START + dt.timedelta(days=days)
        late_day = new_day - dt.timedelta(days=1)
        inc = _run(
            "incremental run (1 new day + late)",
            lambda: build_models(config, target, changed_days=[late_day, new_day]),
            per_day,
        )
        full_after = _run(
            "full rebuild after the new day",
            lambda: build_models(config, target),
            events + per_day,
        )
        # dbt's fixed cost: every node compiled, run and logged, with no day to rebuild
        fixed = _run(
            "run with no changed day (fixed cost)",
            lambda: build_models(config, target, changed_days=[]),
            0,
        )
        offset = events * 2
        if today:
            con = duckdb.connect(str(db))
            _insert_events(con, offset, today, 1, days, users)
            con.close()
            ranges = _offset_ranges(db, offset, today)
            build_models(config, target, changed_days=[new_day], new_offsets=ranges)
            offset += today
            print(f"(the last day filled with {today:,} more events by one run)")
        log = config.dbt_dir / "logs" / "dbt.log"
        tinies = []
        for _ in range(max(1, repeat)):
            con = duckdb.connect(str(db))
            _insert_events(con, offset, small, 1, days, users)
            con.close()
            ranges = _offset_ranges(db, offset, small)
            offset += small
            mark = log.stat().st_size if log.exists() else 0
            tiny = _run(
                f"small increment ({small:,} events, last day)",
                lambda r=ranges: build_models(
                    config, target, changed_days=[new_day], new_offsets=r
                ),
                small,
            )
            tinies.append(tiny[0])
            _print_slowest(log, mark, nodes)
        ratio = inc[0] / full_after[0]
        print(f"first build / full rebuild: {first[0] / full[0]:.2f}")
        verdict = "met" if ratio <= TARGET else "not met"
        print(f"incremental / full rebuild: {ratio:.3f}  (target <= {TARGET}: {verdict})")
        # CPU time swings less than wall time on a shared machine
        print(f"incremental / full rebuild, CPU time: {inc[1] / full_after[1]:.3f}")
        print(f"fixed cost / full rebuild: {fixed[0] / full_after[0]:.3f}")
        return {
            "events": events,
            "first": first[0],
            "full": full_after[0],
            "incremental": inc[0],
            "fixed": fixed[0],
            "small": min(tinies),
            "ratio": ratio,
        }
    finally:
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--events",
        default="1000000,10000000",
        help="events of history, several sizes separated by commas (default: 1M and 10M)",
    )
    parser.add_argument("--days", type=int, default=30, help="days of history")
    parser.add_argument("--threads", type=int, default=2, help="dbt threads")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument(
        "--small", type=int, default=5000, help="events of the small increment (last step)"
    )
    parser.add_argument("--nodes", type=int, default=12, help="slowest nodes of it to print")
    parser.add_argument(
        "--today",
        type=int,
        default=0,
        help="events added to the last day by one unmeasured run before the small increments",
    )
    parser.add_argument("--repeat", type=int, default=1, help="small increments to measure")
    args = parser.parse_args()
    os.environ["TZ"] = "UTC"
    sizes = [int(float(n)) for n in args.events.split(",") if n.strip()]
    rows = [
        bench_size(
            n, args.days, args.threads, args.keep, args.small, args.nodes, args.today, args.repeat
        )
        for n in sizes
    ]
    print(
        f"\n{'events':>12} {'full build':>11} {'events/s':>10} {'day run':>8} {'fixed':>6} "
        f"{'small':>6} ratio"
    )
    for r in rows:
        print(
            f"{r['events']:>12,.0f} {r['full']:>9.2f} s {r['events'] / r['full']:>10,.0f} "
            f"{r['incremental']:>6.2f} s {r['fixed']:>4.2f} s {r['small']:>4.2f} s {r['ratio']:.3f}"
        )


if __name__ == "__main__":
    main()
