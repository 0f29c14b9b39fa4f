"""Regression tests of issue 17's serve findings, over a real socket.

4. a Unicode digit in a numeric or date parameter answered 500 ('²'.isdigit() is true);
5. SQL nested ~400 deep crashed the query guard (RecursionError) -> 500;
6. a deeply nested JSON body to /api/query -> 500;
7. the sign-in form redirected to another site (``next=/\\t/evil.example``) and dropped
   the connection on a CR, LF or NUL in ``next``;
and ``/api/query`` revealing the warehouse's absolute path (``PRAGMA database_list``).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

import httpx
import pytest

serving = sys.modules["eventlake_tests_serving"]
pytestmark = pytest.mark.integration

TOKEN = "api-token-17"
QUERY_TOKEN = "query-token-17"
METRIC = "/api/metrics/daily_active_users.json"


@pytest.fixture(scope="module")
def secured_url(sample_project: Path) -> Iterator[str]:
    settings = serving.make_settings(
        sample_project, token=TOKEN, query_enabled=True, query_token=QUERY_TOKEN
    )
    with serving.serving(settings) as url:
        yield url


@pytest.fixture
def api(secured_url: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=secured_url, timeout=60, headers=headers) as c:
        yield c


@pytest.fixture
def browser(secured_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=secured_url, timeout=30) as c:
        yield c


# -- finding 4 ---------------------------------------------------------------------------
UNICODE_DIGITS = ["²", "³", "¹", "٣", "۳", "३", "１", "①", "⁴", "𝟙", "1²", "²1", "-²", "1.²"]


@pytest.mark.parametrize("value", UNICODE_DIGITS)
@pytest.mark.parametrize("param", ["limit", "offset", "start", "end"])
def test_unicode_digits_are_a_400_naming_the_parameter(
    api: httpx.Client, param: str, value: str
) -> None:
    r = api.get(METRIC, params={param: value})
    assert r.status_code == 400, (param, value, r.text)
    assert r.json()["parameter"] == param


@pytest.mark.parametrize(
    "value",
    ["２０２６-01-01", "2026-W01-1", "2026-01-01\n", " 2026-01-01", "2026-02-30", "2026-1-1"],
)
def test_dates_must_be_plain_yyyy_mm_dd(api: httpx.Client, value: str) -> None:
    r = api.get(METRIC, params={"start": value})
    assert r.status_code == 400 and r.json()["parameter"] == "start", r.text


@pytest.mark.parametrize("value", ["10\n", "+10", " 10", "1e3", "0x10", "9" * 13])
def test_limit_takes_plain_ascii_digits_only(api: httpx.Client, value: str) -> None:
    r = api.get(METRIC, params={"limit": value})
    assert r.status_code == 400 and r.json()["parameter"] == "limit", r.text


def test_plain_numbers_still_work(api: httpx.Client) -> None:
    r = api.get(METRIC, params={"limit": "2", "offset": "1", "start": "2026-01-05"})
    assert r.status_code == 200 and r.json()["count"] == 2


# -- findings 5 and 6 --------------------------------------------------------------------
def _query(c: httpx.Client, **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {QUERY_TOKEN}"}
    return c.post("/api/query", headers=headers, **kwargs)  # type: ignore[arg-type]


def test_sql_nested_400_deep_is_answered_not_crashed(browser: httpx.Client) -> None:
    r = _query(browser, json={"sql": "SELECT " + "+".join(["1"] * 401) + " AS n"})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [[401]]


@pytest.mark.parametrize("terms", [999, 5000])
def test_sql_nested_past_duckdbs_limits_is_a_400(browser: httpx.Client, terms: int) -> None:
    r = _query(browser, json={"sql": "SELECT " + "+".join(["1"] * terms)})
    assert r.status_code == 400, r.text
    assert r.json()["parameter"] == "sql" and "depth" in r.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"sql": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"sql": "SELECT 1", "limit": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}",
    ],
    ids=["array", "in-sql", "in-limit"],
)
def test_deeply_nested_json_body_is_a_400(browser: httpx.Client, body: bytes) -> None:
    r = _query(browser, content=body)
    assert r.status_code == 400, r.text
    assert r.json()["parameter"] == "body"


def test_oversized_query_body_is_a_413(browser: httpx.Client) -> None:
    sql = "SELECT 1 -- " + "x" * (1024 * 1024)
    r = _query(browser, json={"sql": sql})
    assert r.status_code == 413 and r.json()["parameter"] == "body"
    assert _query(browser, json={"sql": "SELECT 1"}).status_code == 200


# -- the warehouse's path ----------------------------------------------------------------
@pytest.mark.parametrize(
    "sql",
    [
        "PRAGMA database_list",
        "SELECT * FROM duckdb_databases()",
        "SELECT path FROM duckdb_databases",
        "SELECT file FROM pragma_database_list",
        "SELECT current_setting('home_directory')",
        "SELECT * FROM duckdb_settings()",
        "SELECT * FROM pg_catalog.pg_settings",
        "SUMMARIZE duckdb_databases",
    ],
)
def test_query_never_reveals_the_warehouse_path(
    browser: httpx.Client, sample_project: Path, sql: str
) -> None:
    r = _query(browser, json={"sql": sql})
    assert r.status_code == 400, r.text
    assert r.json()["parameter"] == "sql"
    assert str(sample_project) not in r.text


def test_show_tables_lists_the_metrics_through_the_api(browser: httpx.Client) -> None:
    r = _query(browser, json={"sql": "SHOW TABLES"})
    assert r.status_code == 200, r.text
    assert r.json()["columns"] == ["schema", "name", "type"]
    assert ["metrics", "daily_active_users", "table"] in r.json()["rows"]


# -- finding 7 ---------------------------------------------------------------------------
OFFSITE_NEXT = [
    "/\t/evil.example",
    "/\t\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "/x/\\..\\\\evil.example",
    "https://evil.example",
    "https:evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    "evil.example",
    " /evil.example",
    "/\x00/evil.example",
    "/\x7f/evil.example",
    "/\x85/evil.example",
    "",
]


def _login(c: httpx.Client, next_value: str) -> httpx.Response:
    return c.post("/login", data={"token": TOKEN, "next": next_value})


@pytest.mark.parametrize("next_value", OFFSITE_NEXT)
def test_login_never_redirects_off_site(browser: httpx.Client, next_value: str) -> None:
    r = _login(browser, next_value)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/"


@pytest.mark.parametrize(
    ("next_value", "location"),
    [
        ("/", "/"),
        ("/?platform=iOS&start=2026-01-01", "/?platform=iOS&start=2026-01-01"),
        ("/d/game", "/d/game"),
        ("/%09/evil.example", "/%09/evil.example"),  # a path on this site, kept encoded
        ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),
        ("/d/caf\u00e9", "/d/caf%C3%A9"),
        ("/\uff0f\uff0fevil.example", "/%EF%BC%8F%EF%BC%8Fevil.example"),  # fullwidth '/'
        ("/a b", "/a%20b"),
    ],
)
def test_same_site_paths_are_kept_as_ascii(
    browser: httpx.Client, next_value: str, location: str
) -> None:
    r = _login(browser, next_value)
    assert r.status_code == 303 and r.headers["location"] == location
    target = urlsplit(urljoin(str(browser.base_url), r.headers["location"]))
    assert target.netloc == urlsplit(str(browser.base_url)).netloc


def test_the_form_for_a_tab_path_keeps_it_encoded(browser: httpx.Client) -> None:
    page = browser.get("/%09/evil.example", headers={"Accept": "text/html"})
    assert page.status_code == 401 and "<form" in page.text
    assert 'value="/%09/evil.example"' in page.text
    page = browser.get("/%5C%5Cevil.example", headers={"Accept": "text/html"})
    assert 'value="/"' in page.text or 'value="/%5C%5Cevil.example"' in page.text


@pytest.mark.parametrize("raw", ["%0D%0ALocation:%20//evil.example", "%0A", "%0D", "%00"])
def test_control_characters_in_next_get_an_answer(secured_url: str, raw: str) -> None:
    """A CR, LF or NUL in `next` used to make the server drop the connection unanswered."""
    host, port = urlsplit(secured_url).hostname, urlsplit(secured_url).port
    body = f"token={quote(TOKEN)}&next=/{raw}/x".encode()
    request = (
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
    )
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head = reply.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    assert head.startswith("HTTP/1.1 303"), head
    assert "\r\nlocation: /\r\n" in head.lower()
    assert "evil" not in head


def test_wrong_token_keeps_the_safe_next_in_the_form(browser: httpx.Client) -> None:
    r = browser.post("/login", data={"token": "nope", "next": "/?platform=iOS"})
    assert r.status_code == 401 and 'value="/?platform=iOS"' in r.text
    r = browser.post("/login", data={"token": "nope", "next": "/\t/evil.example"})
    assert r.status_code == 401 and 'value="/"' in r.text
