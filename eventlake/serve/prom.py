"""``/metrics`` in the Prometheus text format: HTTP requests, latency, and pipeline counts.

HTTP figures come from an ASGI middleware labelled by route template (not by raw path, so a
scan of random URLs cannot blow up the label set). Pipeline figures (events received,
landed, quarantined) are read from the lake's commit records, incrementally: each scrape
reads only commit records it has not seen, so it stays cheap as the lake grows. Under
``eventlake up`` the pipeline's health adds the lander's lag, the last build's age and
freshness, the bus's writability and each child's restarts (:func:`render_health`).
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from eventlake.health import HealthReport, HealthSource
from eventlake.serve.data import ResultCache

__all__ = ["HttpMetrics", "LakeCounts", "render_cache", "render_health", "render_prometheus"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """ASGI middleware counting requests and their latency per (method, route, status)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.hist: dict[str, list[int]] = {}
        self.hist_sum: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            self.observe(scope["method"], template, status[0], time.perf_counter() - started)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, route, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            counts = self.hist.setdefault(route, [0] * (len(BUCKETS) + 1))
            counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            self.hist_sum[route] = self.hist_sum.get(route, 0.0) + seconds

    def render(self) -> list[str]:
        lines = [
            "# HELP eventlake_http_requests_total HTTP requests served, by route and status.",
            "# TYPE eventlake_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self.requests.items()):
                labels = f'method="{method}",route="{_esc(route)}",status="{status}"'
                lines.append(f"eventlake_http_requests_total{{{labels}}} {n}")
            lines += [
                "# HELP eventlake_http_request_duration_seconds Request latency by route.",
                "# TYPE eventlake_http_request_duration_seconds histogram",
            ]
            for route, counts in sorted(self.hist.items()):
                r = _esc(route)
                cumulative = 0
                for bound, n in zip(BUCKETS, counts, strict=False):
                    cumulative += n
                    lines.append(
                        f'eventlake_http_request_duration_seconds_bucket{{route="{r}",'
                        f'le="{bound}"}} {cumulative}'
                    )
                cumulative += counts[-1]
                lines.append(
                    f'eventlake_http_request_duration_seconds_bucket{{route="{r}",le="+Inf"}} '
                    f"{cumulative}"
                )
                lines.append(
                    f'eventlake_http_request_duration_seconds_sum{{route="{r}"}} '
                    f"{self.hist_sum[route]:.6f}"
                )
                lines.append(
                    f'eventlake_http_request_duration_seconds_count{{route="{r}"}} {cumulative}'
                )
        return lines


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class LakeCounts:
    """Running totals of rows committed to the lake, read incrementally from commit records.

    ``landed`` counts rows of committed files under ``events/``, ``quarantined`` those
    under ``quarantine/``; ``received`` is their sum (every event the collector accepted
    ends up in exactly one of them once landed). Thread-safe.
    """

    def __init__(self, lake_uri: str, storage_options: dict[str, Any] | None = None) -> None:
        self.lake_uri = lake_uri
        self.storage_options = storage_options or {}
        self._seen: set[tuple[str, str]] = set()
        self.landed = 0
        self.quarantined = 0
        self.sources = 0
        self.commits = 0
        self.error: str | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        from eventlake.errors import EventlakeError
        from eventlake.lake import COMMITS_DIR, EVENTS_DIR, QUARANTINE_DIR, open_lake

        local = "://" not in self.lake_uri or self.lake_uri.startswith("file://")
        if local and not os.path.isdir(os.path.join(self.lake_uri, COMMITS_DIR)):
            return  # no lake yet; do not create one as a side effect of a scrape
        with self._lock:
            try:
                lake = open_lake(self.lake_uri, self.storage_options)
                for stream in lake.streams():
                    for cid in lake.commit_ids(stream):
                        if (stream, cid) in self._seen:
                            continue
                        record = lake.read_commit(stream, cid)
                        for f in record.files:
                            if f.path.startswith(EVENTS_DIR + "/"):
                                self.landed += f.rows
                            elif f.path.startswith(QUARANTINE_DIR + "/"):
                                self.quarantined += f.rows
                            else:
                                self.sources += f.rows
                        self._seen.add((stream, cid))
                        self.commits += 1
                self.error = None
            except (EventlakeError, OSError, ValueError, KeyError) as exc:
                self.error = str(exc)

    def render(self) -> list[str]:
        self.refresh()
        rows = [
            (
                "events_received",
                "Events accepted into the lake (landed + quarantined).",
                self.landed + self.quarantined,
            ),
            ("events_landed", "Valid events committed to <lake>/events.", self.landed),
            ("events_quarantined", "Events committed to <lake>/quarantine.", self.quarantined),
            ("source_rows_landed", "Rows committed by batch sources.", self.sources),
            ("lake_commits", "Commit records read from the lake.", self.commits),
        ]
        lines = []
        for name, help_text, value in rows:
            lines += [
                f"# HELP eventlake_{name}_total {help_text}",
                f"# TYPE eventlake_{name}_total counter",
                f"eventlake_{name}_total {value}",
            ]
        lines += [
            "# HELP eventlake_lake_readable 1 if the lake's commit records could be read.",
            "# TYPE eventlake_lake_readable gauge",
            f"eventlake_lake_readable {0 if self.error else 1}",
        ]
        return lines


def render_cache(cache: ResultCache) -> list[str]:
    """The API result cache's lookups (hits, misses) and size."""
    return [
        "# HELP eventlake_api_cache_hits_total API responses served from the result cache.",
        "# TYPE eventlake_api_cache_hits_total counter",
        f"eventlake_api_cache_hits_total {cache.hits}",
        "# HELP eventlake_api_cache_misses_total API cache lookups that ran a query.",
        "# TYPE eventlake_api_cache_misses_total counter",
        f"eventlake_api_cache_misses_total {cache.misses}",
        "# HELP eventlake_api_cache_entries Responses held in the API result cache.",
        "# TYPE eventlake_api_cache_entries gauge",
        f"eventlake_api_cache_entries {len(cache)}",
    ]


def _gauge(name: str, help_text: str, value: float | None, kind: str = "gauge") -> list[str]:
    if value is None:
        return []
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value:g}"]


