"""Benchmark: events/s from the bus into the Parquet lake, against a raw pyarrow write.

    .venv/bin/python benchmarks/bench_land.py [--events 300000] [--batch 200000]

Fills a temporary local bus with realistic game events made by ``spec.prepare_events``
(~700-byte records), then times ``Lander.run()`` (read the bus, parse the JSON into Arrow,
partition by day, write zstd Parquet, fsync, commit records, bus commit). The baseline, in
the same run, is ``pyarrow.parquet.write_table`` of exactly the rows that landed (already in
memory as an Arrow table, same codec and row-group size, one file per day, no fsync): what
writing the lake would cost if the rows had never been JSON. Also prints the JSON parse
alone, the lander's main cost. Not a test; numbers are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import random
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.json as pj
import pyarrow.parquet as pq

from eventlake.bus import EVENTS, open_producer
from eventlake.config import load_config
from eventlake.lake import EVENT_SCHEMA
from eventlake.land import Lander
from eventlake.land.convert import split_by_day
from eventlake.spec import prepare_events

EVENTS_NAMES = ["Level Started", "Level Completed", "Level Failed", "Item Purchased"]


def make_records(n: int, seed: int = 1) -> tuple[list[bytes], list[bytes | None]]:
    """``n`` bus records of realistic, distinct game events over two days."""
    rng = random.Random(seed)
    base = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    records: list[bytes] = []
    keys: list[bytes | None] = []
    for start in range(0, n, 1000):
        raw = []
        for _ in range(min(1000, n - start)):
            name = rng.choice(EVENTS_NAMES)
            props: dict[str, object] = {"level": rng.randrange(1, 60)}
            if name == "Item Purchased":
                props = {
                    "item": rng.choice(["sword", "shield", "potion", "bow"]),
                    "price": round(rng.uniform(0.99, 49.99), 2),
                    "currency": "USD",
                    "quantity": rng.randrange(1, 4),
                }
            raw.append(
                {
                    "type": "track",
                    "event": name,
                    "userId": f"user-{rng.randrange(50_000)}",
                    "messageId": str(uuid.UUID(int=rng.getrandbits(128))),
                    "properties": props,
                    "context": {
                        "os": {"name": rng.choice(["iOS", "Android", "Windows"])},
                        "locale": rng.choice(["en-US", "de-DE", "pt-BR"]),
                        "app": {"version": f"1.{rng.randrange(9)}.{rng.randrange(20)}"},
                        "library": {"name": "analytics-python", "version": "2.3.0"},
                    },
                    "timestamp": (base + dt.timedelta(seconds=rng.random() * 172_800)).isoformat(),
                }
            )
        batch = prepare_events(
            raw,
            received_at=base + dt.timedelta(days=2, seconds=start),
            source="game",
            host=rng.choice(["comcast.net", "verizon.net", "bt.com"]),
            user_agent="game/1.4 (iOS 17)",
            ip=f"203.0.113.{rng.randrange(256)}",
        )
        records.extend(batch.records)
        keys.extend(batch.record_keys)
    return records, keys


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=300_000, help="events on the bus")
    ap.add_argument("--threads", type=int, default=8, help="appending threads (fill only)")
    ap.add_argument("--batch", type=int, default=200_000, help="land.max_records")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-land-", dir=args.dir))
    try:
        settings = load_config(
            None,
            base_dir=work,
            bus={"path": "bus"},
            lake={"path": "lake"},
            land={"max_records": args.batch},
        )
        t0 = time.perf_counter()
        records, keys = make_records(args.events)
        gen_s = time.perf_counter() - t0
        size = sum(map(len, records))
        producer = open_producer(settings)
        starts = list(range(0, len(records), 100))  # the collector's request size

        def append_share(k: int) -> None:
            for i in starts[k :: args.threads]:
                producer.append(EVENTS, records[i : i + 100], keys[i : i + 100])

        t0 = time.perf_counter()
        threads = [threading.Thread(target=append_share, args=(k,)) for k in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        append_s = time.perf_counter() - t0
        producer.close()
        print(
            f"bus: {len(records):,} records, {size / len(records):.0f} B avg "
            f"(generated in {gen_s:.1f} s; appended 100 per call from {args.threads} threads "
            f"in {append_s:.1f} s = {len(records) / append_s:,.0f} events/s durable)"
        )

        lander = Lander(settings)
        t0 = time.perf_counter()
        result = lander.run()
        land_s = time.perf_counter() - t0
        lander.close()
        assert result.events == len(records), result
        land_rate = result.events / land_s

        # Baseline: the same rows, already Arrow, written with the same settings.
        table = ds.dataset(work / "lake" / "events", format="parquet").to_table()
        table = table.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
        out = work / "baseline"
        out.mkdir()
        t0 = time.perf_counter()
        for day, part in split_by_day(table, "timestamp").items():
            pq.write_table(
                part,
                out / f"{day}.parquet",
                compression=settings.land.compression,
                row_group_size=settings.land.row_group_size,
            )
        raw_s = time.perf_counter() - t0
        raw_rate = table.num_rows / raw_s

        ndjson = b"\n".join(records) + b"\n"
        schema = pa.schema([f for f in EVENT_SCHEMA if not f.name.startswith("bus_")])
        t0 = time.perf_counter()
        pj.read_json(
            io.BytesIO(ndjson),
            read_options=pj.ReadOptions(block_size=4 << 20),
            parse_options=pj.ParseOptions(explicit_schema=schema),
        )
        parse_s = time.perf_counter() - t0

        print(
            f"lander   bus -> parquet : {land_rate:12,.0f} events/s ({land_s:.2f} s, "
            f"{result.batches} batches, {result.files} files)"
        )
        print(f"baseline pyarrow write  : {raw_rate:12,.0f} events/s ({raw_s:.2f} s)")
        print(f"(JSON parse alone       : {len(records) / parse_s:12,.0f} events/s)")
        print(f"ratio lander/baseline   : {land_rate / raw_rate:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
