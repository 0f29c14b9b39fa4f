"""Benchmark: events/s from the bus into the Parquet lake, against a raw pyarrow write.

    .venv/bin/python benchmarks/bench_land.py [--events 300000] [--batch 200000]
        [--format arrow|json|request] [--events-per-record 1000]

Fills a temporary local bus with realistic game events made by ``spec.prepare_events``,
either as Arrow records (``--format arrow``, the default: what the generator appends; one
IPC stream of up to ``--events-per-record`` events per record, grouped by the key's
partition) or as one JSON record per event (``--format json``, ~700 bytes each), or as the
collector's request records (``--format request``: 100 events per record as the client
sent them, expanded by the lander into columns (``land/expand.py``: scanned by compiled
code, ``land/scan.py``; the rules of ``prepare_events``), so this also prices the work the
collector's fast path moves here). The lander is built, its scan loaded, and the garbage
collector tuned (``gc_tuning.tune_gc``, as in every lander process) before the clock starts.
Then times ``Lander.run()`` (read the bus, decode the records into Arrow, partition by
day, write zstd Parquet, fsync, commit records, bus commit). The baseline, in the same
run, is ``pyarrow.parquet.write_table`` of exactly the rows that landed (already in memory
as an Arrow table, same codec and row-group size, one file per day, no fsync). Also prints
the decode alone (JSON parse, IPC read, or the columnar expansion of the request records).
Arrow allocates from the pool eventlake's processes use (``eventlake/arrow_memory.py``:
the system allocator unless ``ARROW_DEFAULT_MEMORY_POOL`` names another), for the lander
and the baseline alike; the pool is printed. Not a test; numbers are noisy on a shared
machine.
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
import zlib
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.json as pj
import pyarrow.parquet as pq

from eventlake.arrow_memory import prefer_system_allocator
from eventlake.bus import EVENTS, open_producer
from eventlake.bus.records import EVENT_INPUT_SCHEMA, decode_arrow_record, encode_arrow_batch
from eventlake.bus.request_records import (
    RequestHeader,
    encode_request_record,
)
from eventlake.config import load_config
from eventlake.gc_tuning import tune_gc
from eventlake.lake import EVENT_SCHEMA
from eventlake.land import Lander
from eventlake.land.convert import split_by_day
from eventlake.land.expand import RequestColumns
from eventlake.spec import PreparedBatch, format_timestamp, prepare_events

EVENTS_NAMES = ["Level Started", "Level Completed", "Level Failed", "Item Purchased"]


def make_batches(n: int, seed: int = 1) -> tuple[list[PreparedBatch], list[tuple[bytes, bytes]]]:
    """Prepared batches of ``n`` realistic, distinct game events over two days, and the same
    events as collector request records of 100 events, (record, key) each."""
    rng = random.Random(seed)
    base = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    batches: list[PreparedBatch] = []
    requests: list[tuple[bytes, bytes]] = []
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
        received = base + dt.timedelta(days=2, seconds=start)
        host = rng.choice(["comcast.net", "verizon.net", "bt.com"])
        ip = f"203.0.113.{rng.randrange(256)}"
        batch = prepare_events(
            raw,
            received_at=received,
            source="game",
            host=host,
            user_agent="game/1.4 (iOS 17)",
            ip=ip,
        )
        batches.append(batch)
        for i in range(0, len(raw), 100):
            part = raw[i : i + 100]
            header = RequestHeader(
                received_at=format_timestamp(received),
                count=len(part),
                source="game",
                host=host,
                user_agent="game/1.4 (iOS 17)",
                ip=ip,
            )
            value = encode_request_record(header, [msgspec.json.encode(e) for e in part])
            requests.append((value, str(part[0]["userId"]).encode()))
    return batches, requests


def json_records(batches: list[PreparedBatch]) -> tuple[list[bytes], list[bytes | None]]:
    """One JSON record per event (the pre-Arrow format), with their keys."""
    records: list[bytes] = []
    keys: list[bytes | None] = []
    for b in batches:
        records.extend(b.records)
        keys.extend(b.record_keys)
    return records, keys


def arrow_records(
    records: list[bytes], keys: list[bytes | None], partitions: int, per_record: int
) -> list[tuple[int, bytes, bytes | None]]:
    """(partition, Arrow record, first key): the events grouped by their key's partition.

    Built from the JSON records once, before timing (a producer that has columns already,
    like the generator, builds them without any JSON).
    """
    by_part: dict[int, tuple[list[bytes], list[bytes | None]]] = {}
    for value, key in zip(records, keys, strict=True):
        vals, ks = by_part.setdefault(zlib.crc32(key or b"") % partitions, ([], []))
        vals.append(value)
        ks.append(key)
    out = []
    for p, (vals, ks) in by_part.items():
        for i in range(0, len(vals), per_record):
            table = pj.read_json(
                io.BytesIO(b"\n".join(vals[i : i + per_record]) + b"\n"),
                parse_options=pj.ParseOptions(explicit_schema=EVENT_INPUT_SCHEMA),
            )
            out.append((p, encode_arrow_batch(table), ks[i]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=300_000, help="events on the bus")
    ap.add_argument("--threads", type=int, default=8, help="appending threads (fill only)")
    ap.add_argument("--batch", type=int, default=200_000, help="land.max_records")
    ap.add_argument(
        "--format",
        choices=("arrow", "json", "request"),
        default="arrow",
        help="bus record format",
    )
    ap.add_argument(
        "--events-per-record", type=int, default=1000, help="events per Arrow record (at most)"
    )
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir)")
    args = ap.parse_args()
    prefer_system_allocator()

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
        batches, requests = make_batches(args.events)
        records, keys = json_records(batches)
        arrow = arrow_records(records, keys, settings.bus.partitions, args.events_per_record)
        gen_s = time.perf_counter() - t0
        size = sum(map(len, records))
        producer = open_producer(settings)
        starts = list(range(0, len(records), 100))  # the collector's request size

        def append_share(k: int) -> None:
            if args.format == "arrow":
                for p, value, key in arrow[k :: args.threads]:
                    producer.append(EVENTS, [value], [key], partitions=[p])
                return
            if args.format == "request":
                for value, key in requests[k :: args.threads]:
                    producer.append(EVENTS, [value], [key])
                return
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
        if args.format == "arrow":
            asize = sum(len(v) for _, v, _ in arrow)
            print(
                f"bus: {len(records):,} events in {len(arrow):,} Arrow records "
                f"(<= {args.events_per_record} events each, {asize / len(records):.0f} B/event; "
                f"JSON would be {size / len(records):.0f} B/event; generated in {gen_s:.1f} s; "
                f"appended from {args.threads} threads in {append_s:.1f} s)"
            )
        elif args.format == "request":
            rsize = sum(len(v) for v, _ in requests)
            print(
                f"bus: {len(records):,} events in {len(requests):,} request records "
                f"(100 events each, {rsize / len(records):.0f} B/event; generated in "
                f"{gen_s:.1f} s; appended from {args.threads} threads in {append_s:.1f} s)"
            )
        else:
            print(
                f"bus: {len(records):,} JSON records, {size / len(records):.0f} B avg "
                f"(generated in {gen_s:.1f} s; appended 100 per call from {args.threads} "
                f"threads in {append_s:.1f} s = {len(records) / append_s:,.0f} events/s durable)"
            )

        lander = Lander.from_settings(settings)
        tune_gc()  # as every lander process does (eventlake land, eventlake up)
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
        # Ceiling: the same write with no compression at all (encoding alone).
        t0 = time.perf_counter()
        for day, part in split_by_day(table, "timestamp").items():
            pq.write_table(
                part,
                out / f"{day}.none.parquet",
                compression="none",
                row_group_size=settings.land.row_group_size,
            )
        ceiling_rate = table.num_rows / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        if args.format == "arrow":
            pa.concat_tables([decode_arrow_record(v) for _, v, _ in arrow])
            decode = "IPC read alone"
        elif args.format == "request":
            # the lander's route: every record's columns gathered, then built at once
            columns = RequestColumns()
            for value, _ in requests:
                columns.add(value)
            columns.flush()
            decode = "columnar expansion"
        else:
            ndjson = b"\n".join(records) + b"\n"
            pj.read_json(
                io.BytesIO(ndjson),
                read_options=pj.ReadOptions(block_size=4 << 20),
                parse_options=pj.ParseOptions(explicit_schema=EVENT_INPUT_SCHEMA),
            )
            decode = "JSON parse alone"
        parse_s = time.perf_counter() - t0

        print(
            f"lander   bus -> parquet : {land_rate:12,.0f} events/s ({land_s:.2f} s, "
            f"{result.batches} batches, {result.files} files)"
        )
        print(f"baseline pyarrow write  : {raw_rate:12,.0f} events/s ({raw_s:.2f} s)")
        print(f"(same, uncompressed     : {ceiling_rate:12,.0f} events/s: a ceiling on one core)")
        print(f"({decode:<23}: {len(records) / parse_s:12,.0f} events/s)")
        print(f"ratio lander/baseline   : {land_rate / raw_rate:.2f}")
        print(f"(Arrow memory pool      : {pa.default_memory_pool().backend_name})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
