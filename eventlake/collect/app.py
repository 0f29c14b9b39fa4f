"""The collector's ASGI application: Segment's HTTP tracking API in front of the bus.

``POST /v1/{track,identify,page,screen,group,alias}`` take one event, ``/v1/batch`` and
``/v1/import`` a ``{"batch": [...]}`` body (analytics.js's short paths ``/v1/t``, ``/v1/b``
... too). A 200 reply ``{"success": true}`` means every event of the request is durable on
the bus, in topic ``events`` or, with the reason listed in the reply's ``quarantined``, in
topic ``quarantine``. Refusals are 4xx with ``{"success": false, "code", "message"}``;
back-pressure is 503 with ``Retry-After``; only a failing bus gives another 5xx.

Bare Starlette and msgspec on the hot path (see DESIGN.md for the measurements); the blocking
append runs on the :class:`~eventlake.collect.committer.GroupCommitter` thread, which makes
many concurrent requests durable with one append. Build the app with :func:`create_app`;
``eventlake collect`` serves it with uvicorn.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as _dt
import functools
import ipaddress
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from eventlake.bus import open_bus
from eventlake.bus.base import BusProbe, Producer
from eventlake.collect.auth import WriteKeys
from eventlake.collect.body import HttpError, read_limited
from eventlake.collect.committer import GroupCommitter, OverloadedError
from eventlake.collect.handler import RequestHandler, RequestMeta
from eventlake.collect.server import head_bytes, headers_too_large
from eventlake.errors import AppendTooLargeError, BusError, BusFullError, ConfigError
from eventlake.gc_tuning import tune_gc
from eventlake.health import HealthReport, HealthSource
from eventlake.tracking_plan import CompiledPlan, plan_from_settings

if TYPE_CHECKING:
    from eventlake.config import Settings

__all__ = [
    "CORS_ALLOW_HEADERS",
    "MAX_LISTED_QUARANTINED",
    "ClientAddress",
    "app_from_environment",
    "create_app",
]

log = logging.getLogger("eventlake.collect")
_UTC = _dt.UTC
_ENCODE = msgspec.json.Encoder().encode
#: Request headers a browser may send cross-origin: those Segment's analytics-next and
#: RudderStack's JavaScript SDK set (read from their published packages, see
#: docs/http-api.md). A preflight that leaves one out makes the browser drop the request:
#: analytics-next adds X-Retry-Count to every retry, so without it a page's events sent
#: during a collector outage were never delivered.
CORS_ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "Content-Encoding",
    "Accept",
    "X-Retry-Count",  # analytics-next, on every retry
    "AnonymousId",  # RudderStack: base64 of the anonymous id, for event ordering
    "SentAt",  # RudderStack
    "Rsa-Recovered",  # RudderStack's retry queue (rsa = RudderStack analytics)
    "Rsa-Retry-Attempt",
    "Rsa-Retry-Reason",
    "Rsa-Since-First-Attempt",
    "Rsa-Since-Last-Attempt",
)
_CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "POST, OPTIONS",
    "access-control-allow-headers": ", ".join(CORS_ALLOW_HEADERS),
    # analytics-next reads Retry-After of a 429/503 to pace its retries
    "access-control-expose-headers": "Retry-After",
    "access-control-max-age": "86400",
}
_OK = _ENCODE({"success": True})
#: A reply lists at most this many quarantined events (all of them are in the quarantine).
MAX_LISTED_QUARANTINED = 100


class ClientAddress:
    """Finds the client's address: the socket peer, or ``X-Forwarded-For`` via a trusted proxy.

    ``trusted`` holds addresses or networks (``10.0.0.0/8``) of proxies whose
    ``X-Forwarded-For`` is believed; the client is the right-most hop that is not one of
    them (hops left of it could have been written by anyone).
    """

    def __init__(self, trusted: list[str]) -> None:
        try:
            self.networks = [ipaddress.ip_network(t.strip(), strict=False) for t in trusted]
        except ValueError as exc:
            raise ConfigError(f"collect.trusted_proxies: {exc}") from exc
        self._is_trusted = functools.lru_cache(maxsize=4096)(self._check)

    def _check(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def resolve(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client address of a request from ``peer`` with that ``X-Forwarded-For``."""
        if peer is None or not forwarded_for or not self.networks or not self._is_trusted(peer):
            return peer
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                try:
                    ipaddress.ip_address(hop)
                except ValueError:
                    return peer  # a garbled header: fall back to what we know
                return hop
        return hops[0] if hops else peer


