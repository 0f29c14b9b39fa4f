"""Retry-After parsing and the rate limiter's window."""

from __future__ import annotations

import asyncio
import email.utils
import time

from eventlake.sources.api.http import RateLimiter, parse_retry_after


def test_retry_after_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    wait = parse_retry_after(date, now=now)
    assert wait is not None and 28 <= wait <= 31
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0


def test_limiter_records_real_starts_and_never_exceeds_the_window() -> None:
    async def go() -> list[float]:
        limiter = RateLimiter(200.0)
        starts: list[float] = []

        async def one() -> None:
            await limiter.acquire()
            starts.append(time.monotonic())

        await asyncio.gather(*(one() for _ in range(250)))
        return starts

    starts = sorted(asyncio.run(go()))
    # The limiter's promise: at most 200 starts in any 1.1 s window, so any 201 consecutive
    # starts span at least 1.1 s (a start is recorded right after acquire returns, with no
    # await in between, so scheduling delays can only lengthen the span); and at most 20 in
    # any 110 ms window, so the first 200 cannot come in one burst.
    assert all(starts[i + 200] - starts[i] >= 1.1 - 1e-3 for i in range(len(starts) - 200))
    assert all(starts[i + 20] - starts[i] >= 0.11 - 1e-3 for i in range(len(starts) - 20))
