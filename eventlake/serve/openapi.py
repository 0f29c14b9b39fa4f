"""The OpenAPI 3.1 document of the data API, built from the metrics catalog, and /docs.

One path per metric model (so each metric's dimensions, sort columns and row schema are
documented exactly as the API accepts them), plus the fixed routes. ``/docs`` renders the
document as plain HTML on the server: no Swagger UI bundle, nothing from a CDN.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from eventlake.serve.catalog import Catalog, Column, Metric
from eventlake.serve.params import MAX_OFFSET, MAX_VALUE_LEN, MAX_VALUES, MAX_WINDOW_DAYS

if TYPE_CHECKING:
    from eventlake.serve.state import ServeState

__all__ = ["docs_html", "openapi_document"]

_ERROR = {"$ref": "#/components/schemas/Error"}
_JSON_ERROR = {"application/json": {"schema": _ERROR}}

# What the data API enforces (serve/params.py), stated in the document so a client (and the
# schemathesis suite) knows what is valid.
_DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_INTEGER_PATTERN = "^-?[0-9]{1,18}$"
_NUMBER_PATTERN = r"^-?[0-9]{1,30}(\.[0-9]{1,30})?$"


def _json_type(col: Column) -> dict[str, Any]:
    """The JSON Schema of a column's values in a JSON response (NULL is null)."""
    raw = col.type.upper()
    if raw in ("BOOLEAN", "BOOL"):
        return {"type": ["boolean", "null"]}
    if raw.endswith("]") or raw.startswith(("STRUCT", "MAP", "UNION", "JSON", "LIST")):
        return {}  # nested values: any JSON
    kind = col.kind
    if kind == "integer":
        return {"type": ["integer", "null"]}
    if kind == "number":  # NaN and infinities are encoded as null
        return {"type": ["number", "null"]}
    if kind == "date":
        return {"type": ["string", "null"], "format": "date"}
    if kind == "timestamp" and ("TIME ZONE" in raw or raw == "TIMESTAMPTZ"):
        return {"type": ["string", "null"], "format": "date-time"}
    return {"type": ["string", "null"]}


def _value_pattern(col: Column) -> dict[str, Any]:
    """The schema of one filter value for a dimension column (as the API parses it)."""
    kind = col.kind
    if kind == "integer":
        return {"type": "string", "pattern": _INTEGER_PATTERN}
    if kind == "number":
        return {"type": "string", "pattern": _NUMBER_PATTERN}
    if kind in ("date", "timestamp"):
        return {"type": "string", "format": "date", "pattern": _DATE_PATTERN}
    return {"type": "string", "maxLength": MAX_VALUE_LEN}


def _param(
    name: str,
    where: str,
    description: str,
    schema: dict[str, Any],
    many: bool = False,
    max_items: int | None = None,
) -> dict[str, Any]:
    if many:
        schema = {"type": "array", "items": schema}
        if max_items is not None:
            schema["maxItems"] = max_items
    return {
        "name": name,
        "in": where,
        "description": description,
        "required": where == "path",
        "schema": schema,
        **({"explode": True, "style": "form"} if many else {}),
    }


def _responses(ok: dict[str, Any], *codes: str, protected: bool) -> dict[str, Any]:
    """The documented answers: ``ok`` for 200 plus the error codes named, all JSON."""
    described = {
        "304": "Not modified (If-None-Match matched the ETag).",
        "400": "A bad parameter (named in 'parameter').",
        "401": "Missing or wrong bearer token.",
        "404": "Unknown name or format (the answer lists the known ones).",
        "413": "Body too large.",
        "503": "No warehouse yet, or it does not match the catalog: the answer says what to run.",
    }
    out: dict[str, Any] = {"200": ok}
    for code in (*codes, *(("401",) if protected else ())):
        if code == "304":
            out[code] = {"description": described[code]}
        else:
            out[code] = {"description": described[code], "content": _JSON_ERROR}
    return out


