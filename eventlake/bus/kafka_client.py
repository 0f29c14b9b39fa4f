"""What the Kafka producer, consumer and bus share: the client library, names, topics.

Why confluent-kafka: librdkafka is the reference C client (idempotent producer, cooperative
consumer groups, SASL/SSL), and on this machine it produced 320-520k msg/s with ``acks=all``
against a Kafka-protocol broker, far beyond the pure-Python clients.

Protocol topic names (``events``, ``quarantine``) map to the configured Kafka topics
(``bus.topic``, ``bus.quarantine_topic``); records read back carry the protocol name, so
commit ids in the lake do not depend on the cluster's naming.
"""

from __future__ import annotations

import importlib
from typing import Any

from eventlake.bus.base import EVENTS, QUARANTINE
from eventlake.config import BusConfig
from eventlake.errors import BusError, ConfigError

__all__ = ["base_conf", "client", "ensure_topics", "murmur2", "partitions_of", "topic_names"]


def client() -> Any:
    """The ``confluent_kafka`` module, or a ConfigError saying how to install it."""
    try:
        import confluent_kafka
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ConfigError(
            "bus.backend = 'kafka' needs confluent-kafka: pip install 'eventlake[kafka]'"
        ) from exc
    return confluent_kafka


def topic_names(cfg: BusConfig) -> dict[str, str]:
    """Protocol topic -> Kafka topic."""
    return {EVENTS: cfg.topic, QUARANTINE: cfg.quarantine_topic}


def base_conf(cfg: BusConfig) -> dict[str, Any]:
    """librdkafka settings every client gets: the servers and ``bus.client_options``."""
    return {"bootstrap.servers": cfg.bootstrap_servers, **cfg.client_options}


def partitions_of(handle: Any, name: str, servers: str, timeout: float = 10.0) -> list[int]:
    """Partition ids of Kafka topic ``name`` ([] when it does not exist), via any client."""
    kafka = client()
    try:
        meta = handle.list_topics(name, timeout=timeout).topics.get(name)
    except kafka.KafkaException as exc:
        raise BusError(
            f"cannot read the partitions of Kafka topic {name} at {servers}: {exc}"
        ) from exc
    if meta is None or meta.error is not None:
        return []
    return sorted(meta.partitions)


def ensure_topics(cfg: BusConfig, timeout: float = 15.0) -> None:
    """Create the events and quarantine topics (``cfg.partitions`` each) when missing."""
    kafka = client()
    admin_mod: Any = importlib.import_module("confluent_kafka.admin")
    admin = admin_mod.AdminClient(base_conf(cfg))
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except kafka.KafkaException as exc:
        raise BusError(f"cannot reach Kafka at {cfg.bootstrap_servers}: {exc}") from exc
    missing = [t for t in topic_names(cfg).values() if t not in existing]
    if not missing:
        return
    futures = admin.create_topics(
        [
            admin_mod.NewTopic(t, num_partitions=cfg.partitions, replication_factor=-1)
            for t in missing
        ]
    )
    for topic, future in futures.items():
        try:
            future.result(timeout)
        except kafka.KafkaException as exc:
            if exc.args and exc.args[0].code() == kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise BusError(f"cannot create Kafka topic {topic}: {exc}") from exc


def murmur2(key: bytes) -> int:
    """Kafka's murmur2 hash of a key (the Java client's and librdkafka's ``murmur2``)."""
    m, length = 0x5BD1E995, len(key)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(key[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail, rest = length & ~3, length % 4
    if rest >= 3:
        h ^= key[tail + 2] << 16
    if rest >= 2:
        h ^= key[tail + 1] << 8
    if rest >= 1:
        h ^= key[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h
