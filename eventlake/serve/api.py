"""The data API routes: metrics catalog, metric data (JSON/CSV), dimension values, SQL.

Every route is ``async``; metric and dimension queries run on the runner's small query pool
(``QueryRunner.run_async``), cache hits and 304s are answered on the event loop. Errors are
JSON objects with an ``error`` message (400s also name the ``parameter``). Metric responses
carry an ETag over (warehouse version, catalog version, canonical request) and answer
``If-None-Match`` with 304 without touching the warehouse. Failures of the warehouse come
as the readers' neutral exceptions (``eventlake.errors``), the same on every engine.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from eventlake.errors import (
    QueryError,
    QueryRefusedError,
    SchemaMismatchError,
    WarehouseError,
    WarehouseMissingError,
)
from eventlake.serve.auth import bearer_token, tokens_equal
from eventlake.serve.catalog import Catalog, Metric, quote_ident
from eventlake.serve.data import CachedResponse, encode_csv, encode_json, etag_for
from eventlake.serve.metric_sql import funnel_rows
from eventlake.serve.params import BadParameter, MetricQuery, parse_metric_query
from eventlake.serve.state import ServeState
from eventlake.warehouse.base import NO_VERSION

__all__ = [
    "dimension_values",
    "get_metric",
    "json_response",
    "list_dimensions",
    "list_metrics",
    "run_sql",
]

_MAX_DIMENSION_VALUES = 2000
#: Largest POST /api/query body: a statement, not a data upload.
MAX_QUERY_BODY = 1024 * 1024


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(encode_json(payload), status, headers, media_type="application/json")


def _state(request: Request) -> ServeState:
    state: ServeState = request.app.state.serve
    return state


def _cache_headers(state: ServeState, etag: str) -> dict[str, str]:
    scope = "private" if state.token else "public"
    age = f"max-age={state.cache_seconds}" if state.cache_seconds > 0 else "no-cache"
    return {"ETag": etag, "Cache-Control": f"{scope}, {age}"}


def _not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    return header.strip() == "*" or etag in [t.strip() for t in header.split(",")]


async def _lookup(
    request: Request, state: ServeState, kind: str, catalog_version: str, what: str
) -> tuple[str, CachedResponse | None, dict[str, str]] | Response:
    """The result-cache key, the cached response if any and the cache headers of a warehouse
    read, or the reply to send now.

    The reply is a 503 when there is no warehouse yet and a 304 when the client's copy is
    current. A cached response brings its ETag, so a hit costs no hashing and no query.
    """
    version = await state.runner.current_version()
    if version == NO_VERSION:
        return _no_warehouse(state)
    key = f"{kind}|{version}|{catalog_version}|{what}"
    entry = state.cache.get(key)
    etag = entry.etag if entry is not None else etag_for(key)
    headers = _cache_headers(state, etag)
    if _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return key, entry, headers


def _no_warehouse(state: ServeState, problem: str | None = None) -> Response:
    """503: nothing published yet, or the warehouse cannot be reached (``problem``)."""
    problem = problem or state.runner.problem
    message = problem or "no warehouse yet: run `eventlake build` (or `eventlake demo`)"
    return json_response({"error": message, "warehouse": None}, 503)


def _unavailable(state: ServeState, name: str, exc: WarehouseError) -> Response:
    """The 503 of a metric or dimension query the warehouse could not answer."""
    if isinstance(exc, WarehouseMissingError):
        return _no_warehouse(state, str(exc))
    if isinstance(exc, SchemaMismatchError):
        message = (
            f"{name} is in the catalog but the warehouse's tables differ from it ({exc}); "
            "rebuild with `eventlake build`"
        )
    else:
        message = str(exc)
    return json_response({"error": message}, 503)


def _unknown_metric(name: str, catalog: Catalog) -> Response:
    known = list(catalog.metrics)
    hint = ", ".join(known) if known else "none yet (run `eventlake build`)"
    return json_response(
        {"error": f"unknown metric {name[:80]!r}; known metrics: {hint}", "known_metrics": known},
        404,
    )


async def list_metrics(request: Request) -> Response:
    """GET /api/metrics: the catalog (names, descriptions, columns, accepted filters)."""
    state = _state(request)
    catalog = state.catalog.get()
    version = await state.runner.current_version()
    etag = etag_for("catalog", catalog.version, version)
    headers = _cache_headers(state, etag)
    if _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    payload = {
        "metrics": [m.to_json() for m in catalog.metrics.values()],
        "warehouse_ready": version != NO_VERSION,
        "catalog_error": state.catalog.error,
    }
    return json_response(payload, headers=headers)


def _partial_days(state: ServeState, metric: Metric) -> list[Any]:
    """The first and the last day of data (partial days), read once per warehouse version."""
    if metric.coverage is None or metric.date_column is None:
        return []
    version = state.runner.version
    cached = state.partial_days.get(version)
    if cached is None:
        # a warehouse without it does not match the catalog: the caller answers 503
        relation = ".".join(quote_ident(p) for p in metric.coverage)
        result = state.runner.run(f"SELECT first_day, last_day FROM {relation}")
        row = result.rows[0] if result.rows else (None, None)
        cached = sorted({d for d in row if d is not None})
        state.partial_days = {version: cached}
    return cached


def _sort_funnel(query: MetricQuery, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    cols = list(query.columns)
    for raw in reversed(query.request.sorts):
        desc = raw.startswith("-")
        i = cols.index(raw[1:] if desc else raw)
        present = [r for r in rows if r[i] is not None]
        missing = [r for r in rows if r[i] is None]
        rows = sorted(present, key=lambda r: r[i], reverse=desc) + missing
    return rows


def _run_metric(state: ServeState, query: MetricQuery, fmt: str) -> bytes:
    metric, limit, offset = query.metric, query.limit, query.offset
    result = state.runner.run(query.sql, query.params)
    rows = result.rows
    cols = list(query.columns)
    if metric.funnel is not None:
        rows = _sort_funnel(query, funnel_rows(metric, query.request.group_by, rows))
        rows = rows[offset : offset + limit + 1]
    else:
        cols = result.columns
    has_more = len(rows) > limit
    rows = rows[:limit]
    if fmt == "csv":
        return encode_csv(cols, rows)
    payload: dict[str, Any] = {
        "metric": metric.name,
        "columns": cols,
        "rows": [dict(zip(cols, r, strict=True)) for r in rows],
        "count": len(rows),
        "limit": limit,
        "offset": offset,
        "has_more": has_more,
    }
    if metric.date_column is not None:
        payload["partial_days"] = _partial_days(state, metric)
    shown = [metric.measure(c) for c in cols]
    payload["measures"] = {m.name: m.to_json(metric.currency) for m in shown if m is not None}
    if any(m.unit == "currency" for m in shown if m is not None):
        payload["currency"] = metric.currency
    if query.funnel_window is not None:
        payload["conversion_window_days"] = query.funnel_window
    return encode_json(payload)


async def get_metric(request: Request) -> Response:
    """GET /api/metrics/{name}.json|.csv: filtered, sorted, paged rows of one metric."""
    state = _state(request)
    name: str = request.path_params["name"]
    fmt: str = request.path_params.get("fmt", "json")
    if fmt not in ("json", "csv"):
        return json_response(
            {"error": f"unknown format {fmt[:20]!r}: use .json or .csv", "parameter": "format"},
            404,
        )
    catalog = state.catalog.get()
    metric = catalog.metrics.get(name)
    if metric is None:
        return _unknown_metric(name, catalog)
    try:
        query = parse_metric_query(
            metric, request.query_params.multi_items(), max_limit=state.max_limit
        )
    except BadParameter as exc:
        return json_response({"error": exc.message, "parameter": exc.param}, 400)
    looked = await _lookup(request, state, fmt, catalog.version, query.key)
    if isinstance(looked, Response):
        return looked
    key, entry, headers = looked
    if entry is None:
        try:
            body = await state.runner.run_async(_run_metric, state, query, fmt)
        except WarehouseError as exc:
            return _unavailable(state, f"metric {name!r}", exc)
        entry = CachedResponse(headers["ETag"], body)
        state.cache.put(key, entry)
    if fmt == "csv":
        headers["Content-Disposition"] = f'attachment; filename="{metric.name}.csv"'
        return Response(entry.body, 200, headers, media_type="text/csv; charset=utf-8")
    return Response(entry.body, 200, headers, media_type="application/json")


async def list_dimensions(request: Request) -> Response:
    """GET /api/dimensions: every declared dimension and the metrics that accept it."""
    catalog = _state(request).catalog.get()
    return json_response({"dimensions": catalog.dimensions()})


def _distinct_values(state: ServeState, metrics: list[Metric], dim: str) -> bytes:
    col = quote_ident(dim)
    parts = [
        f"SELECT DISTINCT CAST({col} AS VARCHAR) AS v FROM {m.sql_relation()} "
        f"WHERE {col} IS NOT NULL"
        for m in metrics
    ]
    sql = " UNION ".join(parts) + f" ORDER BY v LIMIT {_MAX_DIMENSION_VALUES + 1}"
    result = state.runner.run(sql)
    values = [r[0] for r in result.rows]
    return encode_json(
        {
            "dimension": dim,
            "values": values[:_MAX_DIMENSION_VALUES],
            "truncated": len(values) > _MAX_DIMENSION_VALUES,
            "metrics": [m.name for m in metrics],
        }
    )


async def dimension_values(request: Request) -> Response:
    """GET /api/dimensions/{name}/values: distinct values across the metrics declaring it."""
    state = _state(request)
    dim: str = request.path_params["name"]
    catalog = state.catalog.get()
    dims = catalog.dimensions()
    if dim not in dims:
        return json_response(
            {
                "error": f"unknown dimension {dim[:80]!r}; known: {', '.join(dims) or 'none'}",
                "known_dimensions": list(dims),
            },
            404,
        )
    if request.query_params:
        bad = next(iter(request.query_params.keys()))
        return json_response(
            {"error": f"unknown parameter {bad[:60]!r}", "parameter": bad[:60]}, 400
        )
    looked = await _lookup(request, state, "dim", catalog.version, dim)
    if isinstance(looked, Response):
        return looked
    key, entry, headers = looked
    if entry is None:
        metrics = [catalog.metrics[m] for m in dims[dim]]
        try:
            body = await state.runner.run_async(_distinct_values, state, metrics, dim)
        except WarehouseError as exc:
            return _unavailable(state, f"dimension {dim!r}", exc)
        entry = CachedResponse(headers["ETag"], body)
        state.cache.put(key, entry)
    return Response(entry.body, 200, headers, media_type="application/json")


def _run_sql(state: ServeState, sql: str, limit: int, fmt: str) -> bytes:
    # The warehouse stage's guard (the one `eventlake query` uses) checks the statement;
    # it then runs on the engine's sandboxed reader, with its time and memory limits.
    from eventlake.warehouse.query import run_query

    result = run_query(state.runner.sandbox(), sql, limit)
    if fmt == "csv":
        return encode_csv(result.columns, result.rows)
    return encode_json(
        {
            "columns": result.columns,
            "types": result.types,
            "rows": [list(r) for r in result.rows],
            "count": len(result.rows),
            "truncated": result.truncated,
        }
    )


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is longer than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def run_sql(request: Request) -> Response:
    """POST /api/query: read-only SQL, off by default, behind ``serve.query_token``."""
    state = _state(request)
    if not state.query_enabled:
        return json_response(
            {
                "error": "POST /api/query is disabled: set serve.query_enabled = true and "
                "serve.query_token"
            },
            404,
        )
    expected = state.query_token
    if expected is None or not tokens_equal(bearer_token(request.scope), expected):
        return json_response(
            {"error": "POST /api/query needs Authorization: Bearer <serve.query_token>"},
            401,
            {"WWW-Authenticate": 'Bearer realm="eventlake-query"'},
        )
    body = await _read_body(request, MAX_QUERY_BODY)
    if body is None:
        return json_response(
            {"error": f"body larger than {MAX_QUERY_BODY} bytes", "parameter": "body"}, 413
        )
    try:
        import json

        payload = json.loads(body or b"null")
    except ValueError:
        return json_response({"error": "body must be JSON", "parameter": "body"}, 400)
    except RecursionError:
        return json_response(
            {"error": 'body nested too deeply: send {"sql": "SELECT ..."}', "parameter": "body"},
            400,
        )
    if not isinstance(payload, dict) or not isinstance(payload.get("sql"), str):
        return json_response(
            {"error": 'body must be {"sql": "SELECT ...", "limit": N}', "parameter": "sql"}, 400
        )
    unknown = set(payload) - {"sql", "limit", "format"}
    if unknown:
        bad = sorted(unknown)[0]
        return json_response({"error": f"unknown field {bad!r}", "parameter": bad}, 400)
    limit = payload.get("limit", 1000)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= state.max_limit:
        return json_response(
            {"error": f"limit must be an integer 0..{state.max_limit}", "parameter": "limit"}, 400
        )
    fmt = payload.get("format", "json")
    if fmt not in ("json", "csv"):
        return json_response({"error": "format must be json or csv", "parameter": "format"}, 400)
    sql: str = payload["sql"]
    if await state.runner.current_version() == NO_VERSION:
        return _no_warehouse(state)
    try:
        out = await state.runner.run_adhoc(_run_sql, state, sql, limit, fmt)
    except (QueryRefusedError, QueryError) as exc:
        # the statement's own fault: refused, failed, or past its time or memory limit
        return json_response({"error": str(exc).splitlines()[0], "parameter": "sql"}, 400)
    except WarehouseMissingError as exc:
        return _no_warehouse(state, str(exc))
    except WarehouseError as exc:
        return json_response({"error": str(exc).splitlines()[0]}, 503)
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    return Response(out, 200, {"Cache-Control": "no-store"}, media_type=media)
