"""Where generated events go: the local bus (bulk), a ``.jsonl`` file, or HTTP via the SDK.

- :func:`write_bus` encodes rows in chunks and appends them to topics ``events`` and
  ``quarantine`` with the collector's outcome, keyed by user: Arrow records of many events
  (``generate/arrow.py``) or one JSON record per event (``generate/encode.py``);
  ``write_bus_parallel`` (``generate/parallel.py``) does it on the configured bus, over
  several processes.
- :func:`write_jsonl` writes the raw Segment events a client would send, one per line
  (replayable against any Segment-compatible endpoint).
- :func:`send_http` sends the raw events through :class:`eventlake.tracker.Client`, one
  client per internet host provider so that the request's ``Host`` header carries it (the
  collector stores that header in the ``host`` column).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt

from eventlake.bus.base import EVENTS, QUARANTINE, Producer
from eventlake.generate.activity import EventFrame
from eventlake.generate.encode import BusEncoder, EncodedChunk, segment_event
from eventlake.generate.world import World
from eventlake.spec import CompiledPlan

__all__ = ["ChunkEncoder", "OutputResult", "send_http", "write_bus", "write_jsonl"]

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
    arrow_compression: str | None = None,
) -> OutputResult:
    """Append ``rows`` of ``frame`` (all by default) to the bus; durable on return.

    With ``arrow_partitions`` (the ``events`` topic's partition count on a local bus), the
    events the plan accepts go as Arrow records, one per partition per chunk
    (``generate/arrow.py``), body-compressed with ``arrow_compression``; otherwise, and
    always for quarantine, one JSON record each.
    ``OutputResult.events`` counts events, not records.
    """
    started = time.perf_counter()
    idx = _rows(frame, rows)
    with _arrow_pool(arrow_partitions):
        encode = _chunk_encoder(world, source, plan, arrow_partitions, arrow_compression)
        events, quarantined = _pump(encode, frame, producer, idx, chunk_rows, progress)
    return OutputResult(len(idx), events, quarantined, time.perf_counter() - started)


#: Encodes some rows of a frame, optionally with helper threads: (records per topic,
#: events among them).
ChunkEncoder = Callable[
    [EventFrame, npt.NDArray[np.int64], Executor | None], tuple[EncodedChunk, int]
]

#: Threads building one chunk's Arrow records (one record per partition) in parallel.
_ENCODE_THREADS = 2


def _arrow_pool(arrow_partitions: int | None) -> AbstractContextManager[object]:
    """Arrow on the system allocator while writing Arrow records (``arrow.py``)."""
    if arrow_partitions is None:
        return nullcontext()
    from eventlake.generate.arrow import system_memory_pool

    return system_memory_pool()


def _chunk_encoder(
    world: World,
    source: str,
    plan: CompiledPlan | None,
    arrow_partitions: int | None,
    arrow_compression: str | None,
) -> ChunkEncoder:
    """The encoder of one write: Arrow records (with ``arrow_partitions``) or JSON ones."""
    encoder = BusEncoder(world, source=source, plan=plan)
    if arrow_partitions is None:

        def encode_json(
            frame: EventFrame, part: npt.NDArray[np.int64], executor: Executor | None
        ) -> tuple[EncodedChunk, int]:
            chunk = encoder.encode(frame, part)
            return chunk, len(chunk.values)

        return encode_json
    from eventlake.generate.arrow import ArrowEncoder

    arrow = ArrowEncoder(encoder, arrow_partitions, compression=arrow_compression)

    def encode_arrow(
        frame: EventFrame, part: npt.NDArray[np.int64], executor: Executor | None
    ) -> tuple[EncodedChunk, int]:
        chunk = arrow.encode(frame, part, executor)
        return chunk, len(part) - len(chunk.quarantine_values)

    return encode_arrow


def _append_chunk(producer: Producer, chunk: EncodedChunk) -> None:
    _append(producer, EVENTS, chunk.values, chunk.keys)
    _append(producer, QUARANTINE, chunk.quarantine_values, chunk.quarantine_keys)


def _pump(
    encode: ChunkEncoder,
    frame: EventFrame,
    producer: Producer,
    idx: npt.NDArray[np.int64],
    chunk_rows: int,
    progress: Progress | None,
) -> tuple[int, int]:
    """Encode ``idx`` chunk by chunk and append each; returns (events, quarantined).

    One chunk is appended (written and fsynced, mostly outside the GIL) on a helper
    thread while the next one is encoded, itself on ``_ENCODE_THREADS`` threads (Arrow
    records of different partitions); appends stay in chunk order. Durable on return.
    """
    events = quarantined = 0
    pending: tuple[Future[None], int] | None = None

    def settle() -> None:
        assert pending is not None
        pending[0].result()
        if progress is not None:
            progress(pending[1])

    with (
        ThreadPoolExecutor(1, thread_name_prefix="generate-append") as appender,
        ThreadPoolExecutor(_ENCODE_THREADS, thread_name_prefix="generate-encode") as helpers,
    ):
        for lo in range(0, len(idx), chunk_rows):
            part = idx[lo : lo + chunk_rows]
            chunk, n_events = encode(frame, part, helpers)
            events += n_events
            quarantined += len(chunk.quarantine_values)
            if pending is not None:
                settle()
            pending = (appender.submit(_append_chunk, producer, chunk), len(part))
        if pending is not None:
            settle()
    return events, quarantined


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
