"""The SQL of a metric request: every statement the data API runs on a metric, in one place.

A validated request (:class:`MetricRequest`, from :mod:`eventlake.serve.params`) becomes one
parameterised statement that aggregates each measure only as its declaration allows
(docs/metrics.md):

- rows are summed only across columns where the measure adds up (``sum``/``count``
  everywhere; ``count_distinct``, ``last`` and ``average`` across their ``additive_across``);
- a distinct count merged across any other column is recounted from its ``grain`` (one row
  per entity and day, e.g. ``staging.int_user_days``);
- ``last`` over several days is the value of the range's last day, ``average`` the daily
  value averaged over the days of the range;
- ratios are recomputed from their aggregated numerator and denominator;
- what cannot be answered that way is a :class:`BadParameter` (HTTP 400), never a number;
- a grouping by the date column returns every day (or week) of the range within the data's
  coverage (a date spine from ``dim_date``), zeros where nothing happened.

The SQL is the subset DuckDB and PostgreSQL share: ``?`` placeholders (PostgreSQL drivers
take ``%s``: the statement holds no other ``?`` or ``%``), CTEs, ``IS NOT DISTINCT FROM``,
``COUNT(DISTINCT CASE ...)``, ``CAST(... AS DOUBLE PRECISION)``, window functions; values are
always bound, identifiers come only from the catalog.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eventlake.serve.catalog import Measure, Metric, quote_ident

__all__ = ["BadParameter", "MetricRequest", "Statement", "funnel_sql", "metric_sql"]


class BadParameter(ValueError):
    """A query parameter is unknown or its value is invalid; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass(frozen=True, slots=True)
class MetricRequest:
    """A validated request for one metric (every value already parsed)."""

    start: dt.date | None = None
    end: dt.date | None = None
    filters: dict[str, list[Any]] = field(default_factory=dict)
    group_by: tuple[str, ...] = ()
    measures: tuple[str, ...] | None = None
    total: bool = False
    sorts: tuple[str, ...] = ()
    limit: int = 10_000
    offset: int = 0
    window_days: int | None = None


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement, its bound parameters (in placeholder order) and output columns."""

    sql: str
    params: tuple[Any, ...]
    columns: tuple[str, ...]


class _Sql:
    """SQL text and its parameters, appended together so they cannot drift apart."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, text: str, *params: Any) -> _Sql:
        assert text.count("?") == len(params), text
        self.parts.append(text)
        self.params.extend(params)
        return self

    def extend(self, other: _Sql) -> _Sql:
        self.parts.extend(other.parts)
        self.params.extend(other.params)
        return self

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _date_sql(metric: Metric, alias: str = "") -> str:
    assert metric.date_column is not None
    col = f"{alias}{quote_ident(metric.date_column)}"
    date_col = metric.column(metric.date_column)
    if date_col is None or date_col.kind != "date":
        # A timestamp (or an undeclared type) is compared by its day. A DATE column needs
        # no cast: DuckDB then binds, optimises and scans less for every request.
        return f"CAST({col} AS DATE)"
    return col


def _where(metric: Metric, req: MetricRequest, *, dims: bool = True) -> _Sql:
    """`` WHERE ...`` of the request's date range and dimension filters (or nothing)."""
    sql = _Sql()
    conds: list[tuple[str, list[Any]]] = []
    if metric.date_column is not None:
        date_sql = _date_sql(metric)
        if req.start is not None:
            conds.append((f"{date_sql} >= ?", [req.start]))
        if req.end is not None:
            conds.append((f"{date_sql} <= ?", [req.end]))
    if dims:
        for dim, values in req.filters.items():
            conds.append((f"{quote_ident(dim)} IN ({', '.join('?' for _ in values)})", values))
    for i, (text, params) in enumerate(conds):
        sql.add((" WHERE " if i == 0 else " AND ") + text, *params)
    return sql


def _order(
    req: MetricRequest, columns: Sequence[str], tie_break: Sequence[str], date_col: str | None
) -> str:
    order: list[str] = []
    ordered: set[str] = set()
    for raw in req.sorts:
        desc = raw.startswith("-")
        col = raw[1:] if desc else raw
        if col not in columns:
            raise BadParameter(
                "sort", f"sort must name a column ({', '.join(columns)}), got {raw[:40]!r}"
            )
        if col not in ordered:
            order.append(f"{quote_ident(col)} {'DESC' if desc else 'ASC'} NULLS LAST")
            ordered.add(col)
    if not req.sorts and date_col is not None and date_col in columns and date_col not in ordered:
        order.append(f"{quote_ident(date_col)} ASC")
        ordered.add(date_col)
    for col in tie_break:
        if col not in ordered:
            order.append(f"{quote_ident(col)} ASC NULLS LAST")
            ordered.add(col)
    return " ORDER BY " + ", ".join(order) if order else ""