def _metric_path(metric: Metric, max_limit: int, protected: bool) -> dict[str, Any]:
    params = [
        _param("format", "path", "Response format.", {"type": "string", "enum": ["json", "csv"]})
    ]
    if metric.date_column:
        for name, word in (("start", "first"), ("end", "last")):
            params.append(
                _param(
                    name,
                    "query",
                    f"The {word} day included ({metric.date_column}), YYYY-MM-DD"
                    + ("; not after `end`." if name == "start" else "."),
                    {"type": "string", "format": "date", "pattern": _DATE_PATTERN},
                )
            )
    for dim in metric.dimensions:
        col = metric.column(dim)
        assert col is not None
        params.append(
            _param(
                dim,
                "query",
                f"Keep rows whose {dim} is any of these values.",
                _value_pattern(col),
                many=True,
                max_items=MAX_VALUES,
            )
        )
    funnel = metric.funnel is not None
    groupable = ([metric.date_column] if metric.date_column and not funnel else []) + list(
        metric.dimensions
    )
    out_columns = metric.output_columns()
    params.append(
        _param(
            "group_by",
            "query",
            (
                "Count the funnel per value of these dimensions (those of the user's entry)."
                if funnel
                else "Group by these columns; each measure aggregates as its catalog entry "
                "declares (`agg`), and a grouping it cannot answer correctly is a 400. "
                "Grouping by the date column returns every day of the range."
            ),
            {"type": "string", "enum": groupable} if groupable else {"type": "string"},
            many=True,
        )
    )
    if funnel:
        params.append(
            _param(
                "conversion_window_days",
                "query",
                "Days after a user's entry (first step) within which the later steps count.",
                {"type": "integer", "minimum": 1, "maximum": MAX_WINDOW_DAYS},
            )
        )
    else:
        if metric.measures:
            params.append(
                _param(
                    "measures",
                    "query",
                    "Only these measures (default: every measure).",
                    {"type": "string", "enum": list(metric.measure_names)},
                    many=True,
                )
            )
        params.append(
            _param(
                "total",
                "query",
                "true: one row, every measure over all the filtered rows (no group_by).",
                {"type": "string", "enum": ["true", "false"]},
            )
        )
    params += [
        _param(
            "sort",
            "query",
            "Sort by a column of the answer; prefix '-' for descending. With `group_by`, "
            "only the grouped columns and the measures.",
            {"type": "string", "enum": [p + c for c in out_columns for p in ("", "-")]},
            many=True,
        ),
        _param(
            "limit",
            "query",
            f"Rows returned (default 10000, at most {max_limit}).",
            {"type": "integer", "minimum": 0, "maximum": max_limit},
        ),
        _param(
            "offset",
            "query",
            "Rows skipped.",
            {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
        ),
    ]
    if funnel:
        row_props: dict[str, Any] = {d: {"type": ["string", "null"]} for d in metric.dimensions}
        row_props |= {
            "step": {"type": "integer", "description": "Step number (1 = entry)."},
            "step_name": {"type": "string", "description": "The step's label."},
            "users": {"type": "integer", "description": "Users who reached the step."},
            "conversion": {
                "type": ["number", "null"],
                "description": "users / users of the previous step (1 for the first).",
            },
            "conversion_total": {
                "type": ["number", "null"],
                "description": "users / users of the first step.",
            },
        }
    else:
        row_props = {
            c.name: {**_json_type(c), "description": c.description} for c in metric.columns
        }
    row = {"type": "object", "properties": row_props}
    ok = {
        "description": "Rows (JSON) or CSV with a header row.",
        "headers": {"ETag": {"schema": {"type": "string"}}},
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["metric", "columns", "rows", "count", "limit", "offset"],
                    "properties": {
                        "metric": {"type": "string", "const": metric.name},
                        "columns": {"type": "array", "items": {"type": "string"}},
                        "rows": {"type": "array", "items": row},
                        "count": {"type": "integer", "minimum": 0},
                        "limit": {"type": "integer", "minimum": 0},
                        "offset": {"type": "integer", "minimum": 0},
                        "has_more": {"type": "boolean"},
                        "partial_days": {
                            "type": "array",
                            "items": {"type": "string", "format": "date"},
                            "description": "Days the data covers only in part (the first "
                            "and the last day of data).",
                        },
                        "currency": {
                            "type": ["string", "null"],
                            "description": "The reporting currency of currency measures.",
                        },
                        "measures": {
                            "type": "object",
                            "description": "How each measure of the answer is aggregated.",
                        },
                        "conversion_window_days": {"type": "integer"},
                    },
                }
            },
            "text/csv": {"schema": {"type": "string"}},
        },
    }
    responses = _responses(ok, "304", "400", "404", "503", protected=protected)
    # The HTTP server itself (uvicorn) refuses a request line over 64 KB before the API
    # sees it, with a plain-text 400; many long filter values can add up to that.
    responses["400"]["description"] += " A URL longer than 64 KB: plain text."
    responses["400"]["content"] = {**_JSON_ERROR, "text/plain": {"schema": {"type": "string"}}}
    return {
        "get": {
            "operationId": f"metric_{metric.name}",
            "summary": metric.name,
            "description": metric.description,
            "tags": ["metrics"],
            "parameters": params,
            "responses": responses,
        }
    }


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required if required is not None else list(properties),
        "properties": properties,
    }


