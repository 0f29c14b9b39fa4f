"""The bus stage: the durable log between collectors and landers.

``open_bus(config.bus, base_dir)`` is the factory, and the only code that reads
``bus.backend``: ``"local"`` (``bus/local_bus.py``, segment files on disk, the default) or
``"kafka"`` (``bus/kafka.py``, imported only when asked for). Either way it returns a
:class:`Bus` (protocol in ``bus/base.py``) that opens producers and consumers and answers
what waits on the log; code upstream and downstream sees nothing else. What only one backend
can do is a capability the bus reports (``crc32_partitions``) or an object only its factory
function hands out (``open_local_admin``, with a clear error for Kafka).

``open_producer(settings)`` / ``open_consumer(settings, group)`` are the one-call forms.

``start_offsets`` (a function ``TopicPartition -> offset | None``) is asked for the start of
every partition the consumer is given: once at open for the local log, on every
assignment (rebalance) for Kafka. The lander answers from the lake's commit records.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from eventlake.bus.base import (
    EVENTS,
    QUARANTINE,
    Backlog,
    Bus,
    Chunk,
    Consumer,
    OffsetRange,
    Producer,
    Record,
    StartOffsets,
    TopicPartition,
)
from eventlake.errors import ConfigError

if TYPE_CHECKING:
    from eventlake.bus.local_admin import LocalAdmin
    from eventlake.config import BusConfig, Settings

__all__ = [
    "EVENTS",
    "QUARANTINE",
    "Backlog",
    "Bus",
    "Chunk",
    "Consumer",
    "OffsetRange",
    "Producer",
    "Record",
    "StartOffsets",
    "TopicPartition",
    "open_bus",
    "open_consumer",
    "open_local_admin",
    "open_producer",
]


def _local_root(cfg: BusConfig, base_dir: Path | None) -> Path:
    """``bus.path`` made absolute as ``Settings.resolve`` does."""
    path = Path(cfg.path).expanduser()
    if path.is_absolute():
        return path
    return ((Path.cwd() if base_dir is None else Path(base_dir)) / path).resolve()


def open_bus(cfg: BusConfig, base_dir: Path | None = None) -> Bus:
    """The bus named by ``cfg.backend``; ``base_dir`` resolves a relative ``cfg.path``
    (the project folder, ``Settings.base_dir``; the current directory when None)."""
    if cfg.backend == "local":
        from eventlake.bus.local_bus import LocalBus

        return LocalBus(cfg, _local_root(cfg, base_dir))
    if cfg.backend == "kafka":
        try:
            kafka = importlib.import_module("eventlake.bus.kafka")
        except ImportError as exc:
            raise ConfigError(
                "bus.backend = 'kafka' but the Kafka backend is not available "
                f"({exc}); install eventlake[kafka] or set bus.backend = 'local'"
            ) from exc
        bus: Bus = kafka.KafkaBus(cfg)
        return bus
    raise ConfigError(f"unknown bus.backend {cfg.backend!r} (expected 'local' or 'kafka')")


def open_local_admin(cfg: BusConfig, base_dir: Path | None = None, *, verb: str) -> LocalAdmin:
    """Status and compaction of the local log; ``verb`` names the command for the error a
    Kafka bus gets (its cluster has its own tools and retention settings)."""
    if cfg.backend != "local":
        raise ConfigError(
            f"'eventlake bus {verb}' is for the local log; bus.backend is {cfg.backend!r} "
            "(use the cluster's own tools and retention settings)"
        )
    from eventlake.bus.local_admin import LocalAdmin

    return LocalAdmin(_local_root(cfg, base_dir))


def open_producer(settings: Settings) -> Producer:
    """A producer for the configured bus backend (thread-safe; durable on return)."""
    return open_bus(settings.bus, settings.base_dir).producer()


def open_consumer(
    settings: Settings,
    group: str,
    topics: Sequence[str] = (EVENTS, QUARANTINE),
    start_offsets: StartOffsets | None = None,
) -> Consumer:
    """A consumer of ``topics`` for consumer group ``group`` on the configured backend."""
    return open_bus(settings.bus, settings.base_dir).consumer(group, topics, start_offsets)
