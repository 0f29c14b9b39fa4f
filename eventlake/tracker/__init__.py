"""The tracker stage: a Python SDK that sends Segment events to an eventlake collector.

``Client(write_key, host)`` with ``track``, ``identify``, ``page``, ``screen``, ``group``,
``alias``, ``flush`` and ``shutdown``. Calls return at once; a background thread batches
(by count, bytes and age), gzips, and retries with exponential backoff and jitter on
network errors, 408, 429 and 5xx (honouring ``Retry-After``), never on other 4xx (those go
to ``on_error``). A bounded memory queue spills to an on-disk buffer that survives a
restart. Docs: docs/tracker.md.
"""

from __future__ import annotations

from eventlake.tracker.buffer import BufferInUseError, DiskBuffer
from eventlake.tracker.client import LIBRARY, Client, EventTooLargeError, QueueFullError
from eventlake.tracker.transport import backoff_delay, parse_retry_after
from eventlake.tracker.worker import DeliveryError

__all__ = [
    "LIBRARY",
    "BufferInUseError",
    "Client",
    "DeliveryError",
    "DiskBuffer",
    "EventTooLargeError",
    "QueueFullError",
    "backoff_delay",
    "parse_retry_after",
]
