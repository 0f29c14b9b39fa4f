"""Kafka bus backend: the bus protocol on a Kafka cluster (scale-out twin of ``bus/local.py``).

``KafkaBus`` is the backend (``eventlake.bus.open_bus`` builds it for ``bus.backend =
"kafka"``); it opens a :class:`KafkaProducer` (here) and a
:class:`~eventlake.bus.kafka_consumer.KafkaConsumer` (``bus/kafka_consumer.py``, which also
says how the consumer joins and leaves its group). Client helpers are in
``bus/kafka_client.py``.

Contracts, as for every backend (``bus/base.py``):
- ``append`` returns once the broker acknowledged every record (``acks=all`` with the
  idempotent producer, so a retried send is never written twice); a full local queue
  raises ``BusFullError`` (retryable) instead of growing without bound.
- Keys are partitioned with murmur2 (the Java client's partitioner), so a user's events
  stay in one partition whatever client produced them.
- ``backlog`` reads the waiting records between the given offsets and each partition's
  high watermark and counts their events; nothing is committed and no group is joined.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from eventlake.bus.base import (
    EVENTS,
    QUARANTINE,
    Backlog,
    BusProbe,
    StartOffsets,
    TopicPartition,
)
from eventlake.bus.kafka_client import base_conf, client, ensure_topics, murmur2, topic_names
from eventlake.bus.kafka_consumer import KafkaConsumer, kafka_backlog, kafka_committed
from eventlake.config import BusConfig
from eventlake.errors import BusError, BusFullError

__all__ = ["KafkaBus", "KafkaConsumer", "KafkaProducer", "ensure_topics", "murmur2"]


class _Pending:
    """Delivery results of one ``append`` call, filled by librdkafka's callbacks."""

    __slots__ = ("results", "remaining", "error", "done", "lock")

    def __init__(self, n: int) -> None:
        self.results: list[tuple[int, int]] = [(-1, -1)] * n
        self.remaining = n
        self.error: str | None = None
        self.done = threading.Event()
        self.lock = threading.Lock()
        if n == 0:
            self.done.set()

    def callback(self, index: int) -> Callable[[Any, Any], None]:
        def on_delivery(err: Any, msg: Any) -> None:
            # poll() runs in the poller thread, but close()'s flush() may also serve callbacks.
            with self.lock:
                if err is not None:
                    self.error = self.error or str(err)
                else:
                    self.results[index] = (msg.partition(), msg.offset())
                self.remaining -= 1
                if self.remaining == 0:
                    self.done.set()

        return on_delivery


