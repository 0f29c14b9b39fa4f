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

if TYPE_CHECKING:
    from eventlake.serve.state import ServeState

__all__ = ["docs_html", "openapi_document"]

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json_type(col: Column) -> dict[str, Any]:
    kind = col.kind
    if kind == "integer":
        return {"type": ["integer", "null"]}
    if kind == "number":
        return {"type": ["number", "null"]}
    if kind == "date":
        return {"type": ["string", "null"], "format": "date"}
    if kind == "timestamp":
        return {"type": ["string", "null"], "format": "date-time"}
    return {"type": ["string", "null"]}


def _param(
    name: str, where: str, description: str, schema: dict[str, Any], many: bool = False
) -> dict[str, Any]:
    if many:
        schema = {"type": "array", "items": schema}
    return {
        "name": name,
        "in": where,
        "description": description,
        "required": where == "path",
        "schema": schema,
        **({"explode": True, "style": "form"} if many else {}),
    }


def _metric_path(metric: Metric, max_limit: int) -> dict[str, Any]:
    params = [
        _param("format", "path", "Response format.", {"type": "string", "enum": ["json", "csv"]})
    ]
    if metric.date_column:
        for name, word in (("start", "first"), ("end", "last")):
            params.append(
                _param(
                    name,
                    "query",
                    f"The {word} day included ({metric.date_column}).",
                    {"type": "string", "format": "date"},
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
                {k: v for k, v in _json_type(col).items() if k != "type"} | {"type": "string"},
                many=True,
            )
        )
    groupable = ([metric.date_column] if metric.date_column else []) + list(metric.dimensions)
    params += [
        _param(
            "group_by",
            "query",
            "Group by these columns; measures are summed.",
            {"type": "string", "enum": groupable},
            many=True,
        ),
        _param(
            "sort",
            "query",
            "Sort by a column; prefix '-' for descending.",
            {"type": "string", "enum": [p + c for c in metric.column_names for p in ("", "-")]},
            many=True,
        ),
        _param(
            "limit",
            "query",
            f"Rows returned (default 10000, at most {max_limit}).",
            {"type": "integer", "minimum": 0, "maximum": max_limit},
        ),
        _param("offset", "query", "Rows skipped.", {"type": "integer", "minimum": 0}),
    ]
    row = {
        "type": "object",
        "properties": {
            c.name: {**_json_type(c), "description": c.description} for c in metric.columns
        },
    }
    return {
        "get": {
            "operationId": f"metric_{metric.name}",
            "summary": metric.name,
            "description": metric.description,
            "tags": ["metrics"],
            "parameters": params,
            "responses": {
                "200": {
                    "description": "Rows (JSON) or CSV with a header row.",
                    "headers": {"ETag": {"schema": {"type": "string"}}},
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "metric": {"type": "string"},
                                    "columns": {"type": "array", "items": {"type": "string"}},
                                    "rows": {"type": "array", "items": row},
                                    "count": {"type": "integer"},
                                    "limit": {"type": "integer"},
                                    "offset": {"type": "integer"},
                                    "has_more": {"type": "boolean"},
                                },
                            }
                        },
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                "304": {"description": "Not modified (If-None-Match matched the ETag)."},
                "400": {
                    "description": "A bad parameter (named in 'parameter').",
                    "content": {"application/json": {"schema": _ERROR}},
                },
                "503": {
                    "description": "No warehouse yet.",
                    "content": {"application/json": {"schema": _ERROR}},
                },
            },
        }
    }


def _simple(summary: str, description: str, tag: str = "service") -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "description": description,
            "tags": [tag],
            "responses": {"200": {"description": "OK"}},
        }
    }


def openapi_document(catalog: Catalog, state: ServeState) -> dict[str, Any]:
    """The OpenAPI document for the current catalog."""
    paths: dict[str, Any] = {
        "/api/metrics": _simple(
            "List metrics",
            "Every metric model with its description, columns, date column and dimensions.",
            "metrics",
        ),
        "/api/dimensions": _simple(
            "List dimensions",
            "Each dimension and the metrics that accept it as a filter.",
            "metrics",
        ),
        "/api/dimensions/{name}/values": _simple(
            "Dimension values", "Distinct values of a dimension across its metrics.", "metrics"
        ),
        "/api/dashboards": _simple("List dashboards", "Dashboards declared in YAML.", "dashboards"),
        "/healthz": _simple("Health", "200 while the process serves; what is ready."),
        "/metrics": _simple(
            "Prometheus metrics",
            "Requests, latency, events received, "
            "landed and quarantined, in the Prometheus text format.",
        ),
    }
    for metric in catalog.metrics.values():
        paths[f"/api/metrics/{metric.name}.{{format}}"] = _metric_path(metric, state.max_limit)
    paths["/api/query"] = {
        "post": {
            "summary": "Read-only SQL",
            "description": "One read-only statement, checked by the same guard as "
            "`eventlake query`. Off unless serve.query_enabled; needs "
            "`Authorization: Bearer <serve.query_token>`."
            + ("" if state.query_enabled else " (disabled on this server)"),
            "tags": ["query"],
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["sql"],
                            "properties": {
                                "sql": {"type": "string"},
                                "limit": {"type": "integer", "default": 1000},
                                "format": {"type": "string", "enum": ["json", "csv"]},
                            },
                        }
                    }
                }
            },
            "responses": {
                "200": {"description": "Rows"},
                "400": {
                    "description": "Refused or failed",
                    "content": {"application/json": {"schema": _ERROR}},
                },
                "401": {"description": "Missing or wrong query token"},
            },
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
                    "properties": {"error": {"type": "string"}, "parameter": {"type": "string"}},
                }
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
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
