"""The tracker's retry policy, wire format and disk buffer, without a network."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest

from eventlake.tracker import (
    BufferInUseError,
    Client,
    DiskBuffer,
    backoff_delay,
    parse_retry_after,
)
from eventlake.tracker.transport import encode_body


def test_retry_after_seconds_and_http_date() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_backoff_grows_is_capped_jittered_and_honours_retry_after() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(a, base=0.5, cap=8.0, rng=rng) for a in range(10)]
    for attempt, d in enumerate(delays):
        step = min(8.0, 0.5 * 2**attempt)
        assert step / 2 <= d <= step
    assert max(delays) <= 8.0 and len(set(delays)) == len(delays)
    assert backoff_delay(0, base=0.5, cap=8.0, retry_after=20.0, rng=rng) == 20.0


def test_body_sets_sent_at_on_batch_and_events() -> None:
    body = json.loads(encode_body([b'{"type":"track","event":"A"}', b'{"type":"page"}']))
    assert len(body["batch"]) == 2
    assert all(e["sentAt"] == body["sentAt"] for e in body["batch"])


def test_disk_buffer_is_fifo_durable_and_exclusive(tmp_path: Path) -> None:
    buf = DiskBuffer(tmp_path / "b")
    buf.push([b'{"a":1}', b'{"a":2}'])
    buf.push([b'{"a":3}'])
    with pytest.raises(BufferInUseError):
        DiskBuffer(tmp_path / "b")
    buf.close()
    again = DiskBuffer(tmp_path / "b")
    assert again.messages == 3 and len(again) == 2
    seq, first = again.peek()  # type: ignore[misc]
    assert first == [b'{"a":1}', b'{"a":2}']
    again.remove(seq, len(first))
    assert again.messages == 1
    assert again.peek()[1] == [b'{"a":3}']  # type: ignore[index]
    again.close()


def test_calls_build_segment_messages_and_validate(tmp_path: Path, free_port: int) -> None:
    errors: list[tuple[BaseException, list]] = []
    client = Client(
        "k",
        f"http://127.0.0.1:{free_port}",
        buffer_dir=tmp_path / "buf",
        flush_interval=60,
        on_error=lambda e, b: errors.append((e, b)),
    )
    try:
        with pytest.raises(ValueError):
            client.track("Level Started")  # no id
        with pytest.raises(TypeError):
            client.track("X", user_id="u", colour="red")
        client.track("X", {"big": "x" * 40_000}, user_id="u")
        assert errors and "32 KB" in str(errors[0][0])
        ts = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
        mid = client.identify(
            "u1", {"name": "Ada"}, anonymous_id="a1", timestamp=ts, context={"locale": "fr-FR"}
        )
        client.alias("a1", "u1")
        client.group("g1", {"name": "Iron"}, user_id="u1")
        assert client.pending == 3
    finally:
        client.shutdown(timeout=0)
    buf = DiskBuffer(tmp_path / "buf")  # unsent messages were kept on disk
    seq, batch = buf.peek()  # type: ignore[misc]
    msgs = [json.loads(m) for m in batch]
    assert [m["type"] for m in msgs] == ["identify", "alias", "group"]
    ident = msgs[0]
    assert ident["messageId"] == mid and ident["userId"] == "u1"
    assert ident["anonymousId"] == "a1" and ident["traits"] == {"name": "Ada"}
    assert ident["originalTimestamp"] == "2026-01-02T03:04:05.000000Z"
    assert ident["context"]["locale"] == "fr-FR"
    assert ident["context"]["library"]["name"] == "eventlake-python"
    assert msgs[1]["previousId"] == "a1" and msgs[2]["groupId"] == "g1"
    buf.close()


def test_full_queue_without_disk_reports_and_drops(free_port: int) -> None:
    dropped: list[BaseException] = []
    client = Client(
        "k",
        f"http://127.0.0.1:{free_port}",
        max_queue_size=2,
        flush_interval=60,
        max_batch_events=50,
        on_error=lambda e, b: dropped.append(e),
    )
    try:
        for i in range(5):
            client.track("E", user_id=f"u{i}")
        assert len(dropped) == 3 and "queue full" in str(dropped[0])
    finally:
        client.shutdown(timeout=0)
    assert len(dropped) == 4  # the two queued ones are reported as undelivered at shutdown
