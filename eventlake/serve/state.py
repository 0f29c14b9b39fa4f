"""What every route of the serve app shares: settings-derived paths, tokens, caches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eventlake.health import HealthSource
from eventlake.serve.catalog import CatalogFile
from eventlake.serve.dashboards import DashboardSet
from eventlake.serve.data import QueryRunner, ResultCache
from eventlake.serve.prom import HttpMetrics, LakeCounts

__all__ = ["ServeState"]


@dataclass
class ServeState:
    """The app's shared objects (each is thread-safe)."""

    catalog: CatalogFile
    runner: QueryRunner
    cache: ResultCache
    dashboards: DashboardSet
    lake_counts: LakeCounts
    token: str | None
    query_enabled: bool
    query_token: str | None
    max_limit: int
    cache_seconds: int
    http_metrics: HttpMetrics | None = field(default=None)
    #: the pipeline's health under ``eventlake up`` (None: a bare ``eventlake serve``)
    health: HealthSource | None = field(default=None)
    #: warehouse version -> the partial days (first and last day of data)
    partial_days: dict[str, list[Any]] = field(default_factory=dict)