def _page(sql: _Sql, req: MetricRequest) -> None:
    # One row past the limit tells the client whether there is more.
    sql.add(" LIMIT ? OFFSET ?", req.limit + 1, req.offset)


def metric_sql(metric: Metric, req: MetricRequest) -> Statement:
    """The statement answering ``req`` on a table metric.

    Raises:
        BadParameter: a measure cannot be aggregated the way the request asks.
    """
    if not req.group_by and not req.total:
        return _rows_sql(metric, req)
    return _aggregate_sql(metric, req)


def _requested(metric: Metric, req: MetricRequest) -> list[Measure]:
    names = req.measures if req.measures is not None else metric.measure_names
    out = []
    for name in names:
        m = metric.measure(name)
        assert m is not None  # checked by the parser
        out.append(m)
    return out


def _rows_sql(metric: Metric, req: MetricRequest) -> Statement:
    """The rows themselves (each at the model's grain): no aggregation at all."""
    if req.measures is None:
        columns = metric.column_names
    else:
        keys = ([metric.date_column] if metric.date_column else []) + list(metric.dimensions)
        columns = (*keys, *req.measures)
    tie_break = [metric.date_column] if metric.date_column else []
    tie_break += [d for d in metric.dimensions if d not in tie_break]
    if not tie_break:
        tie_break = list(columns)
    sql = _Sql().add(f"SELECT {', '.join(quote_ident(c) for c in columns)} FROM ")
    sql.add(metric.sql_relation()).extend(_where(metric, req))
    sql.add(_order(req, columns, tie_break, metric.date_column))
    _page(sql, req)
    return Statement(sql.text, tuple(sql.params), tuple(columns))


def _merged(metric: Metric, req: MetricRequest) -> set[str]:
    """The grain columns whose different values end up in one output row."""
    grain = ([metric.date_column] if metric.date_column else []) + list(metric.dimensions)
    fixed = set(req.group_by)
    fixed |= {d for d, values in req.filters.items() if len(set(map(str, values))) == 1}
    if req.start is not None and req.start == req.end and metric.date_column:
        fixed.add(metric.date_column)
    return {c for c in grain if c not in fixed}


def _refuse(metric: Metric, m: Measure, across: set[str], why: str) -> BadParameter:
    cols = ", ".join(sorted(across))
    keep = " and ".join(sorted(across))
    return BadParameter(
        "group_by",
        f"{metric.name}.{m.name} ({m.agg or 'no declared aggregation'}) cannot be aggregated "
        f"across {cols}: {why}. Group by {keep} as well, filter on one value of it, or leave "
        f"{m.name} out (measures=...)",
    )


def _plan(metric: Metric, req: MetricRequest, measures: list[Measure]) -> dict[str, str]:
    """Measure -> how it is computed: sum, recount, last, average or ratio."""
    merged = _merged(metric, req)
    date = metric.date_column
    plan: dict[str, str] = {}

    def decide(m: Measure) -> None:
        if m.name in plan:
            return
        if m.agg in ("sum", "count"):
            plan[m.name] = "sum"
        elif m.agg == "ratio":
            for part in (m.numerator, m.denominator):
                dep = metric.measure(part or "")
                if dep is None:
                    raise _refuse(metric, m, merged, f"its part {part!r} is not a measure")
                decide(dep)
            plan[m.name] = "ratio"
        elif m.agg == "count_distinct":
            if merged <= set(m.additive_across):
                plan[m.name] = "sum"
            elif m.grain is not None and m.entity is not None:
                plan[m.name] = "recount"
            else:
                bad = merged - set(m.additive_across)
                raise _refuse(
                    metric,
                    m,
                    bad,
                    "distinct users do not add up there and no user grain "
                    "is declared to count them again",
                )
        elif m.agg in ("last", "average"):
            bad = merged - set(m.additive_across) - ({date} if date else set())
            if bad:
                raise _refuse(metric, m, bad, "its values do not add up there")
            if date is not None and date in merged:
                if m.agg == "average" and (metric.calendar is None or metric.coverage is None):
                    raise _refuse(metric, m, {date}, "the warehouse has no calendar")
                plan[m.name] = m.agg
            else:
                plan[m.name] = "sum"
        else:
            if merged:
                raise _refuse(metric, m, merged, "its YAML declares no aggregation (agg)")
            plan[m.name] = "sum"  # every grain column fixed: one row per output row

    for m in measures:
        decide(m)
    return plan


