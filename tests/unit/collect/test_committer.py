"""Group commit onto the real local bus, and back-pressure when appends cannot keep up."""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import os
import threading
from pathlib import Path

import pytest

from eventlake.bus.local import LocalConsumer, LocalProducer
from eventlake.collect.committer import GroupCommitter, OverloadedError
from eventlake.errors import AppendTooLargeError, BusFullError
from eventlake.spec import PreparedBatch, prepare_events

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def batch(n: int, tag: str) -> PreparedBatch:
    events = [
        {"type": "track", "event": "E", "userId": f"u{i}", "messageId": f"{tag}-{i}"}
        for i in range(n)
    ]
    events.append({"type": "track"})  # one quarantined event per batch
    return prepare_events(events, received_at=NOW, source="t")


def count(root: Path, topic: str) -> int:
    consumer = LocalConsumer(root, f"g-{topic}", [topic])
    total = 0
    while records := consumer.poll(100_000, 0.05):
        total += len(records)
    consumer.close()
    return total


def test_concurrent_submits_share_appends_and_all_become_durable(tmp_path: Path) -> None:
    producer = LocalProducer(tmp_path)

    async def main() -> GroupCommitter:
        committer = GroupCommitter([producer, producer], max_inflight_bytes=10**9)
        committer.start()
        await asyncio.gather(*(committer.submit(batch(20, f"b{i}")) for i in range(60)))
        await asyncio.to_thread(committer.close)
        return committer

    committer = asyncio.run(main())
    producer.close()
    assert committer.appends < 60
    assert committer.inflight_bytes == 0
    assert count(tmp_path, "events") == 60 * 20
    assert count(tmp_path, "quarantine") == 60


def test_a_full_buffer_is_refused_at_once_and_recovers(tmp_path: Path) -> None:
    producer = LocalProducer(tmp_path, partitions=1)
    producer.append("events", [b"{}"])  # creates the partition and its lock file
    lock = os.open(tmp_path / "topics" / "events" / "0000" / ".lock", os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)  # another "process" holds the partition: appends block
    first = batch(5, "first")

    async def main() -> None:
        committer = GroupCommitter([producer], max_inflight_bytes=first.size + 10)
        committer.start()
        pending = asyncio.ensure_future(committer.submit(first))
        await asyncio.sleep(0.2)
        assert not pending.done()
        with pytest.raises(OverloadedError) as info:
            await committer.submit(batch(5, "second"))
        assert isinstance(info.value, BusFullError)
        assert "collect.max_inflight_bytes" in str(info.value)
        threading.Timer(0.1, fcntl.flock, (lock, fcntl.LOCK_UN)).start()
        await pending
        await committer.submit(batch(5, "third"))  # accepted again once drained
        await asyncio.to_thread(committer.close)

    asyncio.run(main())
    os.close(lock)
    producer.close()
    assert count(tmp_path, "events") == 1 + 5 + 5


def test_a_bus_error_reaches_every_request_of_the_group(tmp_path: Path) -> None:
    producer = LocalProducer(tmp_path, max_bytes=0)

    async def main() -> list[object]:
        committer = GroupCommitter([producer], max_inflight_bytes=10**9)
        committer.start()
        results = await asyncio.gather(
            *(committer.submit(batch(3, f"b{i}")) for i in range(5)), return_exceptions=True
        )
        await asyncio.to_thread(committer.close)
        return results

    results = asyncio.run(main())
    producer.close()
    assert all(isinstance(r, BusFullError) for r in results)


def test_a_request_bigger_than_the_in_flight_bound_is_terminal_not_overloaded(
    tmp_path: Path,
) -> None:
    """Issue 17: a request that can never fit got a retryable 503 ("0 bytes pending")."""
    producer = LocalProducer(tmp_path, partitions=1)
    big = batch(50, "big")

    async def main() -> None:
        committer = GroupCommitter([producer], max_inflight_bytes=big.size - 1)
        committer.start()
        with pytest.raises(AppendTooLargeError) as info:
            await committer.submit(big)  # even with nothing in flight
        assert not isinstance(info.value, BusFullError)
        await committer.submit(batch(5, "small"))
        await asyncio.to_thread(committer.close)

    asyncio.run(main())
    assert count(tmp_path, "events") == 5
