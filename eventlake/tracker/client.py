"""The Python tracker SDK's public face: ``Client`` and the six Segment calls.

A call builds a Segment Spec message (``messageId``, ``originalTimestamp``,
``context.library``...), encodes it once, and puts it on a bounded in-memory queue; a
background thread (``tracker/worker.py``) batches and sends it. Calls never block on the
network. When the queue is full, the queue is spilled to the on-disk buffer
(``buffer_dir``), or the call waits (``block_when_full``), or the message is reported to
``on_error`` and dropped, in that order of preference.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec

from eventlake.errors import EventlakeError
from eventlake.tracker.buffer import DiskBuffer
from eventlake.tracker.worker import DeliveryError, ErrorCallback, Worker, WorkerConfig

__all__ = ["Client", "QueueFullError", "EventTooLargeError", "LIBRARY"]

LIBRARY = {"name": "eventlake-python", "version": "0.1.0"}
#: Segment's limit for one event; the collector refuses bigger ones.
MAX_EVENT_BYTES = 32 * 1024

_ENCODE = msgspec.json.Encoder().encode


class QueueFullError(EventlakeError):
    """The in-memory queue is full and there is no disk buffer: the message was dropped."""


class EventTooLargeError(EventlakeError):
    """One message is over the 32 KB per-event limit: it was dropped."""


def _iso(value: _dt.datetime | str | None) -> str:
    if value is None:
        value = _dt.datetime.now(_dt.UTC)
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    return value.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Client:
    """Sends Segment events to an eventlake collector (or any Segment-compatible endpoint).

    Args:
        write_key: the source's write key (sent as the HTTP Basic user name).
        host: the collector's base URL, e.g. ``http://127.0.0.1:8088``.
        max_queue_size: messages held in memory before spilling / blocking / dropping.
        max_batch_events, max_batch_bytes, flush_interval: a batch is sent when it has
            this many events, would exceed this many bytes (under the collector's 500 KB),
            or its oldest event is this many seconds old.
        buffer_dir: folder of the on-disk buffer (survives restarts); None keeps memory only.
        block_when_full: without a disk buffer, wait for room instead of dropping.
        on_error: ``callback(error, messages)`` for messages given up on (a 4xx refusal, a
            full queue, an oversized event, or unsent at shutdown without a disk buffer).
        headers: extra HTTP headers of every request (e.g. ``Host``).
        base_backoff, max_backoff: retry delays (exponential, jittered, capped).

    Thread-safe. Use as a context manager or call :meth:`shutdown` before exit (an
    ``atexit`` hook does it too, with a short timeout).

    Example::

        client = Client("my-write-key", "http://127.0.0.1:8088")
        client.track("Item Purchased", {"item": "sword", "price": 4.99, "currency": "USD"},
                      user_id="player-1")
        client.shutdown()
    """

    def __init__(
        self,
        write_key: str,
        host: str = "http://127.0.0.1:8088",
        *,
        max_queue_size: int = 10_000,
        max_batch_events: int = 100,
        max_batch_bytes: int = 450_000,
        flush_interval: float = 0.5,
        buffer_dir: Path | str | None = None,
        block_when_full: bool = False,
        on_error: ErrorCallback | None = None,
        headers: Mapping[str, str] | None = None,
        gzip: bool = True,
        timeout: float = 10.0,
        base_backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        if not write_key:
            raise ValueError("write_key is required")
        if max_queue_size < 1 or max_batch_events < 1:
            raise ValueError("max_queue_size and max_batch_events must be >= 1")
        self.write_key = write_key
        self.url = host.rstrip("/") + "/v1/batch"
        self.max_queue_size = max_queue_size
        self.block_when_full = block_when_full
        self._cond = threading.Condition()
        self._queue: deque[tuple[float, bytes]] = deque()
        self._disk = DiskBuffer(buffer_dir) if buffer_dir is not None else None
        self._worker = Worker(
            WorkerConfig(
                url=self.url,
                write_key=write_key,
                max_batch_events=max_batch_events,
                max_batch_bytes=max_batch_bytes,
                flush_interval=flush_interval,
                base_backoff=base_backoff,
                max_backoff=max_backoff,
                timeout=timeout,
                gzip=gzip,
                headers=dict(headers or {}),
            ),
            self._queue,
            self._cond,
            self._disk,
            on_error,
        )
        self._closed = False
        self._worker.thread.start()
        atexit.register(self._at_exit)

    # -- the Segment calls ----------------------------------------------------------------
    def track(
        self,
        event: str,
        properties: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        **options: Any,
    ) -> str:
        """Record that ``event`` happened; returns the messageId."""
        if not event:
            raise ValueError("track needs an event name")
        return self._call(
            "track", user_id, anonymous_id, options, event=event, properties=dict(properties or {})
        )

    def identify(
        self,
        user_id: str | None = None,
        traits: Mapping[str, Any] | None = None,
        *,
        anonymous_id: str | None = None,
        **options: Any,
    ) -> str:
        """Tie a user to their traits (and an anonymous id to the user)."""
        return self._call("identify", user_id, anonymous_id, options, traits=dict(traits or {}))

    def page(
        self,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        **options: Any,
    ) -> str:
        """Record a web page view."""
        return self._call(
            "page", user_id, anonymous_id, options, name=name, properties=dict(properties or {})
        )

    def screen(
        self,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        **options: Any,
    ) -> str:
        """Record a mobile screen view."""
        return self._call(
            "screen", user_id, anonymous_id, options, name=name, properties=dict(properties or {})
        )

    def group(
        self,
        group_id: str,
        traits: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        **options: Any,
    ) -> str:
        """Associate a user with a group (a guild, a company...)."""
        if not group_id:
            raise ValueError("group needs a group_id")
        return self._call(
            "group", user_id, anonymous_id, options, groupId=group_id, traits=dict(traits or {})
        )

    def alias(self, previous_id: str, user_id: str, **options: Any) -> str:
        """Merge ``previous_id`` (an old or anonymous id) into ``user_id``."""
        if not previous_id or not user_id:
            raise ValueError("alias needs previous_id and user_id")
        return self._call("alias", user_id, None, options, previousId=previous_id)

    def _call(
        self,
        kind: str,
        user_id: str | None,
        anonymous_id: str | None,
        options: dict[str, Any],
        **fields: Any,
    ) -> str:
        if user_id is None and anonymous_id is None:
            raise ValueError(f"{kind} needs user_id or anonymous_id")
        unknown = set(options) - {"context", "timestamp", "message_id", "integrations"}
        if unknown:
            raise TypeError(f"{kind}() got unexpected options {sorted(unknown)}")
        msg: dict[str, Any] = {"type": kind, **{k: v for k, v in fields.items() if v is not None}}
        if user_id is not None:
            msg["userId"] = user_id
        if anonymous_id is not None:
            msg["anonymousId"] = anonymous_id
        if options.get("message_id"):
            msg["messageId"] = options["message_id"]
        if options.get("context"):
            msg["context"] = dict(options["context"])
        if options.get("integrations"):
            msg["integrations"] = dict(options["integrations"])
        msg["originalTimestamp"] = _iso(options.get("timestamp"))
        return self.enqueue(msg)

    # -- queueing -------------------------------------------------------------------------
    def enqueue(self, message: Mapping[str, Any]) -> str:
        """Queue a raw Segment message as is (fills messageId, originalTimestamp, library).

        Returns its messageId. Never blocks on the network.
        """
        if self._closed:
            raise EventlakeError("the tracker client is shut down")
        msg = dict(message)
        msg.pop("sentAt", None)  # set when the batch is sent
        msg.setdefault("messageId", str(uuid.uuid4()))
        if "originalTimestamp" not in msg and "timestamp" not in msg:
            msg["originalTimestamp"] = _iso(None)
        context = dict(msg.get("context") or {})
        context.setdefault("library", LIBRARY)
        msg["context"] = context
        data = _ENCODE(msg)
        message_id = str(msg["messageId"])
        if len(data) > MAX_EVENT_BYTES:
            self._worker.report(
                EventTooLargeError(f"event {message_id} is {len(data)} bytes (limit 32 KB)"),
                [data],
            )
            return message_id
        with self._cond:
            if len(self._queue) >= self.max_queue_size:
                if self._disk is not None:
                    self._spill()
                elif self.block_when_full:
                    while len(self._queue) >= self.max_queue_size and not self._closed:
                        self._cond.wait(0.5)
                else:
                    self._worker.report(
                        QueueFullError(f"tracker queue full ({self.max_queue_size}); dropped"),
                        [data],
                    )
                    return message_id
            self._queue.append((time.monotonic(), data))
            if len(self._queue) == 1 or len(self._queue) >= self._worker.config.max_batch_events:
                self._cond.notify_all()
        return message_id

    def _spill(self) -> None:
        """Move the whole queue (the oldest messages) to disk; hold ``_cond``."""
        assert self._disk is not None
        cfg = self._worker.config
        batch: list[bytes] = []
        size = 0
        while self._queue:
            msg = self._queue.popleft()[1]
            if batch and (
                len(batch) >= cfg.max_batch_events or size + len(msg) > cfg.max_batch_bytes
            ):
                self._disk.push(batch)
                batch, size = [], 0
            batch.append(msg)
            size += len(msg) + 1
        self._disk.push(batch)
        self._cond.notify_all()

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Messages not yet delivered (queued, in flight or on disk)."""
        with self._cond:
            return self._worker.pending()

    @property
    def stats(self) -> dict[str, int]:
        """Delivered and failed message counts and send attempts so far."""
        w = self._worker
        return {"delivered": w.delivered, "failed": w.failed, "attempts": w.attempts}

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued so far; True once all of it is settled, False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._worker.flush_requested += 1
            self._cond.notify_all()
            try:
                while self._worker.pending() > 0 and self._worker.thread.is_alive():
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cond.wait(0.1 if left is None else min(left, 0.1))
                return self._worker.pending() == 0
            finally:
                self._worker.flush_requested -= 1

    def shutdown(self, timeout: float | None = 10.0) -> None:
        """Flush (up to ``timeout``), stop the thread, and keep what is left on disk.

        Without a disk buffer, messages still unsent are reported to ``on_error``.
        """
        if self._closed:
            return
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._worker.stopping = True
            self._cond.notify_all()
        self._worker.thread.join()
        with self._cond:
            left = self._worker.take_leftovers()
        if left:
            if self._disk is not None:
                self._disk.push(left)
            else:
                self._worker.report(
                    DeliveryError(f"{len(left)} events not delivered before shutdown"), left
                )
        if self._disk is not None:
            self._disk.close()
        atexit.unregister(self._at_exit)

    def _at_exit(self) -> None:
        self.shutdown(timeout=2.0)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()