def _match(columns: Sequence[str], left: str, right: str) -> str:
    if not columns:
        return "1 = 1"
    return " AND ".join(
        f"{left}.{quote_ident(c)} IS NOT DISTINCT FROM {right}.{quote_ident(c)}" for c in columns
    )


def _spine(metric: Metric, req: MetricRequest) -> _Sql | None:
    """Every day (or week, or month) of the range within the data's coverage, or None when
    the warehouse has no calendar."""
    if metric.calendar is None or metric.coverage is None or metric.date_column is None:
        return None
    cal = ".".join(quote_ident(p) for p in metric.calendar)
    cov = ".".join(quote_ident(p) for p in metric.coverage)
    day = quote_ident("date_day")
    out = quote_ident(metric.date_column)
    sql = _Sql()
    if metric.time_grain in ("week", "month"):
        start = quote_ident(f"{metric.time_grain}_start")  # dim_date's week_start, month_start
        sql.add(f"SELECT DISTINCT {start} AS {out} FROM {cal}")
        first = f"(SELECT {start} FROM {cal} WHERE {day} = "
        sql.add(f" WHERE {start} >= {first}(SELECT first_day FROM {cov}))")
        sql.add(f" AND {day} <= (SELECT last_day FROM {cov})")
        col = start
    else:
        sql.add(f"SELECT {day} AS {out} FROM {cal}")
        sql.add(f" WHERE {day} >= (SELECT first_day FROM {cov})")
        sql.add(f" AND {day} <= (SELECT last_day FROM {cov})")
        col = day
    if req.start is not None:
        sql.add(f" AND {col} >= ?", req.start)
    if req.end is not None:
        sql.add(f" AND {col} <= ?", req.end)
    return sql


def _join_parts(sql: _Sql, parts: list[_Sql], sep: str = ", ") -> _Sql:
    for i, part in enumerate(parts):
        if i:
            sql.add(sep)
        sql.extend(part)
    return sql