_STRINGS = {"type": "array", "items": {"type": "string"}}
_COLUMN = _object(
    {"name": {"type": "string"}, "type": {"type": "string"}, "description": {"type": "string"}}
)


def _get(
    summary: str,
    description: str,
    tag: str,
    ok: dict[str, Any],
    *codes: str,
    protected: bool,
    parameters: list[dict[str, Any]] | None = None,
    open_route: bool = False,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "description": description,
        "tags": [tag],
        "responses": _responses(ok, *codes, protected=protected and not open_route),
    }
    if parameters:
        op["parameters"] = parameters
    if open_route:
        op["security"] = []
    return {"get": op}


def _json_ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document(catalog: Catalog, state: ServeState) -> dict[str, Any]:
    """The OpenAPI document for the current catalog."""
    protected = bool(state.token)
    metric_entry = _object(
        {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "relation": {"type": "string"},
            "date_column": {"type": ["string", "null"]},
            "dimensions": _STRINGS,
            "kind": {"type": "string", "enum": ["table", "funnel"]},
            "time_grain": {"type": ["string", "null"]},
            "measures": {"type": "array", "items": {"type": "object"}},
            "columns": {"type": "array", "items": _COLUMN},
        },
        required=["name", "columns", "dimensions"],
    )
    paths: dict[str, Any] = {
        "/api/metrics": _get(
            "List metrics",
            "Every metric model with its description, columns, date column and dimensions.",
            "metrics",
            _json_ok(
                "The catalog.",
                _object(
                    {
                        "metrics": {"type": "array", "items": metric_entry},
                        "warehouse_ready": {"type": "boolean"},
                        "catalog_error": {"type": ["string", "null"]},
                    }
                ),
            ),
            "304",
            protected=protected,
        ),
        "/api/dimensions": _get(
            "List dimensions",
            "Each dimension and the metrics that accept it as a filter.",
            "metrics",
            _json_ok(
                "Dimension name -> metrics.",
                _object({"dimensions": {"type": "object", "additionalProperties": _STRINGS}}),
            ),
            protected=protected,
        ),
        "/api/dimensions/{name}/values": _get(
            "Dimension values",
            "Distinct values of a dimension across its metrics (at most 2000). Takes no "
            "query parameter.",
            "metrics",
            _json_ok(
                "The values, as text.",
                _object(
                    {
                        "dimension": {"type": "string"},
                        "values": _STRINGS,
                        "truncated": {"type": "boolean"},
                        "metrics": _STRINGS,
                    }
                ),
            ),
            "304",
            "400",
            "404",
            "503",
            protected=protected,
            parameters=[
                _param(
                    "name",
                    "path",
                    "A dimension declared by a metric.",
                    {"type": "string", "enum": list(catalog.dimensions())}
                    if catalog.dimensions()
                    else {"type": "string"},
                )
            ],
        ),
        "/api/dashboards": _get(
            "List dashboards",
            "Dashboards declared in YAML.",
            "dashboards",
            _json_ok(
                "Each dashboard's slug, title, source file and error.",
                _object(
                    {
                        "dashboards": {
                            "type": "array",
                            "items": _object(
                                {
                                    "slug": {"type": "string"},
                                    "title": {"type": "string"},
                                    "source": {"type": ["string", "null"]},
                                    "error": {"type": ["string", "null"]},
                                }
                            ),
                        }
                    }
                ),
            ),
            protected=protected,
        ),
        "/healthz": _get(
            "Health",
            "200 while the process serves; what is ready. Never needs a token.",
            "service",
            _json_ok(
                "Status.",
                _object(
                    {
                        "status": {"type": "string", "const": "ok"},
                        "warehouse": {"type": "boolean"},
                        "metrics": {"type": "integer", "minimum": 0},
                        "catalog_error": {"type": ["string", "null"]},
                    }
                ),
            ),
            protected=protected,
            open_route=True,
        ),
        "/metrics": _get(
            "Prometheus metrics",
            "Requests, latency, events received, "
            "landed and quarantined, in the Prometheus text format.",
            "service",
            {
                "description": "Prometheus text exposition.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            protected=protected,
        ),
    }
    for metric in catalog.metrics.values():
        paths[f"/api/metrics/{metric.name}.{{format}}"] = _metric_path(
            metric, state.max_limit, protected
        )
    query_responses = _responses(
        {
            "description": "Rows as JSON, or CSV with a header row.",
            "content": {
                "application/json": {
                    "schema": _object(
                        {
                            "columns": _STRINGS,
                            "types": _STRINGS,
                            "rows": {"type": "array", "items": {"type": "array"}},
                            "count": {"type": "integer", "minimum": 0},
                            "truncated": {"type": "boolean"},
                        }
                    )
                },
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        "400",
        "401",
        "404",
        "413",
        "503",
        protected=False,
    )
    query_responses["400"]["description"] = (
        "The body is not as described, or the statement was refused, failed or ran past "
        "its time or memory limit ('parameter' says which)."
    )
    query_responses["404"]["description"] = "The endpoint is disabled on this server."
    query_responses["401"]["description"] = "Missing or wrong query token."
    paths["/api/query"] = {
        "post": {
            "summary": "Read-only SQL",
            "description": "One read-only statement, checked by the same guard as "
            "`eventlake query`, then run on the warehouse's sandboxed reader (time limit "
            "warehouse.query_timeout, memory limit warehouse.query_memory_mb). Off unless "
            "serve.query_enabled; needs `Authorization: Bearer <serve.query_token>`. Body at "
            "most 1 MB." + ("" if state.query_enabled else " (disabled on this server)"),
            "tags": ["query"],
            "security": [{"query_token": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["sql"],
                            "additionalProperties": False,
                            "properties": {
                                "sql": {
                                    "type": "string",
                                    "minLength": 1,
                                    "examples": [
                                        "SHOW TABLES",
                                        "SELECT * FROM metrics.daily_active_users LIMIT 5",
                                    ],
                                },
                                "limit": {
                                    "type": "integer",
                                    "minimum": 0,
                                    "maximum": state.max_limit,
                                    "default": 1000,
                                },
                                "format": {"type": "string", "enum": ["json", "csv"]},
                            },
                        }
                    }
                },
            },
            "responses": query_responses,
        }
    }
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "eventlake data API",
            "version": "1",
            "description": "Every metrics model of the warehouse as JSON or CSV.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}, "parameter": {"type": "string"}},
                }
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "query_token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "serve.query_token, a separate secret.",
                },
            },
        },
    }
    if state.token:
        doc["security"] = [{"bearer": []}]
    return doc


