"""The serve stage: the data API (JSON/CSV per metric model), the YAML-declared dashboards,
OpenAPI docs, /healthz and Prometheus /metrics, as one ASGI app (``create_app``).

Reads only: the metrics catalog JSON written by the warehouse stage and the published
warehouse, on any engine, through ``open_warehouse(settings).reader()`` (DuckDB,
PostgreSQL, or DuckDB over the Parquet files Spark wrote); nothing here knows which.
"""

from eventlake.serve.app import ServeApp, create_app
from eventlake.serve.catalog import Catalog, CatalogFile, Metric
from eventlake.serve.dashboards import DashboardError, DashboardSet, parse_dashboard

__all__ = [
    "Catalog",
    "CatalogFile",
    "DashboardError",
    "DashboardSet",
    "Metric",
    "ServeApp",
    "create_app",
    "parse_dashboard",
]
