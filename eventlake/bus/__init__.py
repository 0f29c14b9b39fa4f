"""The bus stage: the durable log between collectors and landers.

``open_producer(settings)`` and ``open_consumer(settings, group)`` pick the backend named by
``settings.bus.backend``: ``"local"`` (``bus/local.py``, segment files on disk, the default)
or ``"kafka"`` (``bus/kafka.py``, imported only when asked for). Both implement the
protocol in ``bus/base.py``; code upstream and downstream sees nothing else.

``start_offsets`` (a function ``TopicPartition -> offset | None``) is asked for the start of
every partition the consumer is given: once at open for the local log, on every
assignment (rebalance) for Kafka. The lander answers from the lake's commit records.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from eventlake.bus.base import EVENTS, QUARANTINE, Consumer, Producer, Record, TopicPartition
from eventlake.errors import ConfigError

if TYPE_CHECKING:
    from eventlake.config import Settings

__all__ = [
    "EVENTS",
    "QUARANTINE",
    "Consumer",
    "Producer",
    "Record",
    "TopicPartition",
    "StartOffsets",
    "open_consumer",
    "open_producer",
]

#: Asked for the first offset to read of each assigned partition (None: the group's own).
StartOffsets = Callable[[TopicPartition], "int | None"]


def _kafka() -> Any:
    try:
        return importlib.import_module("eventlake.bus.kafka")
    except ImportError as exc:
        raise ConfigError(
            "bus.backend = 'kafka' but the Kafka backend is not available "
            f"({exc}); install eventlake[kafka] or set bus.backend = 'local'"
        ) from exc


def open_producer(settings: Settings) -> Producer:
    """A producer for the configured bus backend (thread-safe; durable on return)."""
    bus = settings.bus
    if bus.backend == "local":
        from eventlake.bus.local import LocalProducer

        return LocalProducer(
            settings.resolve(bus.path),
            partitions=bus.partitions,
            segment_bytes=bus.segment_bytes,
            max_bytes=bus.max_bytes,
            max_pending_bytes=bus.max_pending_bytes,
        )
    if bus.backend == "kafka":
        producer: Producer = _kafka().KafkaProducer(bus)
        return producer
    raise ConfigError(f"unknown bus.backend {bus.backend!r} (expected 'local' or 'kafka')")


def open_consumer(
    settings: Settings,
    group: str,
    topics: Sequence[str] = (EVENTS, QUARANTINE),
    start_offsets: StartOffsets | None = None,
) -> Consumer:
    """A consumer of ``topics`` for consumer group ``group`` on the configured backend."""
    bus = settings.bus
    if bus.backend == "local":
        from eventlake.bus.local import LocalConsumer

        return LocalConsumer(
            settings.resolve(bus.path),
            group,
            list(topics),
            partitions=bus.partitions,
            start_offsets=start_offsets,
        )
    if bus.backend == "kafka":
        consumer: Consumer = _kafka().KafkaConsumer(
            bus, group, topics=tuple(topics), start_offsets=start_offsets
        )
        return consumer
    raise ConfigError(f"unknown bus.backend {bus.backend!r} (expected 'local' or 'kafka')")
