"""Bearer-token auth (API and dashboard) and the read-only SQL endpoint, over a real socket."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from eventlake.errors import ConfigError
from eventlake.serve import create_app

serving = sys.modules["eventlake_tests_serving"]
pytestmark = pytest.mark.integration

TOKEN = "s3cret-token; with=odd chars"
QUERY_TOKEN = "query-token-123"


@pytest.fixture(scope="module")
def secured_url(sample_project: Path):
    settings = serving.make_settings(
        sample_project, token=TOKEN, query_enabled=True, query_token=QUERY_TOKEN
    )
    with serving.serving(settings) as url:
        yield url


@pytest.fixture
def anon(secured_url: str):
    with httpx.Client(base_url=secured_url, timeout=30) as c:
        yield c


@pytest.mark.parametrize(
    "path",
    [
        "/api/metrics",
        "/api/metrics/revenue_daily.json",
        "/api/metrics/revenue_daily.csv",
        "/api/dimensions",
        "/api/dimensions/platform/values",
        "/openapi.json",
        "/metrics",
        "/api/dashboards",
    ],
)
def test_token_required_for_the_api(anon: httpx.Client, path: str) -> None:
    r = anon.get(path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert anon.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert anon.get(path, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    ok = anon.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200


def test_healthz_and_assets_stay_open(anon: httpx.Client) -> None:
    assert anon.get("/healthz").status_code == 200
    assert anon.get("/static/dashboard.css").status_code == 200


def test_browser_signs_in_with_a_form_and_a_cookie(anon: httpx.Client) -> None:
    page = anon.get("/?platform=iOS", headers={"Accept": "text/html"})
    assert page.status_code == 401 and "<form" in page.text
    assert 'value="/?platform=iOS"' in page.text
    wrong = anon.post("/login", data={"token": "nope", "next": "/"})
    assert wrong.status_code == 401 and "Wrong token" in wrong.text
    r = anon.post("/login", data={"token": TOKEN, "next": "/?platform=iOS"})
    assert r.status_code == 303 and r.headers["location"] == "/?platform=iOS"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert anon.get("/").status_code == 200, "the cookie now authenticates the dashboard"
    assert anon.get("/api/metrics/revenue_daily.json?limit=1").status_code == 200
    # An open redirect is not possible through `next`.
    r = anon.post("/login", data={"token": TOKEN, "next": "//evil.example/"})
    assert r.headers["location"] == "/"


def test_metric_responses_are_private_when_a_token_is_set(anon: httpx.Client) -> None:
    r = anon.get("/api/metrics/revenue_daily.json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.headers["cache-control"] == "private, no-cache"


def _query(c: httpx.Client, body: object, token: str | None = QUERY_TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return c.post("/api/query", json=body, headers=headers)


def test_query_runs_read_only_sql_with_the_query_token(anon: httpx.Client) -> None:
    r = _query(anon, {"sql": "SELECT count(*) AS n FROM metrics.revenue_daily"})
    assert r.status_code == 200, r.text
    assert r.json()["columns"] == ["n"] and r.json()["rows"][0][0] > 0
    r = _query(anon, {"sql": "SELECT * FROM metrics.events_daily", "limit": 3, "format": "csv"})
    assert r.status_code == 200 and len(r.text.strip().splitlines()) == 4


def test_query_needs_the_query_token_not_the_api_token(anon: httpx.Client) -> None:
    assert _query(anon, {"sql": "SELECT 1"}, token=None).status_code == 401
    assert _query(anon, {"sql": "SELECT 1"}, token=TOKEN).status_code == 401


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE metrics.revenue_daily",
        "SELECT 1; DROP TABLE metrics.revenue_daily",
        "COPY metrics.revenue_daily TO '/tmp/x.csv'",
        "ATTACH '/tmp/other.duckdb'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT getenv('HOME')",
        "INSTALL httpfs",
    ],
)
def test_query_refuses_anything_but_reading(anon: httpx.Client, sql: str) -> None:
    r = _query(anon, {"sql": sql})
    assert r.status_code == 400, r.text
    assert r.json()["parameter"] == "sql"
    still = _query(anon, {"sql": "SELECT count(*) FROM metrics.revenue_daily"})
    assert still.status_code == 200 and still.json()["rows"][0][0] > 0


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ("not json", "body"),
        ({"query": "SELECT 1"}, "sql"),
        ({"sql": "SELECT 1", "limit": -1}, "limit"),
        ({"sql": "SELECT 1", "limit": True}, "limit"),
        ({"sql": "SELECT 1", "format": "xml"}, "format"),
        ({"sql": "SELECT 1", "extra": 1}, "extra"),
        ({"sql": "SELECT no_such_column FROM metrics.revenue_daily"}, "sql"),
    ],
)
def test_query_bad_bodies_are_400(anon: httpx.Client, body: object, parameter: str) -> None:
    if isinstance(body, str):
        r = anon.post(
            "/api/query", content=body, headers={"Authorization": f"Bearer {QUERY_TOKEN}"}
        )
    else:
        r = _query(anon, body)
    assert r.status_code == 400 and r.json()["parameter"] == parameter


def test_query_enabled_without_a_query_token_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="query_token"):
        create_app(serving.make_settings(tmp_path, query_enabled=True))
