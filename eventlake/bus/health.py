"""Is the bus writable now, and how far does it reach: what ``/healthz`` asks of the bus.

:func:`probe_bus` answers the question a collector's health check must answer (can an
append succeed right now?) without appending anything, so it never puts a record on the
bus; :func:`end_offsets` gives each partition's end for the lander's lag. Both go through
the configured backend:

- local log: the log's folder must exist and take a small file that is written, fsynced
  and removed (a read-only or full filesystem, or a missing folder, fails this), and the
  log must hold less than ``bus.max_bytes`` (past it every append gets ``BusFullError``).
  End offsets come from the frame headers of each partition's last segment (24 bytes
  read per frame; payloads are skipped, not checked);
- Kafka: the brokers must answer a metadata request within the timeout and know both
  topics. End offsets are not read (None): the broker's own consumer-lag tools show them.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from eventlake.bus.base import EVENTS, QUARANTINE
from eventlake.bus.frames import HEADER_SIZE, MAGIC, MAX_PAYLOAD
from eventlake.bus.local_layout import list_segments, log_bytes, segment_path

if TYPE_CHECKING:
    from eventlake.config import Settings

__all__ = ["BusProbe", "end_offsets", "probe_bus"]

_HEADER = struct.Struct("<4sIQII")
_PROBE_NAME = ".healthz-probe"


@dataclass(frozen=True, slots=True)
class BusProbe:
    """The outcome of :func:`probe_bus`: ``writable`` and, when not, why (``detail``)."""

    backend: str
    writable: bool
    detail: str

    def to_dict(self) -> dict[str, object]:
        return {"backend": self.backend, "writable": self.writable, "detail": self.detail}


def probe_bus(settings: Settings, *, timeout: float = 2.0) -> BusProbe:
    """Whether an append to the configured bus can succeed now (nothing is appended)."""
    bus = settings.bus
    if bus.backend == "local":
        return _probe_local(settings.resolve(bus.path), bus.max_bytes)
    if bus.backend == "kafka":
        return _probe_kafka(settings, timeout)
    return BusProbe(bus.backend, False, f"unknown bus.backend {bus.backend!r}")


def _probe_local(root: Path, max_bytes: int) -> BusProbe:
    if not root.is_dir():
        return BusProbe("local", False, f"the bus folder {root} does not exist or is no folder")
    probe = root / _PROBE_NAME
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, b"ok")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return BusProbe(
            "local", False, f"cannot write to the bus folder {root}: {exc.strerror or exc}"
        )
    try:
        size = log_bytes(root)
    except OSError as exc:
        return BusProbe("local", False, f"cannot list the bus folder {root}: {exc}")
    if size >= max_bytes:
        return BusProbe(
            "local",
            False,
            f"the bus is full: it holds {size:,} bytes, bus.max_bytes is {max_bytes:,}; "
            "land and run `eventlake bus compact` to make room",
        )
    return BusProbe("local", True, f"{size:,} of {max_bytes:,} bytes used")


def _probe_kafka(settings: Settings, timeout: float) -> BusProbe:
    try:
        from confluent_kafka.admin import AdminClient
    except ImportError as exc:
        return BusProbe("kafka", False, f"the Kafka client is not installed ({exc})")
    bus = settings.bus
    conf = {"bootstrap.servers": bus.bootstrap_servers, **bus.client_options}
    try:
        metadata = AdminClient(conf).list_topics(timeout=timeout)
    except Exception as exc:  # KafkaException and librdkafka's transport errors
        return BusProbe("kafka", False, f"brokers {bus.bootstrap_servers} do not answer: {exc}")
    missing = [t for t in (bus.topic, bus.quarantine_topic) if t not in metadata.topics]
    if missing:
        return BusProbe("kafka", False, f"topic(s) {', '.join(missing)} do not exist yet")
    return BusProbe("kafka", True, f"{len(metadata.brokers)} broker(s) answer")


def end_offsets(settings: Settings) -> dict[str, int] | None:
    """Next offset to be written per ``topic/partition`` (``events``, ``quarantine``).

    None when the backend cannot tell cheaply (Kafka) or no local log exists yet.
    """
    if settings.bus.backend != "local":
        return None
    root = settings.resolve(settings.bus.path)
    topics = root / "topics"
    if not topics.is_dir():
        return None
    out: dict[str, int] = {}
    for topic in (EVENTS, QUARANTINE):
        tdir = topics / topic
        if not tdir.is_dir():
            continue
        for pdir in sorted(p for p in tdir.iterdir() if p.is_dir() and p.name.isdigit()):
            segments = list_segments(pdir)
            if segments:
                out[f"{topic}/{int(pdir.name)}"] = _segment_end(pdir, segments[-1])
    return out


def _segment_end(pdir: Path, base: int) -> int:
    """Offset after the last whole frame of a segment, from the frame headers alone."""
    try:
        fd = os.open(segment_path(pdir, base), os.O_RDONLY)
    except FileNotFoundError:  # compacted away meanwhile
        return base
    try:
        size = os.fstat(fd).st_size
        pos, end = 0, base
        while pos + HEADER_SIZE <= size:
            magic, length, first, count, _ = _HEADER.unpack(os.pread(fd, HEADER_SIZE, pos))
            if magic != MAGIC or length > MAX_PAYLOAD or pos + HEADER_SIZE + length > size:
                break  # a frame being written, or a torn tail
            pos, end = pos + HEADER_SIZE + length, first + count
        return end
    finally:
        os.close(fd)
