"""Helpers shared by the serve integration and browser tests: a sample project on disk and
the serve app running under uvicorn in a thread on a free 127.0.0.1 port."""

from __future__ import annotations

import csv
import io
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from eventlake.config import Settings, load_config
from eventlake.serve import create_app
from eventlake.serve.server import bind_socket
from eventlake.warehouse.sample import build_sample_warehouse


def make_settings(
    project: Path, *, warehouse: dict[str, Any] | None = None, **serve: Any
) -> Settings:
    """Settings of a project folder; ``serve`` overrides the [serve] section, ``warehouse``
    the [warehouse] one (another engine)."""
    return load_config(None, base_dir=project, serve=serve, warehouse=warehouse or {})


def postgres_database(url: str, name: str) -> str:
    """A new database ``name`` in the cluster of ``url`` (C collation: text sorts by bytes,
    as in DuckDB); returns its URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    return url.rsplit("/", 1)[0] + "/" + name


def postgres_settings(project: Path, url: str, **serve: Any) -> Settings:
    """Settings of ``project`` whose warehouse is the PostgreSQL database of ``url``."""
    return make_settings(project, warehouse={"backend": "postgres", "url": url}, **serve)


def build_sample(project: Path, **kwargs: Any) -> dict[str, int]:
    """The sample warehouse and catalog where the project's settings look for them."""
    settings = make_settings(project)
    return build_sample_warehouse(
        settings.resolve(settings.warehouse.path),
        settings.resolve(settings.models.dbt_dir) / "metrics_catalog.json",
        **kwargs,
    )


def wait_for_reload(settings: Settings) -> None:
    """Sleep past ``serve.reload_check_ms``: the server checks the warehouse and catalog files
    at most that often, so the next request sees every file changed before this call."""
    time.sleep(settings.serve.reload_check_ms / 1000 + 0.02)


@contextmanager
def serving(settings: Settings, app: Any = None) -> Iterator[str]:
    """Run the serve app (or ``app``) in a thread; yield its base URL; stop it after."""
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app if app is not None else create_app(settings),
        log_level="warning",
        lifespan="on",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the serve app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


#: (path, query items) asked of every engine's server: what the dashboards and scripts ask,
#: every parameter kind.
ENGINE_REQUESTS: list[tuple[str, list[tuple[str, str]]]] = [
    ("/api/metrics/daily_active_users.json", []),
    ("/api/metrics/daily_active_users.csv", []),
    ("/api/metrics/daily_active_users.json", [("start", "2026-01-10"), ("end", "2026-01-20")]),
    (
        "/api/metrics/daily_active_users.json",
        [("platform", "iOS"), ("platform", "Android"), ("group_by", "activity_date")],
    ),
    ("/api/metrics/revenue_daily.json", [("group_by", "platform"), ("sort", "-revenue")]),
    ("/api/metrics/revenue_daily.csv", [("group_by", "activity_date"), ("country", "DE")]),
    ("/api/metrics/revenue_daily.json", [("sort", "-revenue"), ("limit", "5"), ("offset", "3")]),
    ("/api/metrics/funnel_daily.json", [("group_by", "country")]),
    ("/api/metrics/retention_cohorts.json", []),
    (
        "/api/metrics/retention_cohorts.csv",
        [("group_by", "cohort_week"), ("group_by", "weeks_since_signup")],
    ),
    (
        "/api/metrics/daily_active_users.json",
        [("total", "true"), ("measures", "dau"), ("measures", "mau")],
    ),
    (
        "/api/metrics/revenue_daily.json",
        [
            ("group_by", "country"),
            ("measures", "revenue"),
            ("measures", "purchasers"),
            ("measures", "arppu"),
        ],
    ),
    ("/api/metrics/conversion_funnel.json", [("conversion_window_days", "3")]),
    (
        "/api/metrics/events_daily.json",
        [("group_by", "event_name"), ("sort", "-events"), ("start", "2026-01-05")],
    ),
    ("/api/metrics/host_providers_daily.json", [("group_by", "host_provider")]),
    ("/api/metrics/guild_joins_daily.csv", []),
    ("/api/metrics/rolling_active_users_28d.json", [("end", "2026-01-31"), ("limit", "50")]),
    ("/api/metrics/purchases_by_item_daily.json", [("group_by", "item")]),
    ("/api/dimensions/platform/values", []),
    ("/api/dimensions/country/values", []),
]


def close_values(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-9 (a DOUBLE sum's last digit depends on the adding order)."""
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, int | float)
            and isinstance(b, int | float)
            and (math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12))
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close_values(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close_values(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _csv_cells(text: str) -> list[list[Any]]:
    def cell(v: str) -> Any:
        try:
            return float(v) if any(c in v for c in ".eE") else v
        except ValueError:
            return v

    return [[cell(v) for v in row] for row in csv.reader(io.StringIO(text))]


def same_answer(duck: Any, pg: Any) -> bool:
    """Two engines' answers (httpx responses) to one request are the same: bytes, else
    values with floats to 1e-9."""
    if duck.content == pg.content:
        return True
    if duck.headers["content-type"].startswith("text/csv"):
        return close_values(_csv_cells(duck.text), _csv_cells(pg.text))
    return close_values(duck.json(), pg.json())