def _reply(status: int, content: bytes, headers: dict[str, str] | None = None) -> Response:
    merged = dict(_CORS)
    if headers:
        merged.update(headers)
    return Response(content, status, merged, media_type="application/json")


def _error(exc: HttpError) -> Response:
    body = _ENCODE({"success": False, "code": exc.code, "message": exc.message})
    return _reply(exc.status, body, exc.headers)


#: Seconds a bus probe's answer is reused by /healthz (the probe fsyncs a small file).
_PROBE_TTL = 1.0
#: A failed append counts against /healthz this long, unless an append succeeded since.
_APPEND_FAILURE_SECONDS = 30.0


class _BusHealth:
    """The bus as /healthz sees it: a cached probe plus what the last appends did."""

    def __init__(self, probe: Callable[[], BusProbe]) -> None:
        self._probe = probe
        self._lock = threading.Lock()
        self._cached: tuple[float, BusProbe] | None = None
        self.last_error: tuple[float, str] | None = None
        self.last_ok = 0.0

    def failed(self, message: str) -> None:
        self.last_error = (time.monotonic(), message)

    def succeeded(self) -> None:
        self.last_ok = time.monotonic()

    def check(self) -> BusProbe:
        """The probe (at most one per second), overruled by a recent failed append."""
        now = time.monotonic()
        with self._lock:
            if self._cached is None or now - self._cached[0] > _PROBE_TTL:
                self._cached = (now, self._probe())
            probe = self._cached[1]
        error = self.last_error
        if (
            probe.writable
            and error is not None
            and error[0] > self.last_ok
            and now - error[0] < _APPEND_FAILURE_SECONDS
        ):
            return BusProbe(probe.backend, False, f"the last append failed: {error[1]}")
        return probe


class _Collector:
    """The request endpoint and the state it shares (one per app)."""

    def __init__(
        self,
        handler: RequestHandler,
        addresses: ClientAddress,
        max_header_bytes: int,
        bus: _BusHealth,
        health: HealthSource | None = None,
    ) -> None:
        self.handler = handler
        self.addresses = addresses
        self.max_header_bytes = max_header_bytes
        self.committer: GroupCommitter | None = None
        self.bus = bus
        self.health_source = health

    async def collect(self, request: Request) -> Response:
        head = head_bytes(request.scope)
        if head > self.max_header_bytes:
            # The HTTP server refuses such a head before it reaches the app when it is run
            # with collect/server.py's options; this answers the same behind any server.
            return _error(headers_too_large(head, self.max_header_bytes))
        if request.method == "OPTIONS":
            return Response(None, 204, _CORS)
        kind: str = request.path_params["kind"]
        headers = request.headers
        try:
            limit, setting = self.handler.body_limit(kind)
            body = await read_limited(
                request.stream(), headers.get("content-length"), limit, setting
            )
            client = request.client
            meta = RequestMeta(
                authorization=headers.get("authorization"),
                content_encoding=headers.get("content-encoding"),
                host=headers.get("host"),
                user_agent=headers.get("user-agent"),
                ip=self.addresses.resolve(
                    client.host if client else None, headers.get("x-forwarded-for")
                ),
            )
            batch = self.handler.prepare(kind, body, meta, _dt.datetime.now(_UTC))
            assert self.committer is not None, "the app's lifespan did not run"
            await self.committer.submit(batch)
        except HttpError as exc:
            return _error(exc)
        except ClientDisconnect:  # the client left mid-body: nothing was accepted
            return Response(None, 400)
        except AppendTooLargeError as exc:  # will never fit: a retry cannot help
            return _error(HttpError(413, "payload_too_large", str(exc)))
        except OverloadedError as exc:
            return _error(HttpError(503, "overloaded", str(exc), {"retry-after": "1"}))
        except BusFullError as exc:
            self.bus.failed(str(exc))
            return _error(HttpError(503, "bus_full", str(exc), {"retry-after": "5"}))
        except BusError as exc:
            log.error("bus append failed: %s", exc)
            self.bus.failed(str(exc))
            return _error(HttpError(503, "bus_unavailable", str(exc), {"retry-after": "5"}))
        self.bus.succeeded()
        if not batch.quarantined:
            return _reply(200, _OK)
        listed = batch.quarantined[:MAX_LISTED_QUARANTINED]
        reply: dict[str, Any] = {
            "success": True,
            "quarantined": [
                {
                    "index": q.index,
                    "messageId": q.message_id,
                    "code": q.reason_code,
                    "reason": q.reason,
                }
                for q in listed
            ],
        }
        if len(batch.quarantined) > len(listed):
            reply["quarantinedTotal"] = len(batch.quarantined)
        return _reply(200, _ENCODE(reply))

    async def health(self, request: Request) -> Response:
        """GET /healthz: 200 while the bus can be written, else 503 (with the reason).

        Under ``eventlake up`` the body also holds the pipeline's health (children,
        the lander's lag, the last build): see :mod:`eventlake.health`.
        """
        committer = self.committer
        inflight = committer.inflight_bytes if committer else 0
        probe = await asyncio.to_thread(self.bus.check)
        report = HealthReport()
        if self.health_source is not None:
            report = await asyncio.to_thread(self.health_source)
        problems = report.problems
        if not probe.writable:
            problems = (f"the bus cannot be written: {probe.detail}", *problems)
        report = dataclasses.replace(
            report, bus_writable=probe.writable, bus_detail=probe.detail, problems=problems
        )
        body = {"ok": probe.writable, "inflight_bytes": inflight, **report.to_dict()}
        body["bus"] = {**body["bus"], "backend": probe.backend}
        headers = {"cache-control": "no-store"}
        return _reply(503 if report.failing() else 200, _ENCODE(body), headers)


