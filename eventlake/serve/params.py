"""Query parameters of ``/api/metrics/{name}`` -> a validated request and its SQL.

Every request value is validated here and bound as a parameter; identifiers come only from
the metrics catalog. The SQL itself is written in one place, :mod:`eventlake.serve.metric_sql`,
which aggregates each measure only as the catalog declares it. A value or name that does not
fit, or an aggregation that cannot be answered correctly, raises :class:`BadParameter`
naming the parameter, which the API turns into HTTP 400.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventlake.serve.catalog import Column, Metric
from eventlake.serve.metric_sql import BadParameter, MetricRequest, funnel_sql, metric_sql

__all__ = ["BadParameter", "MetricQuery", "parse_metric_query", "RESERVED_PARAMS"]

RESERVED_PARAMS = ("start", "end", "limit", "offset", "sort", "group_by", "measures", "total")

DEFAULT_LIMIT = 10_000
# ASCII digits only: ``str.isdigit``, ``\d`` and ``int()`` also take other scripts' digits
# ('²' is a digit that ``int`` refuses; '٣' is one it accepts), so they never decide alone.
_WHOLE = re.compile(r"[0-9]+")
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_NUMBER = re.compile(r"-?[0-9]{1,30}(\.[0-9]{1,30})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_VALUES = 500
MAX_VALUE_LEN = 512
MAX_OFFSET = 10**9
MAX_WINDOW_DAYS = 366


@dataclass(frozen=True, slots=True)
class MetricQuery:
    """A validated request for one metric: SQL, its bound parameters and output columns.

    ``key`` is a canonical form of the request (for ETags and the result cache). For a
    funnel, ``funnel_window`` is the conversion window in days and the rows of ``sql`` are
    one per group with ``step_<n>`` users, which the API turns into one row per step.
    """

    metric: Metric
    sql: str
    params: tuple[Any, ...]
    columns: tuple[str, ...]
    limit: int
    offset: int
    key: str
    request: MetricRequest
    funnel_window: int | None = None


def _parse_int(param: str, raw: str, low: int, high: int) -> int:
    if not _WHOLE.fullmatch(raw):
        raise BadParameter(param, f"{param} must be a whole number, got {raw[:40]!r}")
    if len(raw.lstrip("0")) > len(str(high)):  # never int() a 5,000-digit string
        raise BadParameter(param, f"{param} must be between {low} and {high}, got {raw[:40]}")
    value = int(raw)
    if not low <= value <= high:
        raise BadParameter(param, f"{param} must be between {low} and {high}, got {value}")
    return value


def _parse_date(param: str, raw: str) -> dt.date:
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise BadParameter(param, f"{param} must be a date YYYY-MM-DD, got {raw[:40]!r}") from None


def _parse_value(param: str, column: Column, raw: str) -> Any:
    if len(raw) > MAX_VALUE_LEN:
        raise BadParameter(param, f"{param} value is longer than {MAX_VALUE_LEN} characters")
    kind = column.kind
    if kind == "integer":
        if not _INTEGER.fullmatch(raw):
            raise BadParameter(param, f"{param} must be an integer, got {raw[:40]!r}")
        return int(raw)
    if kind == "number":
        if not _NUMBER.fullmatch(raw):
            raise BadParameter(param, f"{param} must be a number, got {raw[:40]!r}")
        return float(raw)
    if kind in ("date", "timestamp"):
        return _parse_date(param, raw)
    return raw


def parse_metric_query(
    metric: Metric, items: Sequence[tuple[str, str]], *, max_limit: int
) -> MetricQuery:
    """Validate the request's query items for ``metric`` and build its SQL.

    Parameters: ``start``/``end`` (inclusive dates on the metric's date column), one
    repeatable parameter per declared dimension (any of the values), ``group_by``
    (repeatable; the date column or dimensions: each measure is aggregated per group as
    declared), ``measures`` (repeatable: only these measures), ``total`` (``true``: one row
    over every filtered row), ``sort`` (repeatable column name, ``-`` prefix for
    descending), ``limit``, ``offset``; a funnel takes ``conversion_window_days`` instead
    of ``measures`` and ``total``.

    Raises:
        BadParameter: an unknown parameter, an invalid value, or an aggregation the
            measures' declarations do not allow (``.param`` names it).
    """
    start: dt.date | None = None
    end: dt.date | None = None
    limit = min(DEFAULT_LIMIT, max_limit)
    offset = 0
    sorts: list[str] = []
    group_by: list[str] = []
    measures: list[str] | None = None
    total = False
    window: int | None = None
    filters: dict[str, list[Any]] = {}
    seen_single: set[str] = set()
    accepted = set(metric.parameters())
    for name, raw in items:
        if name in ("start", "end", "limit", "offset", "total", "conversion_window_days"):
            if name in seen_single:
                raise BadParameter(name, f"{name} given more than once")
            seen_single.add(name)
        if name not in accepted and name not in metric.dimensions:
            if name in ("start", "end") and metric.date_column is None:
                raise BadParameter(
                    name, f"metric {metric.name!r} has no date column; {name} is not accepted"
                )
            raise BadParameter(
                name[:60],
                f"unknown parameter {name[:60]!r} for metric {metric.name!r}; "
                f"accepted: {', '.join(metric.parameters())}",
            )
        if name == "start":
            start = _parse_date(name, raw)
        elif name == "end":
            end = _parse_date(name, raw)
        elif name == "limit":
            limit = _parse_int(name, raw, 0, max_limit)
        elif name == "offset":
            offset = _parse_int(name, raw, 0, MAX_OFFSET)
        elif name == "conversion_window_days":
            window = _parse_int(name, raw, 1, MAX_WINDOW_DAYS)
        elif name == "total":
            if raw not in ("true", "false"):
                raise BadParameter("total", f"total must be true or false, got {raw[:40]!r}")
            total = raw == "true"
        elif name == "sort":
            sorts.append(raw)
        elif name == "measures":
            if raw not in metric.measure_names:
                raise BadParameter(
                    "measures",
                    f"measures must name measures of {metric.name} "
                    f"({', '.join(metric.measure_names)}), got {raw[:40]!r}",
                )
            measures = measures or []
            if raw not in measures:
                measures.append(raw)
        elif name == "group_by":
            allowed = list(metric.dimensions)
            if metric.date_column and metric.funnel is None:
                allowed.insert(0, metric.date_column)
            if raw not in allowed:
                extra = (
                    " (a funnel counts users over the whole range: it is not a daily series)"
                    if metric.funnel is not None and raw == metric.date_column
                    else ""
                )
                raise BadParameter(
                    "group_by",
                    f"group_by must be one of {', '.join(allowed) or '(none)'}, "
                    f"got {raw[:40]!r}{extra}",
                )
            if raw not in group_by:
                group_by.append(raw)
        else:  # a dimension
            dim_col = metric.column(name)
            assert dim_col is not None
            values = filters.setdefault(name, [])
            if len(values) >= MAX_VALUES:
                raise BadParameter(name, f"{name}: at most {MAX_VALUES} values")
            values.append(_parse_value(name, dim_col, raw))
    if start is not None and end is not None and start > end:
        raise BadParameter("start", f"start {start} is after end {end}")
    if total and group_by:
        raise BadParameter("total", "total=true gives one row: it takes no group_by")
    request = MetricRequest(
        start=start,
        end=end,
        filters=filters,
        group_by=tuple(group_by),
        measures=tuple(measures) if measures is not None else None,
        total=total,
        sorts=tuple(sorts),
        limit=limit,
        offset=offset,
        window_days=window,
    )
    key = repr(
        (
            metric.name,
            start,
            end,
            sorted((k, sorted(map(str, v))) for k, v in filters.items()),
            group_by,
            measures,
            total,
            window,
            sorts,
            limit,
            offset,
        )
    )
    if metric.funnel is not None:
        stmt = funnel_sql(metric, request)
        funnel_window = window or metric.funnel.conversion_window_days
        columns = (*group_by, "step", "step_name", "users", "conversion", "conversion_total")
        for raw in sorts:
            col = raw[1:] if raw.startswith("-") else raw
            if col not in columns:
                raise BadParameter(
                    "sort", f"sort must name a column ({', '.join(columns)}), got {raw[:40]!r}"
                )
        return MetricQuery(
            metric, stmt.sql, stmt.params, columns, limit, offset, key, request, funnel_window
        )
    stmt = metric_sql(metric, request)
    return MetricQuery(metric, stmt.sql, stmt.params, stmt.columns, limit, offset, key, request)
