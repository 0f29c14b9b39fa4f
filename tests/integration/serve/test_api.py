"""The data API over a real socket: catalog, metric rows, filters, CSV, caching, bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from urllib.parse import quote

import duckdb
import httpx
import pytest

pytestmark = pytest.mark.integration

METRICS = {
    "conversion_funnel",
    "daily_active_users",
    "events_daily",
    "funnel_daily",
    "guild_joins_daily",
    "host_providers_daily",
    "purchases_by_item_daily",
    "retention_cohorts",
    "revenue_daily",
    "rolling_active_users_28d",
}


def _db(project: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(project / "data" / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def test_catalog_lists_every_metric_with_columns_and_filters(client: httpx.Client) -> None:
    r = client.get("/api/metrics")
    assert r.status_code == 200
    body = r.json()
    assert body["warehouse_ready"] is True
    by_name = {m["name"]: m for m in body["metrics"]}
    assert set(by_name) == METRICS
    dau = by_name["daily_active_users"]
    assert dau["date_column"] == "activity_date"
    assert dau["dimensions"] == ["platform", "country", "host_provider"]
    assert [c["name"] for c in dau["columns"]][:4] == [
        "activity_date",
        "platform",
        "country",
        "host_provider",
    ]
    assert all(c["description"] for c in dau["columns"]), "descriptions come from the dbt YAML"
    assert dau["parameters"] == [
        "start",
        "end",
        "platform",
        "country",
        "host_provider",
        "group_by",
        "measures",
        "total",
        "sort",
        "limit",
        "offset",
    ]
    measures = {m["name"]: m for m in dau["measures"]}
    assert measures["dau"]["agg"] == "count_distinct"
    assert measures["wau"]["agg"] == "last"
    assert "ETag" in r.headers


def test_metric_rows_equal_the_warehouse(client: httpx.Client, sample_project: Path) -> None:
    r = client.get("/api/metrics/revenue_daily.json", params={"limit": 100000})
    assert r.status_code == 200
    body = r.json()
    expected = _db(sample_project, "SELECT count(*), sum(revenue) FROM metrics.revenue_daily")[0]
    assert body["count"] == expected[0] and body["has_more"] is False
    assert sum(row["revenue"] for row in body["rows"]) == pytest.approx(float(expected[1]))
    assert body["columns"] == [
        "activity_date",
        "platform",
        "country",
        "host_provider",
        "revenue",
        "purchases",
        "purchasers",
        "dau",
        "user_days",
        "arpdau",
        "arppu",
    ]
    dates = [row["activity_date"] for row in body["rows"]]
    assert dates == sorted(dates), "default order is by the date column"


def test_date_range_and_multi_value_dimension_filters(
    client: httpx.Client, sample_project: Path
) -> None:
    params = [
        ("start", "2026-01-10"),
        ("end", "2026-01-20"),
        ("platform", "iOS"),
        ("platform", "Android"),
        ("country", "US"),
    ]
    body = client.get("/api/metrics/daily_active_users.json", params=params).json()
    rows = body["rows"]
    assert rows, "the sample has iOS/Android users in the US"
    assert {r["platform"] for r in rows} <= {"iOS", "Android"}
    assert {r["country"] for r in rows} == {"US"}
    assert min(r["activity_date"] for r in rows) >= "2026-01-10"
    assert max(r["activity_date"] for r in rows) <= "2026-01-20"
    expected = _db(
        sample_project,
        "SELECT sum(dau) FROM metrics.daily_active_users WHERE activity_date BETWEEN ? AND ? "
        "AND platform IN ('iOS', 'Android') AND country = 'US'",
        ["2026-01-10", "2026-01-20"],
    )[0][0]
    assert sum(r["dau"] for r in rows) == expected


def test_group_by_aggregates_as_declared_and_sort_limit_pick_the_top(
    client: httpx.Client, sample_project: Path
) -> None:
    body = client.get(
        "/api/metrics/host_providers_daily.json",
        params=[("group_by", "host_provider"), ("sort", "-events"), ("limit", "3")],
    ).json()
    assert body["columns"] == ["host_provider", "active_users", "sessions", "events", "revenue"]
    # events add up; active users over several days are distinct users, not user-days
    expected = _db(
        sample_project,
        "SELECT host_provider, sum(events) AS e FROM metrics.host_providers_daily "
        "GROUP BY 1 ORDER BY e DESC, host_provider LIMIT 3",
    )
    assert [(r["host_provider"], r["events"]) for r in body["rows"]] == expected
    users = dict(
        _db(
            sample_project,
            "SELECT host_provider, count(DISTINCT user_key) FROM staging.int_user_days GROUP BY 1",
        )
    )
    assert {r["host_provider"]: r["active_users"] for r in body["rows"]} == {
        r["host_provider"]: users[r["host_provider"]] for r in body["rows"]
    }
    assert body["has_more"] is True


def test_limit_and_offset_page_through_rows(client: httpx.Client) -> None:
    full = client.get("/api/metrics/events_daily.json", params={"limit": 100000}).json()["rows"]
    page1 = client.get("/api/metrics/events_daily.json", params={"limit": 7}).json()
    page2 = client.get("/api/metrics/events_daily.json", params={"limit": 7, "offset": 7}).json()
    assert page1["rows"] + page2["rows"] == full[:14]
    assert page1["has_more"] is True
    empty = client.get("/api/metrics/events_daily.json", params={"offset": 10**8}).json()
    assert empty["rows"] == [] and empty["count"] == 0


def test_csv_has_a_header_and_the_same_rows_as_json(client: httpx.Client) -> None:
    params = {"start": "2026-01-05", "end": "2026-01-09", "group_by": "platform"}
    js = client.get("/api/metrics/funnel_daily.json", params=params).json()
    r = client.get("/api/metrics/funnel_daily.csv", params=params)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="funnel_daily.csv"' in r.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0] == js["columns"]
    assert len(table) == 1 + len(js["rows"])
    for line, row in zip(table[1:], js["rows"], strict=True):
        assert line == [str(row[c]) for c in js["columns"]]


def test_extensionless_path_is_json(client: httpx.Client) -> None:
    r = client.get("/api/metrics/retention_cohorts", params={"limit": 1})
    assert r.status_code == 200 and r.json()["metric"] == "retention_cohorts"


def test_etag_gives_304_and_changes_with_the_query(client: httpx.Client) -> None:
    url = "/api/metrics/revenue_daily.json?platform=iOS"
    first = client.get(url)
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, no-cache"
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = client.get("/api/metrics/revenue_daily.json?platform=macOS")
    assert other.headers["etag"] != etag
    assert client.get(url.replace(".json", ".csv")).headers["etag"] != etag


def _cache_counts(client: httpx.Client) -> tuple[int, int]:
    text = client.get("/metrics").text
    values = dict(
        line.split(" ") for line in text.splitlines() if line.startswith("eventlake_api_")
    )
    return int(values["eventlake_api_cache_hits_total"]), int(
        values["eventlake_api_cache_misses_total"]
    )


def test_a_cache_hit_is_the_same_response_and_is_counted(client: httpx.Client) -> None:
    url = "/api/metrics/funnel_daily.json?platform=Android&limit=7&sort=-active_users"
    hits, misses = _cache_counts(client)
    first = client.get(url)
    second = client.get(url)
    assert (second.status_code, second.content) == (200, first.content)
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["cache-control"] == first.headers["cache-control"]
    assert _cache_counts(client) == (hits + 1, misses + 1)
    again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.headers["etag"] == first.headers["etag"]


def test_unknown_metric_is_404_listing_the_known_ones(client: httpx.Client) -> None:
    r = client.get("/api/metrics/no_such_metric.json")
    assert r.status_code == 404
    body = r.json()
    assert set(body["known_metrics"]) == METRICS
    assert "daily_active_users" in body["error"]
    assert client.get("/api/metrics/revenue_daily.xml").status_code == 404


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"start": "yesterday"}, "start"),
        ({"start": "2026-13-01"}, "start"),
        ({"end": "2026-01-01T00:00:00"}, "end"),
        ({"start": "2026-02-01", "end": "2026-01-01"}, "start"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "100000000"}, "limit"),
        ({"offset": "1.5"}, "offset"),
        ({"sort": "nope"}, "sort"),
        ({"sort": "-"}, "sort"),
        ({"group_by": "revenue"}, "group_by"),
        ({"group_by": "item"}, "group_by"),
        ({"item": "x"}, "item"),
        ({"Platform": "iOS"}, "Platform"),
        ({"platform": "x" * 600}, "platform"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(
    client: httpx.Client, params: dict[str, str], parameter: str
) -> None:
    r = client.get("/api/metrics/revenue_daily.json", params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["parameter"] == parameter
    assert parameter in body["error"]


def test_repeated_single_value_parameter_is_400(client: httpx.Client) -> None:
    r = client.get("/api/metrics/revenue_daily.json", params=[("limit", "1"), ("limit", "2")])
    assert r.status_code == 400 and r.json()["parameter"] == "limit"


def test_integer_dimension_values_are_type_checked(client: httpx.Client) -> None:
    r = client.get("/api/metrics/retention_cohorts.json", params={"weeks_since_signup": "one"})
    assert r.status_code == 400 and r.json()["parameter"] == "weeks_since_signup"
    r = client.get("/api/metrics/retention_cohorts.json", params={"weeks_since_signup": "1"})
    assert r.status_code == 200 and {x["weeks_since_signup"] for x in r.json()["rows"]} == {1}


INJECTIONS = [
    "' OR '1'='1",
    "iOS'; DROP TABLE metrics.revenue_daily; --",
    '"; DELETE FROM metrics.revenue_daily; --',
    "1) UNION SELECT * FROM duckdb_settings() --",
    "iOS\x00",
    "read_csv('/etc/passwd')",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_attempts_in_every_parameter_are_harmless(
    client: httpx.Client, sample_project: Path, payload: str
) -> None:
    before = _db(sample_project, "SELECT count(*) FROM metrics.revenue_daily")[0][0]
    # As a dimension value: bound, so it simply matches nothing.
    r = client.get("/api/metrics/revenue_daily.json", params={"platform": payload})
    assert r.status_code == 200 and r.json()["rows"] == []
    # As every other parameter's value and as parameter names: refused by validation.
    for name in ("start", "end", "limit", "offset", "sort", "group_by"):
        r = client.get("/api/metrics/revenue_daily.json", params={name: payload})
        assert r.status_code == 400, (name, r.text)
        assert r.json()["parameter"] == name
    r = client.get("/api/metrics/revenue_daily.json", params={payload: "1"})
    assert r.status_code == 400
    # As the metric name and the dimension name in the path.
    assert client.get(f"/api/metrics/{quote(payload, safe='')}.json").status_code == 404
    r = client.get(f"/api/dimensions/{quote(payload, safe='')}/values")
    assert r.status_code == 404
    after = _db(sample_project, "SELECT count(*) FROM metrics.revenue_daily")[0][0]
    assert after == before


def test_dimensions_and_their_values(client: httpx.Client) -> None:
    dims = client.get("/api/dimensions").json()["dimensions"]
    assert "revenue_daily" in dims["platform"]
    assert dims["host_provider"] and "item" in dims
    r = client.get("/api/dimensions/platform/values")
    assert r.status_code == 200
    assert r.json()["values"] == ["Android", "Windows", "iOS", "macOS"]
    assert client.get("/api/dimensions/nope/values").status_code == 404
    assert client.get("/api/dimensions/platform/values?x=1").status_code == 400


def test_openapi_document_and_docs_page(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for name in METRICS:
        path = doc["paths"][f"/api/metrics/{name}.{{format}}"]
        assert path["get"]["parameters"]
    params = {
        p["name"] for p in doc["paths"]["/api/metrics/revenue_daily.{format}"]["get"]["parameters"]
    }
    assert {"start", "end", "platform", "country", "host_provider", "sort", "limit"} <= params
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "revenue_daily" in page.text
    assert "http://" not in page.text and "https://" not in page.text, "nothing from a CDN"


def test_healthz(client: httpx.Client) -> None:
    body = client.get("/healthz").json()
    assert body == {"status": "ok", "warehouse": True, "metrics": 10, "catalog_error": None}


def test_dashboard_list_and_static_assets(client: httpx.Client) -> None:
    boards = client.get("/api/dashboards").json()["dashboards"]
    assert boards[0]["slug"] == "game" and boards[0]["error"] is None
    page = client.get("/")
    assert page.status_code == 200
    assert "/static/plotly.min.js" in page.text and "cdn" not in page.text.lower()
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert js.headers["content-encoding"] == "gzip"
    assert client.get("/static/dashboard.js").status_code == 200
    assert client.get("/static/../config.py").status_code == 404
    assert client.get("/d/nope").status_code == 404


def test_query_endpoint_is_off_by_default(client: httpx.Client) -> None:
    r = client.post("/api/query", json={"sql": "SELECT 1"})
    assert r.status_code == 404 and "disabled" in r.json()["error"]


def test_prometheus_metrics_count_requests(client: httpx.Client) -> None:
    client.get("/api/metrics/revenue_daily.json?limit=1")
    text = client.get("/metrics").text
    assert "# TYPE eventlake_http_requests_total counter" in text
    assert (
        'eventlake_http_requests_total{method="GET",route="/api/metrics/{name}.{fmt}",'
        'status="200"}' in text
    )
    assert 'eventlake_http_request_duration_seconds_bucket{route="/api/metrics/{name}.{fmt}"' in (
        text
    )
    assert "eventlake_events_landed_total 0" in text


def test_json_numbers_are_numbers(client: httpx.Client) -> None:
    row = client.get("/api/metrics/revenue_daily.json", params={"limit": 1}).json()["rows"][0]
    assert isinstance(row["revenue"], float) and isinstance(row["dau"], int)
    assert json.dumps(row)  # plain JSON types only
