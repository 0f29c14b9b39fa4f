"""HTTP for the REST API source: one shared rate limit, bounded concurrency, retries.

Every request of a run (all resources, every retry) passes one :class:`RateLimiter`, so the
API never sees more than ``rate_limit`` requests per second from us, and takes one of
``concurrency`` single-connection clients, so no more than that are in flight. 429, 5xx,
timeouts and connection errors are retried with exponential backoff and jitter; a
``Retry-After`` header is honoured and also pauses every other request (the server said it
is overloaded, not just this URL). Any other 4xx is terminal: :class:`ApiStatusError`
carries the URL and status.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import httpx

from eventlake.errors import ConfigError, SourceError, SourceRetryError
from eventlake.httputil import parse_retry_after_value
from eventlake.sources.api.spec import ApiDefinition

__all__ = ["ApiStatusError", "Fetcher", "RateLimiter", "Response", "parse_retry_after"]

log = logging.getLogger("eventlake.sources.api")


class ApiStatusError(SourceError):
    """A terminal HTTP status (a 4xx other than 429): the URL and status are in the text."""

    def __init__(self, url: str, status: int, body: str) -> None:
        super().__init__(f"GET {url} returned HTTP {status}: {body[:200]!r}")
        self.url = url
        self.status = status


class RateLimiter:
    """At most ``rate`` request starts in any 1.1 s window, and a tenth of that in any 110 ms
    window (so a second's budget is never spent in one burst).

    Starts are recorded when they happen, not when they were scheduled, so an event loop
    that stalled (a long Parquet write, a busy machine) delays the next requests instead of
    releasing the overdue ones at once. A request below both limits starts without sleeping
    (sleeping per request would cost a scheduler wake-up each on a loaded machine). First
    come, first served. Can be paused (a server's Retry-After).
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        # Windows 10% longer than nominal: the API counts arrivals, and a request's way from
        # our start to its arrival varies (scheduling, a busy loop), which must not make
        # two windows' worth of requests land in one of the server's seconds.
        self._windows = [
            (1.1, deque[float](maxlen=max(1, int(rate)))),
            (0.11, deque[float](maxlen=max(1, int(rate / 10)))),
        ]
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                wait = self._paused_until - now
                for span, starts in self._windows:
                    if len(starts) == starts.maxlen:
                        wait = max(wait, starts[0] + span - now)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            for _, starts in self._windows:
                starts.append(now)

    async def pause_until(self, when: float) -> None:
        """No request starts before monotonic time ``when`` (a server's Retry-After)."""
        self._paused_until = max(self._paused_until, when)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    when = parse_retry_after_value(value)
    if when is None or isinstance(when, float):
        return when
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


@dataclass(frozen=True, slots=True)
class Response:
    """What pagination needs from a response."""

    url: str
    body: Any
    headers: httpx.Headers


class Fetcher:
    """GETs JSON through the shared limits; use as an async context manager."""

    def __init__(self, definition: ApiDefinition) -> None:
        self.d = definition
        self.limiter = RateLimiter(definition.rate_limit)
        self.requests = 0
        self.retries = 0
        headers = dict(definition.headers)
        self._auth_params: dict[str, str] = {}
        if definition.auth is not None:
            secret = os.environ.get(definition.auth.env)
            if not secret:
                raise ConfigError(
                    f"API auth: environment variable {definition.auth.env} is not set"
                )
            value = definition.auth.prefix + secret
            if definition.auth.type == "header":
                headers[definition.auth.name] = value
            else:
                self._auth_params[definition.auth.name] = value
        # One single-connection client per slot, handed out through a queue (the slot
        # itself): httpcore's shared pool rescans every connection for every queued request,
        # which costs milliseconds of CPU per request at a few dozen connections.
        tls = httpx.create_ssl_context()  # one for all clients: loading CAs costs ~70 ms
        self._clients = [
            httpx.AsyncClient(
                headers=headers,
                verify=tls,
                timeout=httpx.Timeout(definition.timeout),
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                follow_redirects=True,
            )
            for _ in range(definition.concurrency)
        ]
        self._free: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for client in self._clients:
            self._free.put_nowait(client)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self._clients:
            await client.aclose()

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.d.base_url.rstrip("/") + "/" + path.lstrip("/")

    async def get(self, url: str, params: dict[str, Any] | None = None) -> Response:
        """GET ``url`` and decode its JSON body, retrying transient failures.

        Raises:
            ApiStatusError: a terminal 4xx.
            SourceRetryError: still failing after ``retries`` retries, or a Retry-After
                longer than ``max_retry_after``.
        """
        # httpx's params= replaces a URL's query (a next link's); merge them instead
        target = httpx.URL(url).copy_merge_params(params or {})
        shown = str(target)  # without the auth parameter: never show the secret
        if self._auth_params:
            target = target.copy_merge_params(self._auth_params)
        attempt = 0
        while True:
            problem: str
            wait: float | None = None
            try:
                # slot first, then the limiter: a request that waited for a slot must not
                # hold an old start time and go out in a burst with the others
                client = await self._free.get()
                try:
                    await self.limiter.acquire()
                    self.requests += 1
                    resp = await client.get(target)
                    content = await resp.aread()
                finally:
                    self._free.put_nowait(client)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                status = resp.status_code
                if status < 300:
                    try:
                        body = resp.json()
                    except ValueError as exc:
                        raise SourceError(f"GET {shown} returned invalid JSON: {exc}") from exc
                    return Response(str(resp.url), body, resp.headers)
                if status != 429 and status < 500:
                    raise ApiStatusError(shown, status, content.decode("utf-8", "replace"))
                problem = f"HTTP {status}"
                wait = parse_retry_after(resp.headers.get("retry-after"))
                if wait is not None and wait > self.d.max_retry_after:
                    raise SourceRetryError(
                        f"GET {shown}: {problem} with Retry-After {wait:.0f} s, longer than "
                        f"max_retry_after ({self.d.max_retry_after:.0f} s); try again later"
                    )
            if attempt >= self.d.retries:
                raise SourceRetryError(
                    f"GET {shown} failed after {attempt + 1} attempts: {problem}; "
                    "try again later or raise 'retries'"
                )
            backoff = min(self.d.backoff_max, self.d.backoff_base * 2**attempt)
            backoff *= 0.5 + random.random() / 2
            if wait is not None:
                await self.limiter.pause_until(time.monotonic() + wait)
                backoff = max(backoff, wait)
            attempt += 1
            self.retries += 1
            log.info("retry %d of GET %s in %.2f s (%s)", attempt, shown, backoff, problem)
            await asyncio.sleep(backoff)
