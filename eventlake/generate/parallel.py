"""`generate --to bus` on the configured bus, over several forked writer processes.

:func:`write_bus_parallel` splits the rows by the ``events`` partition their key maps to
(CRC-32, as the local bus computes it): writer ``w`` of ``N`` owns partitions
``p % N == w``, so every partition receives the same records in the same order as with
one process. The chunk encoder (``outputs._chunk_encoder``) is built once in the parent
and inherited by every fork; each writer runs the same encode-and-append loop as
:func:`~eventlake.generate.outputs.write_bus` with its own producer.
"""

from __future__ import annotations

import time
import zlib
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from eventlake.bus.base import EVENTS, Bus
from eventlake.errors import BusError
from eventlake.generate.activity import EventFrame
from eventlake.generate.outputs import (
    ChunkEncoder,
    OutputResult,
    Progress,
    _arrow_pool,
    _chunk_encoder,
    _pump,
    _rows,
    write_bus,
)
from eventlake.generate.world import World
from eventlake.spec import CompiledPlan

if TYPE_CHECKING:
    from eventlake.config import Settings

__all__ = ["write_bus_parallel"]


def write_bus_parallel(
    world: World,
    frame: EventFrame,
    settings: Settings,
    *,
    source: str,
    plan: CompiledPlan | None,
    workers: int = 2,
    rows: npt.NDArray[np.int64] | None = None,
    chunk_rows: int = 80_000,
    progress: Progress | None = None,
    record_format: str = "arrow",
) -> OutputResult:
    """:func:`write_bus` on the configured bus, split over ``workers`` forked processes.

    ``record_format`` "arrow" (many events per record; on a bus that maps keys by CRC-32,
    i.e. the local log, else JSON) or "json" (one event per record, any backend). Each
    process owns the rows of the ``events`` partitions ``p % workers == w``, so every
    partition receives the same records in the same order (same offsets) as with one
    process; only the interleaving of the ``quarantine`` topic differs. The local bus
    serialises appends of several processes per partition. A bus that maps keys otherwise
    (Kafka), or ``workers <= 1``, uses one process.
    """
    from eventlake.bus import open_bus

    idx = _rows(frame, rows)
    if record_format not in ("arrow", "json"):
        raise ValueError(f"record_format must be 'arrow' or 'json', got {record_format!r}")
    bus = open_bus(settings.bus, settings.base_dir)
    nparts = bus.crc32_partitions(EVENTS)
    arrow_partitions = nparts if record_format == "arrow" else None
    compression = settings.bus.arrow_compression
    if workers <= 1 or nparts is None or len(idx) < 2 * chunk_rows:
        producer = bus.producer()
        try:
            return write_bus(
                world,
                frame,
                producer,
                source=source,
                plan=plan,
                rows=idx,
                chunk_rows=chunk_rows,
                progress=progress,
                arrow_partitions=arrow_partitions,
                arrow_compression=compression,
            )
        finally:
            producer.close()
    started = time.perf_counter()
    part = _partitions_of_rows(world, frame, idx, nparts)
    shares = [idx[part % workers == w] for w in range(workers)]
    with _arrow_pool(arrow_partitions):
        # built once, before the fork: every writer inherits it
        encode = _chunk_encoder(world, source, plan, arrow_partitions, compression)
        events, quarantined = _fork_writers(bus, encode, frame, shares, chunk_rows, progress)
    return OutputResult(len(idx), events, quarantined, time.perf_counter() - started)


def _fork_writers(
    bus: Bus,
    encode: ChunkEncoder,
    frame: EventFrame,
    shares: list[npt.NDArray[np.int64]],
    chunk_rows: int,
    progress: Progress | None,
) -> tuple[int, int]:
    """One forked :func:`_bus_worker` per share of rows; (events, quarantined) in all."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    done = ctx.Value("q", 0)
    results = ctx.Array("q", 2 * len(shares))
    procs = []
    for w, share in enumerate(shares):
        proc = ctx.Process(
            target=_bus_worker,
            args=(bus, encode, frame, share, chunk_rows, done, results, w),
            daemon=True,
        )
        proc.start()
        procs.append(proc)
    reported = 0
    while any(p.is_alive() for p in procs):
        time.sleep(0.05)
        now = done.value
        if progress is not None and now > reported:
            progress(now - reported)
            reported = now
    for p in procs:
        p.join()
    if progress is not None and done.value > reported:
        progress(done.value - reported)
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise BusError(
            f"{len(failed)} generator worker(s) failed (exit codes {failed}); "
            "records written before the failure stay on the bus"
        )
    n = len(shares)
    return sum(results[2 * w] for w in range(n)), sum(results[2 * w + 1] for w in range(n))


def _partitions_of_rows(
    world: World, frame: EventFrame, rows: npt.NDArray[np.int64], partitions: int
) -> npt.NDArray[np.int64]:
    """The ``events`` partition of each row: CRC-32 of its key (``Bus.crc32_partitions``)."""
    keys = [
        k.encode() for pair in zip(world.anonymous_ids, world.user_ids, strict=True) for k in pair
    ]
    table = np.array([zlib.crc32(k) % partitions for k in keys], dtype=np.int64)
    return table[frame.user[rows] * 2 + frame.ident[rows]]


def _bus_worker(
    bus: Bus,
    encode: ChunkEncoder,
    frame: EventFrame,
    rows: npt.NDArray[np.int64],
    chunk_rows: int,
    done: Any,
    results: Any,
    slot: int,
) -> None:
    """One forked writer: encodes and appends its share of the rows."""
    producer = bus.producer()
    try:
        events, quarantined = _pump(
            encode, frame, producer, rows, chunk_rows, lambda n: _add(done, n)
        )
    finally:
        producer.close()
    results[2 * slot] = events
    results[2 * slot + 1] = quarantined


def _add(counter: Any, n: int) -> None:
    with counter.get_lock():
        counter.value += n
