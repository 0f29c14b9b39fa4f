"""How the API aggregates each declared measure (eventlake.serve.metric_sql), run on DuckDB."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from eventlake.serve.catalog import Catalog, Metric
from eventlake.serve.params import BadParameter, parse_metric_query

DIMS = ["platform", "country"]
USERS = {
    "measures": [
        {"name": "events", "agg": "sum"},
        {
            "name": "dau",
            "agg": "count_distinct",
            "entity": "user_key",
            "grain": "staging.user_days",
            "additive_across": DIMS,
        },
        {"name": "wau", "agg": "last", "window_days": 7, "additive_across": DIMS},
        {"name": "avg_dau", "agg": "average", "additive_across": DIMS},
        {"name": "per_user", "agg": "ratio", "numerator": "events", "denominator": "dau"},
        {"name": "cohort", "agg": "count_distinct", "entity": "user_key"},
    ]
}


def _catalog() -> Metric:
    cols = ["activity_date", *DIMS, "events", "dau", "wau", "avg_dau", "per_user", "cohort"]
    types = {"activity_date": "DATE", "platform": "VARCHAR", "country": "VARCHAR"}
    doc = {
        "reporting_currency": "USD",
        "calendar": "marts.dim_date",
        "coverage": "marts.data_coverage",
        "metrics": [
            {
                "name": "users",
                "relation": "metrics.users",
                "date_column": "activity_date",
                "dimensions": DIMS,
                **USERS,
                "columns": [{"name": c, "type": types.get(c, "BIGINT")} for c in cols],
            }
        ],
    }
    return Catalog.parse(json.dumps(doc).encode(), "v").metrics["users"]


METRIC = _catalog()
D1, D2, D3 = dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 3)
# user-days: u1 iOS on days 1 and 2, u2 Android on day 1 and iOS on day 3, u3 iOS DE day 2
USER_DAYS = [
    ("u1", D1, "iOS", "US", 3),
    ("u1", D2, "iOS", "US", 1),
    ("u2", D1, "Android", "US", 2),
    ("u2", D3, "iOS", "US", 5),
    ("u3", D2, "iOS", "DE", 4),
]


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    c.execute("CREATE SCHEMA staging; CREATE SCHEMA marts; CREATE SCHEMA metrics")
    c.execute(
        "CREATE TABLE staging.user_days (user_key VARCHAR, activity_date DATE, "
        "platform VARCHAR, country VARCHAR, events BIGINT)"
    )
    c.executemany("INSERT INTO staging.user_days VALUES (?, ?, ?, ?, ?)", USER_DAYS)
    c.execute(
        "CREATE TABLE marts.dim_date AS SELECT d::DATE AS date_day, "
        "date_trunc('week', d)::DATE AS week_start "
        "FROM range(DATE '2025-12-01', DATE '2026-02-01', INTERVAL 1 DAY) t(d)"
    )
    c.execute(
        "CREATE TABLE marts.data_coverage AS SELECT min(activity_date) AS first_day, "
        "max(activity_date) AS last_day FROM staging.user_days"
    )
    # the metric rows (each user-day in one combination; wau = users in the trailing 7
    # days attributed to their latest day; cohort = an arbitrary non-additive count)
    c.execute(
        """CREATE TABLE metrics.users AS
        SELECT activity_date, platform, country, sum(events) AS events, count(*) AS dau,
            count(*) AS wau, count(*) AS avg_dau, 0.0 AS per_user, 1 AS cohort
        FROM staging.user_days GROUP BY 1, 2, 3"""
    )
    yield c
    c.close()


def _run(con: duckdb.DuckDBPyConnection, items: list[tuple[str, str]]) -> list[dict[str, Any]]:
    q = parse_metric_query(METRIC, items, max_limit=1000)
    assert q.sql.count("?") == len(q.params)
    cur = con.execute(q.sql, list(q.params))
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def test_distinct_users_over_days_are_recounted_not_summed(con: Any) -> None:
    rows = _run(con, [("group_by", "platform"), ("measures", "dau"), ("measures", "events")])
    got = {r["platform"]: (r["dau"], r["events"]) for r in rows}
    # iOS: u1 (2 days), u2, u3 -> 3 users over 4 user-days; events add up
    assert got == {"iOS": (3, 13), "Android": (1, 2)}
    total = _run(con, [("total", "true"), ("measures", "dau")])
    assert total == [{"dau": 3}]


def test_one_day_adds_up_across_dimensions_without_a_recount(con: Any) -> None:
    q = parse_metric_query(
        METRIC, [("group_by", "activity_date"), ("measures", "dau")], max_limit=9
    )
    assert "user_days" not in q.sql  # summed: each user-day is in one combination
    rows = _run(con, [("group_by", "activity_date"), ("measures", "dau")])
    assert [(r["activity_date"], r["dau"]) for r in rows] == [(D1, 2), (D2, 2), (D3, 1)]


def test_date_spine_fills_days_without_rows(con: Any) -> None:
    rows = _run(
        con,
        [("group_by", "activity_date"), ("platform", "Android"), ("measures", "events")],
    )
    assert [(r["activity_date"], r["events"]) for r in rows] == [(D1, 2), (D2, 0), (D3, 0)]
    # bounded by the data's coverage, whatever the range asked
    wide = _run(
        con,
        [("group_by", "activity_date"), ("start", "2025-12-20"), ("measures", "events")],
    )
    assert [r["activity_date"] for r in wide] == [D1, D2, D3]


def test_window_values_take_the_last_day_and_averages_the_days(con: Any) -> None:
    rows = _run(con, [("total", "true"), ("measures", "wau"), ("measures", "avg_dau")])
    assert rows == [{"wau": 1, "avg_dau": pytest.approx(5 / 3)}]
    ranged = _run(
        con,
        [("total", "true"), ("end", "2026-01-02"), ("measures", "wau"), ("measures", "avg_dau")],
    )
    assert ranged == [{"wau": 2, "avg_dau": pytest.approx(4 / 2)}]


def test_ratios_are_recomputed_from_their_aggregated_parts(con: Any) -> None:
    rows = _run(con, [("group_by", "country"), ("measures", "per_user")])
    assert {r["country"]: r["per_user"] for r in rows} == {
        "US": pytest.approx(11 / 2),
        "DE": pytest.approx(4 / 1),
    }


def test_what_cannot_be_answered_is_a_400(con: Any) -> None:
    with pytest.raises(BadParameter) as info:
        parse_metric_query(METRIC, [("group_by", "platform"), ("measures", "cohort")], max_limit=9)
    assert info.value.param == "group_by"
    assert "users.cohort" in info.value.message and "activity_date" in info.value.message
    # ... unless the merged column is fixed by a one-value filter and the day
    rows = _run(
        con,
        [
            ("group_by", "platform"),
            ("country", "US"),
            ("start", "2026-01-01"),
            ("end", "2026-01-01"),
            ("measures", "cohort"),
        ],
    )
    assert {r["platform"] for r in rows} == {"iOS", "Android"}
    with pytest.raises(BadParameter, match="measures must name"):
        parse_metric_query(METRIC, [("measures", "nope")], max_limit=9)
    with pytest.raises(BadParameter, match="no group_by"):
        parse_metric_query(METRIC, [("total", "true"), ("group_by", "platform")], max_limit=9)


def test_every_value_is_bound(con: Any) -> None:
    q = parse_metric_query(
        METRIC,
        [
            ("group_by", "platform"),
            ("country", "x' OR 1=1 --"),
            ("start", "2026-01-02"),
            ("measures", "dau"),
        ],
        max_limit=9,
    )
    assert "OR 1=1" not in q.sql and "2026" not in q.sql
    bad = [("group_by", "platform"), ("country", "x' OR 1=1 --"), ("measures", "dau")]
    assert _run(con, bad) == []


def test_a_row_outside_the_datas_coverage_is_never_dropped(con: Any) -> None:
    con.execute("BEGIN")
    try:
        con.execute(
            "INSERT INTO metrics.users VALUES (DATE '2025-12-25', 'iOS', 'US', 7, 1, 1, 1, 0, 1)"
        )
        rows = _run(con, [("group_by", "activity_date"), ("measures", "events")])
    finally:
        con.execute("ROLLBACK")
    assert [(r["activity_date"], r["events"]) for r in rows] == [
        (dt.date(2025, 12, 25), 7),
        (D1, 5),
        (D2, 5),
        (D3, 5),
    ]


def test_a_monthly_metric_gets_a_month_spine(con: Any) -> None:
    con.execute(
        "CREATE OR REPLACE TABLE marts.dim_date AS SELECT d::DATE AS date_day, "
        "date_trunc('week', d)::DATE AS week_start, date_trunc('month', d)::DATE AS month_start "
        "FROM range(DATE '2025-10-01', DATE '2026-04-01', INTERVAL 1 DAY) t(d)"
    )
    con.execute(
        "CREATE TABLE metrics.monthly AS SELECT DATE '2026-01-01' AS month_start, 5 AS n "
        "UNION ALL SELECT DATE '2026-03-01', 7"
    )
    con.execute(
        "CREATE OR REPLACE TABLE marts.data_coverage AS "
        "SELECT DATE '2026-01-10' AS first_day, DATE '2026-03-05' AS last_day"
    )
    doc = {
        "calendar": "marts.dim_date",
        "coverage": "marts.data_coverage",
        "metrics": [
            {
                "name": "monthly",
                "relation": "metrics.monthly",
                "date_column": "month_start",
                "time_grain": "month",
                "dimensions": [],
                "measures": [{"name": "n", "agg": "sum"}],
                "columns": [{"name": "month_start", "type": "DATE"}, {"name": "n", "type": "INT"}],
            }
        ],
    }
    metric = Catalog.parse(json.dumps(doc).encode(), "v").metrics["monthly"]
    q = parse_metric_query(metric, [("group_by", "month_start")], max_limit=100)
    rows = con.execute(q.sql, list(q.params)).fetchall()
    # every month of the coverage, February (no row) with 0; never a row per day
    assert rows[:3] == [
        (dt.date(2026, 1, 1), 5),
        (dt.date(2026, 2, 1), 0),
        (dt.date(2026, 3, 1), 7),
    ]
    assert len(rows) == 3
