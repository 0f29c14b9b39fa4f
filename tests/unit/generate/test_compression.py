"""Compressed Arrow bus records: what the generator writes reads back the same everywhere."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from eventlake.bus.base import EVENTS, TopicPartition
from eventlake.bus.records import (
    ARROW_COMPRESSIONS,
    decode_arrow_record,
    encode_arrow_batch,
    is_arrow,
    record_events,
    record_rows,
)
from eventlake.generate import BusEncoder, WorldConfig, generate
from eventlake.generate.arrow import ArrowEncoder, system_memory_pool
from eventlake.land.convert import Run, convert_runs

T = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
PLAN = Path(__file__).resolve().parents[3] / "eventlake" / "templates" / "tracking-plan.yaml"


@pytest.fixture(scope="module")
def world_frame():
    return generate(WorldConfig(users=200, days=6, start=dt.date(2026, 3, 2), seed=11))


def _columns(n: int) -> dict[str, list[object]]:
    return {
        "message_id": [f"m{i}" for i in range(n)],
        "type": ["track"] * n,
        "user_id": [f"u{i % 7}" for i in range(n)],
        "context": ['{"ip":"1.2.3.4","library":{"name":"x"}}'] * n,
        "timestamp": [T] * n,
        "received_at": [T] * n,
    }


@pytest.mark.parametrize("compression", ARROW_COMPRESSIONS)
def test_every_codec_round_trips(compression: str) -> None:
    value = encode_arrow_batch(_columns(500), compression=compression)
    plain = encode_arrow_batch(_columns(500))
    assert record_rows(value) == 500
    assert decode_arrow_record(value).equals(decode_arrow_record(plain))
    assert record_events(value) == record_events(plain)
    if compression != "none":
        assert len(value) < len(plain)


def test_an_unknown_codec_is_refused() -> None:
    with pytest.raises(ValueError, match="zstd, lz4, none"):
        encode_arrow_batch(_columns(2), compression="gzip")


def test_the_memory_pool_is_restored() -> None:
    before = pa.default_memory_pool().backend_name
    with system_memory_pool():
        assert pa.default_memory_pool().backend_name == "system"
    assert pa.default_memory_pool().backend_name == before


def test_compressed_generated_records_convert_like_uncompressed(world_frame) -> None:
    world, frame = world_frame
    rows = np.arange(len(frame), dtype=np.int64)
    converted = {}
    for compression in ("zstd", "lz4", None):
        chunk = ArrowEncoder(
            BusEncoder(world, source="game", plan=None), 4, compression=compression
        ).encode(frame, rows)
        # one Arrow record per partition; without a plan the plan-breaking rows go as JSON
        assert sum(map(is_arrow, chunk.values)) == 4 and not chunk.quarantine_values
        run = Run(
            TopicPartition(EVENTS, 0),
            np.arange(len(chunk.values), dtype=np.int64),
            b"".join(v + b"\n" for v in chunk.values),
            np.array([len(v) for v in chunk.values], dtype=np.uint32),
        )
        (conv,) = convert_runs([run])
        assert conv.bad.num_rows == 0 and conv.table.num_rows == len(frame)
        converted[compression] = (conv.table, sum(len(v) for v in chunk.values if is_arrow(v)))
    plain_table, plain_bytes = converted[None]
    for compression in ("zstd", "lz4"):
        table, size = converted[compression]
        assert table.equals(plain_table)
        assert size * 3 < plain_bytes  # per-player text repeats: it compresses well


def test_records_built_on_helper_threads_are_the_same(world_frame) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from eventlake.spec import load_tracking_plan

    world, frame = world_frame
    plan = load_tracking_plan(PLAN)
    arrow = ArrowEncoder(BusEncoder(world, source="game", plan=plan), 4, compression="lz4")
    rows = np.arange(len(frame), dtype=np.int64)
    serial = arrow.encode(frame, rows)
    with ThreadPoolExecutor(2) as pool:
        threaded = arrow.encode(frame, rows, pool)
    assert serial == threaded
    assert serial.quarantine_values and sum(map(is_arrow, serial.values)) == 4
