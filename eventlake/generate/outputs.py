"""Where generated events go: the local bus (bulk), a ``.jsonl`` file, or HTTP via the SDK.

- :func:`write_bus` encodes rows in chunks and appends them to topics ``events`` and
  ``quarantine`` with the collector's outcome, keyed by user: Arrow records of many events
  (``generate/arrow.py``) or one JSON record per event (``generate/encode.py``);
  :func:`write_bus_parallel` does it on the configured bus, over several processes.
- :func:`write_jsonl` writes the raw Segment events a client would send, one per line
  (replayable against any Segment-compatible endpoint).
- :func:`send_http` sends the raw events through :class:`eventlake.tracker.Client`, one
  client per internet host provider so that the request's ``Host`` header carries it (the
  collector stores that header in the ``host`` column).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from eventlake.bus.base import EVENTS, QUARANTINE, Producer
from eventlake.errors import BusError
from eventlake.generate.activity import EventFrame
from eventlake.generate.encode import BusEncoder, segment_event
from eventlake.generate.world import World
from eventlake.spec import CompiledPlan

__all__ = ["OutputResult", "send_http", "write_bus", "write_bus_parallel", "write_jsonl"]

#: Called after each chunk with the number of rows just written.
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class OutputResult:
    """What one output wrote: rows in, records per topic, time taken."""

    rows: int
    events: int
    quarantined: int
    seconds: float
    errors: int = 0


def _rows(frame: EventFrame, rows: npt.NDArray[np.int64] | None) -> npt.NDArray[np.int64]:
    return np.arange(len(frame), dtype=np.int64) if rows is None else rows


#: Bytes per ``append`` call, well under the local producer's pending bound (64 MB).
_APPEND_BYTES = 24 * 1024 * 1024


def _append(producer: Producer, topic: str, values: list[bytes], keys: list[bytes | None]) -> None:
    """Append in calls of at most ~``_APPEND_BYTES`` (a huge record goes alone)."""
    start = size = 0
    for i, v in enumerate(values):
        if size and size + len(v) > _APPEND_BYTES:
            producer.append(topic, values[start:i], keys[start:i])
            start, size = i, 0
        size += len(v)
    if start < len(values):
        producer.append(topic, values[start:], keys[start:])


def write_bus(
    world: World,
    frame: EventFrame,
    producer: Producer,
    *,
    source: str,
    plan: CompiledPlan | None,
    rows: npt.NDArray[np.int64] | None = None,
    chunk_rows: int = 50_000,
    progress: Progress | None = None,
    arrow_partitions: int | None = None,
) -> OutputResult:
    """Append ``rows`` of ``frame`` (all by default) to the bus; durable on return.

    With ``arrow_partitions`` (the ``events`` topic's partition count on a local bus), the
    events the plan accepts go as Arrow records, one per partition per chunk
    (``generate/arrow.py``); otherwise, and always for quarantine, one JSON record each.
    ``OutputResult.events`` counts events, not records.
    """
    started = time.perf_counter()
    encoder = BusEncoder(world, source=source, plan=plan)
    arrow = None
    if arrow_partitions is not None:
        from eventlake.generate.arrow import ArrowEncoder

        arrow = ArrowEncoder(encoder, arrow_partitions)
    idx = _rows(frame, rows)
    events = quarantined = 0
    for lo in range(0, len(idx), chunk_rows):
        part = idx[lo : lo + chunk_rows]
        if arrow is not None:
            chunk = arrow.encode(frame, part)
            events += len(part) - len(chunk.quarantine_values)
        else:
            chunk = encoder.encode(frame, part)
            events += len(chunk.values)
        _append(producer, EVENTS, chunk.values, chunk.keys)
        _append(producer, QUARANTINE, chunk.quarantine_values, chunk.quarantine_keys)
        quarantined += len(chunk.quarantine_values)
        if progress is not None:
            progress(len(part))
    return OutputResult(len(idx), events, quarantined, time.perf_counter() - started)


def _partitions_of_rows(
    world: World, frame: EventFrame, rows: npt.NDArray[np.int64], partitions: int
) -> npt.NDArray[np.int64]:
    """The ``events`` partition of each row: CRC-32 of its key, as the local bus computes it."""
    keys = [
        k.encode() for pair in zip(world.anonymous_ids, world.user_ids, strict=True) for k in pair
    ]
    table = np.array([zlib.crc32(k) % partitions for k in keys], dtype=np.int64)
    return table[frame.user[rows] * 2 + frame.ident[rows]]


def _bus_worker(
    settings: Any,
    world: World,
    frame: EventFrame,
    rows: npt.NDArray[np.int64],
    source: str,
    plan: CompiledPlan | None,
    chunk_rows: int,
    done: Any,
    results: Any,
    slot: int,
    arrow_partitions: int | None,
) -> None:
    """One forked writer: encodes and appends its share of the rows."""
    from eventlake.bus import open_producer

    producer = open_producer(settings)
    try:
        result = write_bus(
            world,
            frame,
            producer,
            source=source,
            plan=plan,
            rows=rows,
            chunk_rows=chunk_rows,
            progress=lambda n: _add(done, n),
            arrow_partitions=arrow_partitions,
        )
    finally:
        producer.close()
    results[2 * slot] = result.events
    results[2 * slot + 1] = result.quarantined


def _add(counter: Any, n: int) -> None:
    with counter.get_lock():
        counter.value += n


def write_bus_parallel(
    world: World,
    frame: EventFrame,
    settings: Any,
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

    ``record_format`` "arrow" (local bus only; many events per record) or "json" (one
    event per record, any backend). Each process owns the rows of the ``events``
    partitions ``p % workers == w``, so every partition receives the same records in the
    same order (same offsets) as with one process; only the interleaving of the
    ``quarantine`` topic differs. The local bus serialises appends of several processes
    per partition. Other backends, or ``workers <= 1``, use one process.
    """
    import multiprocessing as mp

    from eventlake.bus import open_producer
    from eventlake.bus.local import topic_partitions

    idx = _rows(frame, rows)
    local = settings.bus.backend == "local"
    if record_format not in ("arrow", "json"):
        raise ValueError(f"record_format must be 'arrow' or 'json', got {record_format!r}")
    nparts = (
        topic_partitions(settings.resolve(settings.bus.path), EVENTS, settings.bus.partitions)
        if local
        else None
    )
    arrow_partitions = nparts if record_format == "arrow" else None
    if workers <= 1 or not local or len(idx) < 2 * chunk_rows:
        producer = open_producer(settings)
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
            )
        finally:
            producer.close()
    started = time.perf_counter()
    assert nparts is not None
    part = _partitions_of_rows(world, frame, idx, nparts)
    ctx = mp.get_context("fork")
    done = ctx.Value("q", 0)
    results = ctx.Array("q", 2 * workers)
    procs = []
    for w in range(workers):
        share = idx[part % workers == w]
        proc = ctx.Process(
            target=_bus_worker,
            args=(
                settings,
                world,
                frame,
                share,
                source,
                plan,
                chunk_rows,
                done,
                results,
                w,
                arrow_partitions,
            ),
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
    events = sum(results[2 * w] for w in range(workers))
    quarantined = sum(results[2 * w + 1] for w in range(workers))
    return OutputResult(len(idx), events, quarantined, time.perf_counter() - started)


def write_jsonl(
    world: World,
    frame: EventFrame,
    path: Path,
    *,
    rows: npt.NDArray[np.int64] | None = None,
    progress: Progress | None = None,
) -> OutputResult:
    """Write raw Segment events (with ``sentAt``), one JSON object per line, atomically."""
    started = time.perf_counter()
    idx = _rows(frame, rows)
    encode = msgspec.json.encode
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        for lo in range(0, len(idx), 20_000):
            part = idx[lo : lo + 20_000].tolist()
            fh.write(b"".join(encode(segment_event(world, frame, i)) + b"\n" for i in part))
            if progress is not None:
                progress(len(part))
    tmp.replace(path)
    return OutputResult(len(idx), len(idx), 0, time.perf_counter() - started)


def send_http(
    world: World,
    frame: EventFrame,
    url: str,
    write_key: str,
    *,
    rows: npt.NDArray[np.int64] | None = None,
    progress: Progress | None = None,
    timeout: float = 120.0,
) -> OutputResult:
    """Send rows through the tracker SDK over HTTP; returns once all are flushed.

    Events the collector rejects for good (4xx) are counted in ``errors``; events it
    quarantines are accepted by HTTP and counted as sent (the reply names them).
    """
    from eventlake.tracker import Client

    started = time.perf_counter()
    idx = _rows(frame, rows)
    errors = [0]

    def on_error(exc: BaseException, batch: list[dict[str, object]]) -> None:
        errors[0] += len(batch)

    clients: dict[str, Client] = {}
    try:
        for lo in range(0, len(idx), 5_000):
            part = idx[lo : lo + 5_000].tolist()
            for i in part:
                host = world.hosts[int(frame.user[i])]
                client = clients.get(host)
                if client is None:
                    client = clients[host] = Client(
                        write_key,
                        url,
                        headers={"Host": host},
                        on_error=on_error,
                        block_when_full=True,
                        flush_interval=0.2,
                    )
                client.enqueue(segment_event(world, frame, i, sent_at=False))
            if progress is not None:
                progress(len(part))
        for client in clients.values():
            client.flush(timeout=timeout)
    finally:
        for client in clients.values():
            client.shutdown(timeout=timeout)
    return OutputResult(len(idx), len(idx) - errors[0], 0, time.perf_counter() - started, errors[0])
