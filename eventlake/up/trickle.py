"""The demo's live players: a small trickle of game events sent now, through the collector.

``eventlake demo`` runs this as one more supervised child (``trickle``) beside the live
pipeline, so the dashboard keeps changing while it is open. The players come from the
generator's world (``eventlake/generate``) with their own seed: their sessions, levels and
purchases follow the same model as the bulk's, re-timed to the moment they are sent, each
with a new ``messageId``. Events go through the tracker SDK (``eventlake.tracker.Client``)
to the collector, like any app's: batched, retried, acknowledged.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid

__all__ = ["run_trickle"]

log = logging.getLogger("eventlake.up.trickle")


def run_trickle(
    url: str,
    write_key: str,
    stop: threading.Event,
    *,
    rate: float = 20.0,
    players: int = 50,
    seed: int = 7,
) -> int:
    """Send about ``rate`` events a second from ``players`` live players until ``stop``.

    Returns the number of events handed to the SDK.
    """
    from eventlake.generate import WorldConfig, generate, segment_event
    from eventlake.tracker import Client

    today = dt.datetime.now(dt.UTC).date()
    world, frame = generate(WorldConfig(users=players, days=1, start=today, seed=seed))
    n = len(frame)
    if n == 0:
        log.info("the live world has no events; nothing to send")
        stop.wait()
        return 0
    client = Client(write_key, url, flush_interval=0.5, block_when_full=True)
    log.info("%d live players sending about %g events/s to %s", players, rate, url)
    sent = 0
    started = time.monotonic()
    try:
        while not stop.is_set():
            event = segment_event(world, frame, sent % n, sent_at=False)
            event["messageId"] = str(uuid.uuid4())
            event["originalTimestamp"] = dt.datetime.now(dt.UTC).isoformat()
            client.enqueue(event)
            sent += 1
            if sent % 1000 == 0:
                log.info("%d live events sent", sent)
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0 and stop.wait(ahead):
                break
    finally:
        client.shutdown(timeout=5)
    return sent