def create_app(
    settings: Settings,
    *,
    producer: Producer | None = None,
    plan: CompiledPlan | None = None,
    health: HealthSource | None = None,
) -> Starlette:
    """The collector app for ``settings``.

    Args:
        settings: write keys, limits and trusted proxies from ``settings.collect``; the bus
            from ``settings.bus``; the tracking plan from ``settings.spec``.
        producer: a bus producer to use (kept open, shared by the commit threads); by
            default each of ``collect.commit_threads`` threads opens its own on startup
            with ``eventlake.bus.open_producer`` and closes it on shutdown.
        plan: a compiled tracking plan (default: the configured one).
        health: the pipeline's health, added to /healthz (``eventlake up`` passes it);
            without it /healthz reports the bus and the collector's own state.

    Raises:
        ConfigError: no write key is configured, or a setting is invalid.
        TrackingPlanError: the configured tracking plan is invalid.
    """
    cfg = settings.collect
    keys = WriteKeys(settings.write_keys())
    if not len(keys):
        raise ConfigError(
            "no write keys configured: set collect.write_keys in eventlake.toml, "
            'EVENTLAKE_COLLECT__WRITE_KEYS=\'{"<key>": "<source>"}\' or collect.write_keys_file'
        )
    handler = RequestHandler(
        keys,
        plan if plan is not None else plan_from_settings(settings),
        max_batch_bytes=cfg.max_batch_bytes,
        max_event_bytes=cfg.max_event_bytes,
        request_records=cfg.request_records,
    )
    collector = _Collector(
        handler,
        ClientAddress(cfg.trusted_proxies),
        cfg.max_header_bytes,
        _BusHealth(open_bus(settings.bus, settings.base_dir).probe),
        health,
    )
    # No lane's group commit may be more than one producer queues (bus.max_pending_bytes).
    max_inflight = min(cfg.max_inflight_bytes, settings.bus.max_pending_bytes)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from eventlake.bus import open_producer

        if producer is not None:
            producers = [producer] * max(1, cfg.commit_threads)
        else:
            producers = [open_producer(settings) for _ in range(max(1, cfg.commit_threads))]
        committer = GroupCommitter(producers, max_inflight)
        committer.start()
        collector.committer = committer
        try:
            yield
        finally:
            await asyncio.to_thread(committer.close)
            if producer is None:
                for prod in producers:
                    prod.close()

    routes = [
        Route("/v1/{kind}", collector.collect, methods=["POST", "OPTIONS"]),
        Route("/healthz", collector.health, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.collector = collector
    return app


#: Environment variable naming the config file of ``uvicorn --factory`` workers.
CONFIG_ENV = "EVENTLAKE_CONFIG"


def app_from_environment() -> Any:
    """uvicorn factory for worker processes: the app of ``$EVENTLAKE_CONFIG`` (or defaults)."""
    from eventlake.config import load_config

    app = create_app(load_config(os.environ.get(CONFIG_ENV) or None))
    tune_gc()
    return app