def render_health(report: HealthReport) -> list[str]:
    """The pipeline's health as metrics: lag, freshness, last build, bus, restarts.

    A figure that is unknown (no build yet, lag on Kafka) is left out rather than
    exported as a made-up number.
    """
    lines: list[str] = []
    lines += _gauge(
        "eventlake_lander_lag_records",
        "Bus records not landed in the lake yet.",
        report.lander_lag_records,
    )
    lines += _gauge(
        "eventlake_build_freshness_seconds",
        "Freshness of the newest build that published new events: seconds from the "
        "collector's 200 for the oldest event it included for the first time to its publish.",
        report.last_build_freshness_seconds,
    )
    lines += _gauge(
        "eventlake_last_build_age_seconds",
        "Seconds since the last successful model run finished.",
        report.last_build_age_seconds,
    )
    if report.bus_writable is not None:
        lines += _gauge(
            "eventlake_bus_writable",
            "1 if an append to the bus can succeed now.",
            1 if report.bus_writable else 0,
        )
    if report.children is not None:
        lines += [
            "# HELP eventlake_child_restarts_total Restarts of each supervised child.",
            "# TYPE eventlake_child_restarts_total counter",
        ]
        lines += [
            f'eventlake_child_restarts_total{{child="{_esc(c.name)}"}} {c.restarts}'
            for c in report.children
        ]
        lines += [
            "# HELP eventlake_child_up 1 if the supervised child is running.",
            "# TYPE eventlake_child_up gauge",
        ]
        lines += [
            f'eventlake_child_up{{child="{_esc(c.name)}"}} {1 if c.state == "running" else 0}'
            for c in report.children
        ]
    return lines


def render_prometheus(
    http: HttpMetrics,
    lake: LakeCounts,
    cache: ResultCache | None = None,
    health: HealthSource | None = None,
) -> bytes:
    """The whole /metrics body."""
    lines = http.render() + (render_cache(cache) if cache is not None else []) + lake.render()
    if health is not None:
        lines += render_health(health())
    return ("\n".join(lines) + "\n").encode("utf-8")