_STYLE = """body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;
color:#1f2933}code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre{background:#f3f5f7;padding:.75rem;overflow:auto;border-radius:6px}
.op{border:1px solid #d9dee3;border-radius:8px;margin:1rem 0;padding:.5rem 1rem}
.m{display:inline-block;font-weight:700;min-width:3.5rem}table{border-collapse:collapse}
td,th{border-bottom:1px solid #e4e7eb;padding:.2rem .6rem;text-align:left;vertical-align:top}
"""


def docs_html(doc: dict[str, Any]) -> str:
    """A readable, self-contained HTML page for the OpenAPI document."""
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{e(doc['info']['title'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(doc['info']['title'])}</h1><p>{e(doc['info']['description'])} ",
        "Machine-readable: <a href='/openapi.json'>/openapi.json</a>. "
        "Dashboard: <a href='/'>/</a>.</p>",
    ]
    if doc.get("security"):
        parts.append("<p>Send <code>Authorization: Bearer &lt;token&gt;</code>.</p>")
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            parts.append(f"<section class='op' id='{e(op.get('operationId', path))}'>")
            parts.append(
                f"<h2><span class='m'>{e(method.upper())}</span> <code>{e(path)}"
                f"</code></h2><p><b>{e(op.get('summary', ''))}</b>. "
                f"{e(op.get('description', ''))}</p>"
            )
            params = op.get("parameters") or []
            if params:
                parts.append(
                    "<table><tr><th>parameter</th><th>in</th><th>schema</th>"
                    "<th>description</th></tr>"
                )
                for p in params:
                    schema = json.dumps(p["schema"])
                    if len(schema) > 160:
                        schema = schema[:157] + "..."
                    parts.append(
                        f"<tr><td><code>{e(p['name'])}</code></td><td>{e(p['in'])}"
                        f"</td><td><code>{e(schema)}</code></td>"
                        f"<td>{e(p.get('description', ''))}</td></tr>"
                    )
                parts.append("</table>")
            if path.startswith("/api/metrics/"):
                example = path.replace("{format}", "json")
                parts.append(f"<pre>curl '{e(example)}?limit=10'</pre>")
            parts.append("</section>")
    parts.append("</body></html>")
    return "".join(parts)