class KafkaProducer:
    """Producer on Kafka; thread-safe; durable (acks=all) on return of ``append``."""

    def __init__(self, cfg: BusConfig, *, delivery_timeout: float = 30.0) -> None:
        kafka = client()
        self._names = topic_names(cfg)
        self._delivery_timeout = delivery_timeout
        ensure_topics(cfg)
        conf = {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            "compression.type": "lz4",
            "partitioner": "murmur2_random",
            "delivery.timeout.ms": int(delivery_timeout * 1000),
            "queue.buffering.max.kbytes": 256 * 1024,
            **base_conf(cfg),
        }
        self._producer = kafka.Producer(conf)
        self._nparts: dict[str, int] = {}
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="kafka-poll", daemon=True)
        self._poller.start()

    def _poll_loop(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.05)

    def partition_for(self, topic: str, key: bytes) -> int:
        """The partition a record with ``key`` goes to: murmur2, as the Java client."""
        name = self._names.get(topic)
        if name is None:
            raise BusError(f"unknown bus topic {topic!r} (expected one of {sorted(self._names)})")
        n = self._nparts.get(name)
        if n is None:
            try:
                meta = self._producer.list_topics(name, timeout=10).topics[name]
            except Exception as exc:  # librdkafka raises KafkaException
                raise BusError(f"cannot read the partitions of Kafka topic {name}: {exc}") from exc
            n = self._nparts[name] = len(meta.partitions)
        return (murmur2(key) & 0x7FFFFFFF) % n

    def append(
        self,
        topic: str,
        values: Sequence[bytes],
        keys: Sequence[bytes | None] | None = None,
        *,
        partitions: Sequence[int] | None = None,
    ) -> list[tuple[int, int]]:
        """Send ``values``; return (partition, offset) of each once the broker acked all.

        ``partitions`` (one per value) sends each value to that partition instead of the
        key's (see :meth:`partition_for`).
        """
        name = self._names.get(topic)
        if name is None:
            raise BusError(f"unknown bus topic {topic!r} (expected one of {sorted(self._names)})")
        if partitions is not None and len(partitions) != len(values):
            raise BusError(f"append: {len(values)} values but {len(partitions)} partitions")
        pending = _Pending(len(values))
        for i, value in enumerate(values):
            key = keys[i] if keys is not None else None
            extra: dict[str, int] = {} if partitions is None else {"partition": partitions[i]}
            try:
                self._producer.produce(
                    name, value=value, key=key, on_delivery=pending.callback(i), **extra
                )
            except BufferError as exc:
                raise BusFullError(
                    f"Kafka producer queue is full ({i} of {len(values)} records queued); "
                    "retry later"
                ) from exc
        if not pending.done.wait(self._delivery_timeout + 5):
            raise BusError(f"Kafka did not acknowledge {pending.remaining} records in time")
        if pending.error is not None:
            raise BusError(f"Kafka rejected records: {pending.error}")
        return pending.results

    def close(self) -> None:
        """Deliver what is queued, then stop."""
        self._producer.flush(self._delivery_timeout)
        self._closed.set()
        self._poller.join(timeout=5)


class KafkaBus:
    """A Kafka cluster as the bus (``bus.bootstrap_servers``, ``bus.topic``...)."""

    def __init__(self, cfg: BusConfig) -> None:
        client()  # a ConfigError now, not at first use, when confluent-kafka is missing
        self._cfg = cfg

    @property
    def config(self) -> BusConfig:
        return self._cfg

    def describe(self) -> str:
        cfg = self._cfg
        return f"kafka bus {cfg.bootstrap_servers} (topics {cfg.topic}, {cfg.quarantine_topic})"

    def producer(self) -> KafkaProducer:
        return KafkaProducer(self._cfg)

    def consumer(
        self,
        group: str,
        topics: Sequence[str] = (EVENTS, QUARANTINE),
        start_offsets: StartOffsets | None = None,
    ) -> KafkaConsumer:
        return KafkaConsumer(self._cfg, group, topics=tuple(topics), start_offsets=start_offsets)

    def crc32_partitions(self, topic: str) -> None:
        """None: Kafka maps keys with murmur2 (:meth:`KafkaProducer.partition_for`)."""
        return None

    def committed(
        self, group: str, topics: Sequence[str] = (EVENTS, QUARANTINE)
    ) -> dict[TopicPartition, int]:
        return kafka_committed(self._cfg, group, topics)

    def backlog(
        self, after: Mapping[TopicPartition, int], topics: Sequence[str] = (EVENTS, QUARANTINE)
    ) -> list[Backlog]:
        return kafka_backlog(self._cfg, after, topics)

    def probe(self, timeout: float = 2.0) -> BusProbe:
        from confluent_kafka.admin import AdminClient

        cfg = self._cfg
        conf = {"bootstrap.servers": cfg.bootstrap_servers, **cfg.client_options}
        try:
            metadata = AdminClient(conf).list_topics(timeout=timeout)
        except Exception as exc:  # KafkaException and librdkafka's transport errors
            return BusProbe("kafka", False, f"brokers {cfg.bootstrap_servers} do not answer: {exc}")
        missing = [t for t in (cfg.topic, cfg.quarantine_topic) if t not in metadata.topics]
        if missing:
            return BusProbe("kafka", False, f"topic(s) {', '.join(missing)} do not exist yet")
        return BusProbe("kafka", True, f"{len(metadata.brokers)} broker(s) answer")

    def end_offsets(self) -> None:
        """None: reading every partition's end costs a fetch per partition on Kafka (and
        the test broker misreports it); the broker's consumer-lag tools show the lag."""
        return None