def _aggregate_sql(metric: Metric, req: MetricRequest) -> Statement:
    measures = _requested(metric, req)
    plan = _plan(metric, req, measures)
    group = list(req.group_by)
    g_cols = [quote_ident(g) for g in group]
    g_sql = ", ".join(g_cols)
    date = metric.date_column
    rel = metric.sql_relation()
    sql = _Sql().add("WITH ")

    # base: the measures that are sums of rows (or of the range's last day's rows)
    base_cols: list[_Sql] = [_Sql().add(c) for c in g_cols]
    for name, how in plan.items():
        q = quote_ident(name)
        if how in ("sum", "average"):
            base_cols.append(_Sql().add(f"SUM({q}) AS {q}"))
        elif how == "last":
            col = _Sql().add(
                f"SUM(CASE WHEN {_date_sql(metric)} = (SELECT MAX({_date_sql(metric)}) FROM {rel}"
            )
            col.extend(_where(metric, req, dims=False)).add(f") THEN {q} ELSE 0 END) AS {q}")
            base_cols.append(col)
    if len(base_cols) == len(g_cols):  # no summed measure: still one row per group
        base_cols.append(_Sql().add("COUNT(*) AS base_rows"))
    sql.add("base AS (SELECT ")
    _join_parts(sql, base_cols).add(f" FROM {rel}").extend(_where(metric, req))
    if group:
        sql.add(f" GROUP BY {g_sql}")
    sql.add(")")

    # recounts: distinct entities from each grain relation, one CTE per grain
    grains: dict[tuple[str, str], list[Measure]] = {}
    for name, how in plan.items():
        if how == "recount":
            m = metric.measure(name)
            assert m is not None and m.grain is not None
            grains.setdefault(m.grain, []).append(m)
    recounts: dict[str, str] = {}
    aliases: list[str] = []
    for i, (grain, ms) in enumerate(grains.items()):
        alias = f"recount_{i}"
        aliases.append(alias)
        cols = list(g_cols)
        for m in ms:
            entity = quote_ident(m.entity or "")
            if m.when_positive:
                cond = " AND ".join(f"{quote_ident(c)} > 0" for c in m.when_positive)
                counted = f"CASE WHEN {cond} THEN {entity} END"
            else:
                counted = entity
            cols.append(f"COUNT(DISTINCT {counted}) AS {quote_ident(m.name)}")
            recounts[m.name] = alias
        sql.add(f", {alias} AS (SELECT {', '.join(cols)} FROM ")
        sql.add(".".join(quote_ident(p) for p in grain)).extend(_where(metric, req))
        if group:
            sql.add(f" GROUP BY {g_sql}")
        sql.add(")")

    # keys: every output row (with a date spine when grouping by the date column)
    spine = _spine(metric, req) if date is not None and date in group else None
    sql.add(", keys AS (")
    if not group:
        sql.add("SELECT 1 AS one")
    else:
        seen = " UNION ".join(f"SELECT {g_sql} FROM {s}" for s in ["base", *aliases])
        if spine is None:
            sql.add(seen)
        else:
            others = [g for g in group if g != date]
            picked = [f"s.{quote_ident(g)}" if g == date else f"o.{quote_ident(g)}" for g in group]
            sql.add(f"SELECT {', '.join(picked)} FROM (").extend(spine).add(") AS s")
            if others:
                o_sql = ", ".join(quote_ident(g) for g in others)
                sql.add(f" CROSS JOIN (SELECT DISTINCT {o_sql} FROM ({seen}) AS seen) AS o")
            # and every row's own key: a date outside the data's coverage is never dropped
            sql.add(f" UNION {seen}")
    sql.add(")")

    # the answer: one expression per measure (ratios from their parts' expressions)
    def expr(name: str) -> _Sql:
        how = plan[name]
        q = quote_ident(name)
        if how in ("sum", "last"):
            return _Sql().add(f"COALESCE(b.{q}, 0)")
        if how == "recount":
            return _Sql().add(f"COALESCE({recounts[name]}.{q}, 0)")
        if how == "average":
            return (
                _Sql()
                .add(f"CAST(COALESCE(b.{q}, 0) AS DOUBLE PRECISION) / NULLIF(")
                .extend(_days_in_range(metric, req))
                .add(", 0)")
            )
        m = metric.measure(name)
        assert m is not None and m.numerator and m.denominator
        out = _Sql().add("CAST(").extend(expr(m.numerator)).add(" AS DOUBLE PRECISION) / NULLIF(")
        return out.extend(expr(m.denominator)).add(", 0)")

    wanted = [m.name for m in measures]
    columns = (*group, *wanted)
    outs = [_Sql().add(f"k.{c}") for c in g_cols]
    outs += [expr(n).add(f" AS {quote_ident(n)}") for n in wanted]
    sql.add(" SELECT ")
    _join_parts(sql, outs).add(" FROM keys AS k LEFT JOIN base AS b ON " + _match(group, "k", "b"))
    for alias in aliases:
        sql.add(f" LEFT JOIN {alias} ON " + _match(group, "k", alias))
    final = _Sql().add("SELECT * FROM (").extend(sql).add(") AS answer")
    final.add(_order(req, columns, group or list(columns), date if date in group else None))
    _page(final, req)
    return Statement(final.text, tuple(final.params), tuple(columns))


def _days_in_range(metric: Metric, req: MetricRequest) -> _Sql:
    """How many days of the range the data covers (a scalar subquery)."""
    assert metric.calendar is not None and metric.coverage is not None
    cal = ".".join(quote_ident(p) for p in metric.calendar)
    cov = ".".join(quote_ident(p) for p in metric.coverage)
    day = quote_ident("date_day")
    sql = _Sql().add(
        f"(SELECT COUNT(*) FROM {cal} WHERE {day} >= (SELECT first_day FROM {cov}) "
        f"AND {day} <= (SELECT last_day FROM {cov})"
    )
    if req.start is not None:
        sql.add(f" AND {day} >= ?", req.start)
    if req.end is not None:
        sql.add(f" AND {day} <= ?", req.end)
    return sql.add(")")


