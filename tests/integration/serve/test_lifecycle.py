"""The app across the warehouse's life: nothing yet, a publish, a broken catalog; user
dashboards; lake counts in /metrics; the collector mounted in the same process."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from eventlake.lake import EVENT_SCHEMA, QUARANTINE_SCHEMA, PendingFile, open_lake

serving = sys.modules["eventlake_tests_serving"]
pytestmark = pytest.mark.integration


def test_no_warehouse_yet_is_a_readable_empty_state(project_dir: Path) -> None:
    settings = serving.make_settings(project_dir)
    with serving.serving(settings) as url, httpx.Client(base_url=url) as c:
        assert c.get("/healthz").json()["warehouse"] is False
        body = c.get("/api/metrics").json()
        assert body["metrics"] == [] and body["warehouse_ready"] is False
        r = c.get("/api/metrics/daily_active_users.json")
        assert r.status_code == 404 and "eventlake build" in r.json()["error"]
        assert c.get("/").status_code == 200
        # The catalog arrives before the warehouse file: 503 saying what to run.
        catalog = settings.resolve(settings.models.dbt_dir) / "metrics_catalog.json"
        serving.build_sample(project_dir, n_events=500, n_users=20, days=5)
        wh = settings.resolve(settings.warehouse.path)
        wh.rename(wh.with_name("elsewhere.duckdb"))
        assert catalog.exists()
        serving.wait_for_reload(settings)
        r = c.get("/api/metrics/daily_active_users.json")
        assert r.status_code == 503 and "eventlake build" in r.json()["error"]


def test_a_new_publish_is_served_without_restart(project_dir: Path) -> None:
    serving.build_sample(project_dir, n_events=2000, n_users=50, days=10)
    settings = serving.make_settings(project_dir)
    with serving.serving(settings) as url, httpx.Client(base_url=url) as c:
        first = c.get("/api/metrics/events_daily.json", params={"group_by": "event_date"})
        days_before = first.json()["count"]
        assert days_before == 10
        serving.build_sample(project_dir, n_events=4000, n_users=50, days=20)
        serving.wait_for_reload(settings)  # the documented bound (serve.reload_check_ms)
        second = c.get(
            "/api/metrics/events_daily.json",
            params={"group_by": "event_date"},
            headers={"If-None-Match": first.headers["etag"]},
        )
        assert second.status_code == 200, "a new warehouse version invalidates the ETag"
        assert second.json()["count"] == 20


def test_with_the_result_cache_off_every_request_queries_and_etags_still_work(
    project_dir: Path,
) -> None:
    serving.build_sample(project_dir, n_events=2000, n_users=50, days=10)
    settings = serving.make_settings(project_dir, cache_entries=0)
    url = "/api/metrics/revenue_daily.csv?group_by=activity_date"
    with serving.serving(settings) as base, httpx.Client(base_url=base) as c:
        first, second = c.get(url), c.get(url)
        assert first.status_code == second.status_code == 200
        assert first.content == second.content and first.headers["etag"] == second.headers["etag"]
        revalidated = c.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert revalidated.status_code == 304
        text = c.get("/metrics").text
        assert "eventlake_api_cache_hits_total 0" in text
        assert "eventlake_api_cache_misses_total 3" in text
        assert "eventlake_api_cache_entries 0" in text


def test_empty_tables_give_empty_rows(project_dir: Path) -> None:
    serving.build_sample(project_dir, empty=True)
    with serving.serving(serving.make_settings(project_dir)) as url:
        body = httpx.get(f"{url}/api/metrics/revenue_daily.json").json()
        assert body["rows"] == [] and body["count"] == 0
        csv_text = httpx.get(f"{url}/api/metrics/revenue_daily.csv").text
        assert csv_text.splitlines() == [
            "activity_date,platform,country,host_provider,revenue,purchases,purchasers,dau,"
            "user_days,arpdau,arppu"
        ]


def test_a_broken_catalog_keeps_the_last_good_one(project_dir: Path) -> None:
    serving.build_sample(project_dir, n_events=500, n_users=20, days=5)
    settings = serving.make_settings(project_dir)
    catalog = settings.resolve(settings.models.dbt_dir) / "metrics_catalog.json"
    with serving.serving(settings) as url, httpx.Client(base_url=url) as c:
        assert len(c.get("/api/metrics").json()["metrics"]) == 10
        good = json.loads(catalog.read_text())
        good["metrics"][0]["columns"][0]["name"] = 'x"; DROP TABLE y; --'
        catalog.write_text(json.dumps(good))
        serving.wait_for_reload(settings)
        body = c.get("/api/metrics").json()
        assert len(body["metrics"]) == 10
        assert "not a valid identifier" in body["catalog_error"]
        assert "not a valid identifier" in c.get("/healthz").json()["catalog_error"]


def test_user_dashboards_are_added_and_invalid_ones_explained(project_dir: Path) -> None:
    serving.build_sample(project_dir, n_events=500, n_users=20, days=5)
    boards = project_dir / "dashboards"
    boards.mkdir()
    (boards / "mine.yaml").write_text(
        "title: My board\ncharts:\n  - {type: kpi, metric: revenue_daily, value: revenue}\n"
    )
    (boards / "broken.yml").write_text(
        "title: Broken\ncharts:\n  - {type: pie, metric: revenue_daily}\n"
    )
    with (
        serving.serving(serving.make_settings(project_dir)) as url,
        httpx.Client(base_url=url) as c,
    ):
        listed = {d["slug"]: d for d in c.get("/api/dashboards").json()["dashboards"]}
        assert list(listed) == ["game", "broken", "mine"]
        assert listed["mine"]["error"] is None and listed["mine"]["title"] == "My board"
        assert "charts[0].type" in listed["broken"]["error"]
        page = c.get("/d/mine")
        assert page.status_code == 200 and "My board" in page.text
        assert "charts[0].type" in c.get("/d/broken").text


def _event_rows(n: int, day: dt.date) -> pa.Table:
    ts = dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)
    cols = {f.name: [None] * n for f in EVENT_SCHEMA}
    cols.update(
        message_id=[f"m{i}" for i in range(n)],
        type=["track"] * n,
        timestamp=[ts] * n,
        received_at=[ts] * n,
    )
    return pa.Table.from_pydict(cols, schema=EVENT_SCHEMA)


def _quarantine_rows(n: int) -> pa.Table:
    ts = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cols = {f.name: [None] * n for f in QUARANTINE_SCHEMA}
    cols.update(received_at=[ts] * n, reason_code=["x"] * n, reason=["y"] * n, raw=["{}"] * n)
    return pa.Table.from_pydict(cols, schema=QUARANTINE_SCHEMA)


def test_prometheus_counts_events_from_lake_commits(project_dir: Path) -> None:
    settings = serving.make_settings(project_dir)
    lake = open_lake(settings.lake_uri())
    day = dt.date(2026, 1, 1)
    lake.commit(
        "events",
        "events-p0000-00000000000000000000",
        [
            PendingFile("events/event_date=2026-01-01/a.parquet", _event_rows(7, day)),
            PendingFile("quarantine/received_date=2026-01-01/a.parquet", _quarantine_rows(2)),
        ],
    )
    with serving.serving(settings) as url:
        text = httpx.get(f"{url}/metrics").text
        assert "eventlake_events_landed_total 7" in text
        assert "eventlake_events_quarantined_total 2" in text
        assert "eventlake_events_received_total 9" in text
        lake.commit(
            "events",
            "events-p0000-00000000000000000007",
            [PendingFile("events/event_date=2026-01-01/b.parquet", _event_rows(3, day))],
        )
        assert "eventlake_events_landed_total 10" in httpx.get(f"{url}/metrics").text


def test_collector_mounted_under_v1_keeps_its_own_keys(project_dir: Path) -> None:
    serving.build_sample(project_dir, n_events=500, n_users=20, days=5)
    settings = serving.make_settings(project_dir, token="api-token", mount_collector=True)
    settings.collect.write_keys = {"wk-1": "game"}
    settings.spec.tracking_plan = None
    with serving.serving(settings) as url, httpx.Client(base_url=url) as c:
        basic = base64.b64encode(b"wk-1:").decode()
        event = {"type": "track", "event": "Signed Up", "userId": "u1"}
        r = c.post(
            "/v1/batch", json={"batch": [event]}, headers={"Authorization": f"Basic {basic}"}
        )
        assert r.status_code == 200, r.text
        assert c.post("/v1/batch", json={"batch": [event]}).status_code == 401
        assert c.get("/api/metrics").status_code == 401, "the API still needs its token"
        ok = c.get("/api/metrics", headers={"Authorization": "Bearer api-token"})
        assert ok.status_code == 200


def test_publishes_under_concurrent_load_never_fail_a_request(project_dir: Path) -> None:
    import threading
    import time

    serving.build_sample(project_dir, n_events=5000, n_users=100, days=20)
    settings = serving.make_settings(project_dir, cache_entries=0)
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop = threading.Event()
    with serving.serving(settings) as url:

        def hammer(seed: int) -> None:
            with httpx.Client(base_url=url, timeout=30) as c:
                n = seed
                while not stop.is_set():
                    r = c.get(
                        "/api/metrics/revenue_daily.json",
                        params={"group_by": "activity_date", "limit": 1000 + n % 97},
                    )
                    with lock:
                        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    n += 1

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        try:
            for k in range(3):
                time.sleep(0.5)
                serving.build_sample(project_dir, n_events=5000 + k, n_users=100, days=20)
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 20


def test_a_catalog_ahead_of_the_warehouse_is_a_503_with_a_hint(project_dir: Path) -> None:
    """A metric the catalog lists but the warehouse lacks (or with a column it lacks): the
    reader's SchemaMismatchError becomes a 503 saying to rebuild (PostgreSQL: the same in
    test_postgres.py)."""
    serving.build_sample(project_dir, n_events=500, n_users=20, days=5)
    settings = serving.make_settings(project_dir)
    catalog = settings.resolve(settings.models.dbt_dir) / "metrics_catalog.json"
    doc = json.loads(catalog.read_text())
    by_name = {m["name"]: m for m in doc["metrics"]}
    by_name["revenue_daily"]["columns"].append({"name": "refunds", "type": "DOUBLE"})
    gone = dict(by_name["funnel_daily"], name="churn_daily", relation="metrics.churn_daily")
    doc["metrics"].append(gone)
    catalog.write_text(json.dumps(doc))
    with serving.serving(settings) as url, httpx.Client(base_url=url) as c:
        for path in ("/api/metrics/revenue_daily.json", "/api/metrics/churn_daily.csv"):
            r = c.get(path)
            assert r.status_code == 503, (path, r.text)
            error = r.json()["error"]
            assert "differ" in error and "eventlake build" in error, error
        assert c.get("/api/metrics/funnel_daily.json").status_code == 200
