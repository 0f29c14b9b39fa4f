"""Query parameters of ``/api/metrics/{name}`` -> one parameterised SQL statement.

Every request value is validated and bound as a parameter; identifiers (the relation, column
names in SELECT, WHERE, GROUP BY and ORDER BY) come only from the metrics catalog. A value
or name that does not fit raises :class:`BadParameter` naming the parameter, which the API
turns into HTTP 400.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventlake.serve.catalog import Column, Metric, quote_ident

__all__ = ["BadParameter", "MetricQuery", "parse_metric_query", "RESERVED_PARAMS"]

RESERVED_PARAMS = ("start", "end", "limit", "offset", "sort", "group_by")

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


class BadParameter(ValueError):
    """A query parameter is unknown or its value is invalid; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass(frozen=True, slots=True)
class MetricQuery:
    """A validated request for one metric: SQL, its bound parameters and output columns.

    ``key`` is a canonical form of the request (for ETags and the result cache).
    """

    metric: Metric
    sql: str
    params: tuple[Any, ...]
    columns: tuple[str, ...]
    limit: int
    offset: int
    key: str


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
    (repeatable; the date column or dimensions: the metric's measures are summed per group),
    ``sort`` (repeatable column name, ``-`` prefix for descending), ``limit``, ``offset``.

    Raises:
        BadParameter: an unknown parameter or an invalid value (``.param`` names it).
    """
    start: dt.date | None = None
    end: dt.date | None = None
    limit = min(DEFAULT_LIMIT, max_limit)
    offset = 0
    sorts: list[str] = []
    group_by: list[str] = []
    filters: dict[str, list[Any]] = {}
    seen_single: set[str] = set()
    for name, raw in items:
        if name in ("start", "end", "limit", "offset"):
            if name in seen_single:
                raise BadParameter(name, f"{name} given more than once")
            seen_single.add(name)
        if name in ("start", "end"):
            if metric.date_column is None:
                raise BadParameter(
                    name, f"metric {metric.name!r} has no date column; {name} is not accepted"
                )
            if name == "start":
                start = _parse_date(name, raw)
            else:
                end = _parse_date(name, raw)
        elif name == "limit":
            limit = _parse_int(name, raw, 0, max_limit)
        elif name == "offset":
            offset = _parse_int(name, raw, 0, MAX_OFFSET)
        elif name == "sort":
            sorts.append(raw)
        elif name == "group_by":
            allowed = ((metric.date_column,) if metric.date_column else ()) + metric.dimensions
            if raw not in allowed:
                raise BadParameter(
                    "group_by",
                    f"group_by must be one of {', '.join(allowed) or '(none)'}, got {raw[:40]!r}",
                )
            if raw not in group_by:
                group_by.append(raw)
        elif name in metric.dimensions:
            dim_col = metric.column(name)
            assert dim_col is not None
            values = filters.setdefault(name, [])
            if len(values) >= MAX_VALUES:
                raise BadParameter(name, f"{name}: at most {MAX_VALUES} values")
            values.append(_parse_value(name, dim_col, raw))
        else:
            accepted = [*RESERVED_PARAMS, *metric.dimensions]
            if metric.date_column is None:
                accepted = [a for a in accepted if a not in ("start", "end")]
            raise BadParameter(
                name[:60],
                f"unknown parameter {name[:60]!r} for metric {metric.name!r}; "
                f"accepted: {', '.join(accepted)}",
            )
    if start is not None and end is not None and start > end:
        raise BadParameter("start", f"start {start} is after end {end}")

    where: list[str] = []
    params: list[Any] = []
    if metric.date_column is not None:
        date_sql = quote_ident(metric.date_column)
        date_type = metric.column(metric.date_column)
        if date_type is None or date_type.kind != "date":
            # A timestamp (or an undeclared type) is compared by its day. A DATE column needs
            # no cast: DuckDB then binds, optimises and scans less for every request.
            date_sql = f"CAST({date_sql} AS DATE)"
        if start is not None:
            where.append(f"{date_sql} >= ?")
            params.append(start)
        if end is not None:
            where.append(f"{date_sql} <= ?")
            params.append(end)
    for dim, values in filters.items():
        where.append(f"{quote_ident(dim)} IN ({', '.join('?' for _ in values)})")
        params.extend(values)

    if group_by:
        measures = [m for m in metric.measures if m not in group_by]
        columns = (*group_by, *measures)
        select = ", ".join(
            [quote_ident(g) for g in group_by]
            + [f"SUM({quote_ident(m)}) AS {quote_ident(m)}" for m in measures]
        )
        tie_break: list[str] = list(group_by)
    else:
        columns = metric.column_names
        select = ", ".join(quote_ident(c) for c in columns)
        tie_break = [c for c in ((metric.date_column,) if metric.date_column else ())]
        tie_break += [d for d in metric.dimensions if d not in tie_break]
        if not tie_break:
            tie_break = list(columns)

    order: list[str] = []
    ordered: set[str] = set()
    for raw in sorts:
        desc = raw.startswith("-")
        col = raw[1:] if desc else raw
        if col not in columns:
            raise BadParameter(
                "sort", f"sort must name a column ({', '.join(columns)}), got {raw[:40]!r}"
            )
        if col not in ordered:
            order.append(f"{quote_ident(col)} {'DESC' if desc else 'ASC'} NULLS LAST")
            ordered.add(col)
    date_col = metric.date_column
    if not sorts and date_col is not None and date_col in columns and date_col not in ordered:
        order.append(f"{quote_ident(date_col)} ASC")
        ordered.add(date_col)
    for col in tie_break:
        if col not in ordered:
            order.append(f"{quote_ident(col)} ASC NULLS LAST")
            ordered.add(col)

    sql = f"SELECT {select} FROM {metric.sql_relation()}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if group_by:
        sql += " GROUP BY " + ", ".join(quote_ident(g) for g in group_by)
    if order:
        sql += " ORDER BY " + ", ".join(order)
    # One row past the limit tells the client whether there is more.
    sql += " LIMIT ? OFFSET ?"
    params.extend([limit + 1, offset])
    key = repr(
        (
            metric.name,
            start,
            end,
            sorted((k, sorted(map(str, v))) for k, v in filters.items()),
            group_by,
            sorts,
            limit,
            offset,
        )
    )
    return MetricQuery(
        metric=metric,
        sql=sql,
        params=tuple(params),
        columns=tuple(columns),
        limit=limit,
        offset=offset,
        key=key,
    )
