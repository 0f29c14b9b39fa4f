"""The tracker's background thread: batch, send, retry, spill.

It owns the sending side of a :class:`~eventlake.tracker.client.Client`. Order of work:
batches already on disk first (they are older), then the in-memory queue, cut into a batch
by count, bytes or age. A batch that fails with a retryable error goes to the disk buffer
(when there is one, so memory stays bounded and a restart keeps it) or stays in hand, and
the thread sleeps an exponential, jittered backoff that ``Retry-After`` can lengthen.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import msgspec

from eventlake.errors import EventlakeError
from eventlake.tracker.buffer import DiskBuffer
from eventlake.tracker.transport import backoff_delay, send_batch

__all__ = ["DeliveryError", "Worker", "WorkerConfig"]

log = logging.getLogger("eventlake.tracker")

ErrorCallback = Callable[[BaseException, list[dict[str, object]]], None]


class DeliveryError(EventlakeError):
    """The collector refused a batch for good (a 4xx other than 408/429), or it was lost."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class WorkerConfig:
    """The sending side's settings (see :class:`~eventlake.tracker.client.Client`)."""

    url: str
    write_key: str
    max_batch_events: int = 100
    max_batch_bytes: int = 450_000
    flush_interval: float = 0.5
    base_backoff: float = 0.5
    max_backoff: float = 30.0
    timeout: float = 10.0
    gzip: bool = True
    headers: dict[str, str] = field(default_factory=dict)


class Worker:
    """Shares the queue with the client under ``cond``; see the module docstring."""

    def __init__(
        self,
        config: WorkerConfig,
        queue: deque[tuple[float, bytes]],
        cond: threading.Condition,
        disk: DiskBuffer | None,
        on_error: ErrorCallback | None,
    ) -> None:
        self.config = config
        self.queue = queue
        self.cond = cond
        self.disk = disk
        self.on_error = on_error
        self.inflight = 0
        self.flush_requested = 0
        self.stopping = False
        self.delivered = 0
        self.failed = 0
        self.attempts = 0
        self._held: list[bytes] | None = None  # a retried batch when there is no disk
        self._attempt = 0
        self._rng = random.Random()
        self._http = httpx.Client(timeout=config.timeout)
        self.thread = threading.Thread(target=self._run, name="eventlake-tracker", daemon=True)

    # -- bookkeeping shared with the client ---------------------------------------------
    def pending(self) -> int:
        """Messages not yet settled (queued, in flight, held or on disk); hold ``cond``."""
        held = len(self._held) if self._held else 0
        disk = self.disk.messages if self.disk is not None else 0
        return len(self.queue) + self.inflight + held + disk

    # -- the loop -------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                batch, seq = self._next_batch()
                if batch is None:
                    break
                self._deliver(batch, seq)
        finally:
            self._http.close()

    def _next_batch(self) -> tuple[list[bytes] | None, int | None]:
        """The next batch to send (and its disk sequence number), or None to stop."""
        cfg = self.config
        with self.cond:
            while True:
                if self.stopping:
                    return None, None
                if self._held:
                    batch, self._held = self._held, None
                    self.inflight = len(batch)
                    return batch, None
                if self.disk is not None:
                    top = self.disk.peek()
                    if top is not None:
                        self.inflight = 0
                        return top[1], top[0]
                if self.queue:
                    age = time.monotonic() - self.queue[0][0]
                    if (
                        len(self.queue) >= cfg.max_batch_events
                        or age >= cfg.flush_interval
                        or self.flush_requested
                    ):
                        return self._cut(), None
                    self.cond.wait(cfg.flush_interval - age)
                else:
                    self.cond.wait()

    def _cut(self) -> list[bytes]:
        """Pop one batch from the queue (hold ``cond``)."""
        cfg = self.config
        batch: list[bytes] = []
        size = 0
        while self.queue and len(batch) < cfg.max_batch_events:
            msg = self.queue[0][1]
            if batch and size + len(msg) + 1 > cfg.max_batch_bytes:
                break
            self.queue.popleft()
            batch.append(msg)
            size += len(msg) + 1
        self.inflight = len(batch)
        self.cond.notify_all()  # room in the queue for blocked producers
        return batch

    def _deliver(self, batch: list[bytes], seq: int | None) -> None:
        cfg = self.config
        self.attempts += 1
        verdict = send_batch(
            self._http, cfg.url, cfg.write_key, batch, compress=cfg.gzip, headers=cfg.headers
        )
        if verdict.outcome == "split":
            half = len(batch) // 2
            self._settle(batch, seq, None)
            for part in (batch[:half], batch[half:]):
                self._deliver(part, None)
            return
        if verdict.outcome == "ok":
            self._attempt = 0
            self._settle(batch, seq, None)
            return
        if verdict.outcome == "fatal":
            self._attempt = 0
            err = DeliveryError(
                f"collector refused {len(batch)} events with HTTP {verdict.status}: "
                f"{verdict.detail}",
                verdict.status,
            )
            self._settle(batch, seq, err)
            return
        # retryable: keep the batch (on disk when possible) and back off
        log.debug("retrying %d events: %s %s", len(batch), verdict.status, verdict.detail)
        with self.cond:
            if seq is None:
                if self.disk is None:
                    self._held = batch
                else:
                    try:
                        self.disk.push(batch)
                    except OSError as exc:  # a full disk: keep the batch in hand
                        log.warning("eventlake tracker: cannot spill to disk: %s", exc)
                        self._held = batch
            self.inflight = 0
            delay = backoff_delay(
                self._attempt,
                base=cfg.base_backoff,
                cap=cfg.max_backoff,
                retry_after=verdict.retry_after,
                rng=self._rng,
            )
            self._attempt += 1
            deadline = time.monotonic() + delay
            while not self.stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)

    def _settle(self, batch: list[bytes], seq: int | None, err: BaseException | None) -> None:
        if seq is not None and self.disk is not None:
            self.disk.remove(seq, len(batch))
        with self.cond:
            self.inflight = 0
            if err is None:
                self.delivered += len(batch)
            else:
                self.failed += len(batch)
            self.cond.notify_all()
        if err is not None:
            self.report(err, batch)

    def report(self, err: BaseException, batch: list[bytes]) -> None:
        """Hand a failure to ``on_error`` (or the log); never raises."""
        if self.on_error is None:
            log.warning("eventlake tracker: %s", err)
            return
        try:
            self.on_error(err, [msgspec.json.decode(m) for m in batch])
        except Exception:  # the callback is user code; the thread must survive it
            log.exception("eventlake tracker: on_error callback failed")

    def take_leftovers(self) -> list[bytes]:
        """After the thread stopped: everything not yet sent (hold ``cond``)."""
        left = list(self._held or [])
        self._held = None
        left.extend(m for _, m in self.queue)
        self.queue.clear()
        return left