def funnel_sql(metric: Metric, req: MetricRequest) -> Statement:
    """The ordered funnel of ``metric`` (``kind: funnel``): users per step and group.

    A user enters at their first step-1 event in the range that matches the filters (the
    group is that event's dimensions); reaches step k with a step-k event at or after the
    step k-1 time (the first such event) and within the conversion window from entry.
    Returns one row per group: the group columns, then ``step_<n>`` users per step.
    """
    f = metric.funnel
    assert f is not None
    window = dt.timedelta(days=req.window_days or f.conversion_window_days)
    rel = metric.sql_relation()
    user, at, step = quote_ident(f.entity), quote_ident(f.time_column), quote_ident(f.step_column)
    group = list(req.group_by)
    g_sel = "".join(f", {quote_ident(g)}" for g in group)
    steps = [s.step for s in f.steps]
    tie = "".join(f", {quote_ident(d)}" for d in metric.dimensions)
    where = _where(metric, req)
    first_step = (" AND " if where.parts else " WHERE ") + f"{step} = ?"
    if group:
        # the entry's dimensions are the group: the first step-1 event, ties broken by them
        sql = _Sql().add(
            f"WITH firsts AS (SELECT {user}, {at}{g_sel}, ROW_NUMBER() OVER (PARTITION BY "
            f"{user} ORDER BY {at}{tie}) AS rn FROM {rel}"
        )
        sql.extend(where).add(first_step, steps[0])
        sql.add(f"), step_1 AS (SELECT {user}, {at} AS reached_at{g_sel} FROM firsts WHERE rn = 1)")
    else:  # only the entry time matters: a hash aggregate, no sort
        sql = _Sql().add(f"WITH step_1 AS (SELECT {user}, MIN({at}) AS reached_at FROM {rel}")
        sql.extend(where).add(first_step, steps[0]).add(f" GROUP BY {user})")
    # later steps only look at days the window can reach: prune by the date column
    later = _Sql()
    if metric.date_column is not None:
        date_sql = _date_sql(metric, "s.")
        if req.start is not None:
            later.add(f" AND {date_sql} >= ?", req.start)
        if req.end is not None:
            later.add(f" AND {date_sql} <= ?", req.end + window + dt.timedelta(days=1))
    for k in range(1, len(steps)):
        prev = f"step_{k}"
        sql.add(
            f", step_{k + 1} AS (SELECT p.{user}, MIN(s.{at}) AS reached_at FROM {prev} AS p "
            f"INNER JOIN step_1 AS e ON e.{user} = p.{user} "
            f"INNER JOIN {rel} AS s ON s.{user} = p.{user} AND s.{step} = ? "
            f"AND s.{at} >= p.reached_at AND s.{at} <= e.reached_at + ?",
            steps[k],
            window,
        )
        sql.extend(later).add(f" GROUP BY p.{user})")
    cols = ["COUNT(*) AS step_1"] + [
        f"COUNT(step_{k}.{user}) AS step_{k}" for k in range(2, len(steps) + 1)
    ]
    g_out = "".join(f"e.{quote_ident(g)}, " for g in group)
    sql.add(f" SELECT {g_out}" + ", ".join(cols) + " FROM step_1 AS e")
    for k in range(2, len(steps) + 1):
        sql.add(f" LEFT JOIN step_{k} ON step_{k}.{user} = e.{user}")
    if group:
        sql.add(" GROUP BY " + ", ".join(f"e.{quote_ident(g)}" for g in group))
    columns = (*group, *(f"step_{k}" for k in range(1, len(steps) + 1)))
    return Statement(sql.text, tuple(sql.params), tuple(columns))


def funnel_rows(
    metric: Metric, group_by: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[tuple[Any, ...]]:
    """One row per group and step from :func:`funnel_sql`'s rows: the group's columns,
    step, step_name, users, conversion (from the previous step) and conversion_total
    (from the first step; None when nobody entered)."""
    f = metric.funnel
    assert f is not None
    n = len(group_by)
    out: list[tuple[Any, ...]] = []
    for row in rows:
        keys, counts = tuple(row[:n]), [int(c or 0) for c in row[n:]]
        for i, step in enumerate(f.steps):
            prev = counts[i - 1] if i else counts[0]
            out.append(
                (
                    *keys,
                    step.step,
                    step.label,
                    counts[i],
                    counts[i] / prev if prev else None,
                    counts[i] / counts[0] if counts[0] else None,
                )
            )
    return out
