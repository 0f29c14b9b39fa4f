"""The serve app factory: one ASGI app for the data API, the dashboards and (optionally) the
collector.

Layers, outermost first: request metrics (Prometheus) -> the collector under ``/v1/`` when
``serve.mount_collector`` (it checks its own write keys) -> bearer-token auth -> the
Starlette router. Nothing is opened at import; the warehouse (whichever engine the settings
name, through ``open_warehouse(...).reader()``) is opened on first use and follows every
publish.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

from eventlake.config import Settings
from eventlake.errors import ConfigError
from eventlake.health import HealthSource
from eventlake.project import tracks_events
from eventlake.serve import api, pages
from eventlake.serve.auth import ASGIApp, Receive, Scope, Send, TokenAuth
from eventlake.serve.catalog import CatalogFile
from eventlake.serve.dashboards import DashboardSet
from eventlake.serve.data import QueryRunner, ResultCache
from eventlake.serve.prom import HttpMetrics, LakeCounts
from eventlake.serve.state import ServeState
from eventlake.warehouse.base import ReaderOptions
from eventlake.warehouse.factory import open_warehouse
from eventlake.warehouse.query import sandbox_options

__all__ = ["ServeApp", "create_app"]


class ServeApp:
    """The ASGI callable ``eventlake serve`` runs; ``state`` holds the shared objects."""

    def __init__(self, app: ASGIApp, state: ServeState, router: Starlette) -> None:
        self._app = app
        self.state = state
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


class _CollectorDispatch:
    """Send ``/v1/*`` to the collector app, everything else to ``rest``."""

    def __init__(self, collector: ASGIApp, rest: ASGIApp) -> None:
        self.collector = collector
        self.rest = rest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith("/v1/"):
            await self.collector(scope, receive, send)
        else:
            await self.rest(scope, receive, send)


def create_app(
    settings: Settings, *, collector: Any = None, health: HealthSource | None = None
) -> ServeApp:
    """Build the serve app for ``settings``.

    Args:
        settings: ``settings.serve`` (token, query endpoint, dashboards folder), the
            warehouse (any engine), ``models.dbt_dir`` (the metrics catalog) and the lake.
        collector: a collector ASGI app to mount under /v1 (default: built from settings
            when ``serve.mount_collector``).
        health: the pipeline's health for /healthz and /metrics (``eventlake up`` passes
            it); without it /healthz reports what this process serves.

    Raises:
        ConfigError: ``serve.query_enabled`` without a ``serve.query_token``, or a
            warehouse setting the engine needs is missing (``warehouse.url``).
    """
    cfg = settings.serve
    if cfg.query_enabled and not cfg.query_token:
        raise ConfigError(
            "serve.query_enabled needs serve.query_token (set EVENTLAKE_SERVE__QUERY_TOKEN): "
            "POST /api/query is never open"
        )
    warehouse = open_warehouse(settings)  # connects to nothing yet
    # One more connection than query threads: the version checks have a thread of their own.
    reader = warehouse.reader(
        ReaderOptions(connections=cfg.query_workers + 1, threads=cfg.duckdb_threads)
    )
    sandbox = (
        (lambda: warehouse.reader(sandbox_options(settings.warehouse)))
        if cfg.query_enabled
        else None
    )
    dashboards_dir = settings.resolve(cfg.dashboards_dir) if cfg.dashboards_dir else None
    check_interval = cfg.reload_check_ms / 1000
    state = ServeState(
        catalog=CatalogFile(
            settings.resolve(settings.models.dbt_dir) / "metrics_catalog.json",
            check_interval=check_interval,
        ),
        runner=QueryRunner(
            reader, workers=cfg.query_workers, check_interval=check_interval, sandbox=sandbox
        ),
        cache=ResultCache(cfg.cache_entries),
        dashboards=DashboardSet(dashboards_dir, packaged=tracks_events(settings)),
        lake_counts=LakeCounts(settings.lake_uri(), settings.lake.storage_options),
        token=cfg.token or None,
        query_enabled=cfg.query_enabled,
        query_token=cfg.query_token,
        max_limit=cfg.max_limit,
        cache_seconds=cfg.cache_seconds,
        health=health,
    )
    if collector is None and cfg.mount_collector:
        from eventlake.collect import create_app as create_collector

        collector = create_collector(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if collector is not None:
                await stack.enter_async_context(collector.router.lifespan_context(collector))
            try:
                yield
            finally:
                state.runner.close()

    routes = [
        Route("/", pages.dashboard_page, methods=["GET"]),
        Route("/d/{slug}", pages.dashboard_page, methods=["GET"]),
        Route("/static/topojson/{name}", pages.topojson_asset, methods=["GET"]),
        Route("/static/{name}", pages.static_asset, methods=["GET"]),
        Route("/api/metrics", api.list_metrics, methods=["GET"]),
        Route("/api/metrics/{name}.{fmt}", api.get_metric, methods=["GET"]),
        Route("/api/metrics/{name}", api.get_metric, methods=["GET"]),
        Route("/api/dimensions", api.list_dimensions, methods=["GET"]),
        Route("/api/dimensions/{name}/values", api.dimension_values, methods=["GET"]),
        Route("/api/dashboards", pages.dashboards_json, methods=["GET"]),
        Route("/api/query", api.run_sql, methods=["POST"]),
        Route("/openapi.json", pages.openapi_json, methods=["GET"]),
        Route("/docs", pages.docs_page, methods=["GET"]),
        Route("/healthz", pages.healthz, methods=["GET"]),
        Route("/metrics", pages.prometheus, methods=["GET"]),
    ]
    router = Starlette(routes=routes, lifespan=lifespan)
    router.state.serve = state
    inner: ASGIApp = TokenAuth(router, state.token)
    if collector is not None:
        inner = _CollectorDispatch(collector, inner)
    http_metrics = HttpMetrics(inner)
    state.http_metrics = http_metrics
    return ServeApp(http_metrics, state, router)
