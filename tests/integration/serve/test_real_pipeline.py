"""The API on a warehouse built by the real pipeline (lake -> raw -> dbt models -> catalog).

Every metric the warehouse stage's catalog lists is served, its rows equal the table's, and
the default dashboard's charts name metrics and columns that exist.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import duckdb
import eventlake_tests_support as support
import httpx
import pytest

from eventlake.lake import open_lake

serving = sys.modules["eventlake_tests_serving"]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def built_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from eventlake.pipeline.run import load_and_build

    lakedata = support.lakedata()
    project = tmp_path_factory.mktemp("serve-real")
    settings = serving.make_settings(project)
    writer = lakedata.LakeWriter(open_lake(settings.lake_uri()))
    for i in range(3):
        writer.commit(lakedata.game_events(dt.date(2026, 3, 1 + i), 6, tag=f"d{i}-"))
    load_and_build(settings)
    return project


def test_every_catalog_metric_is_served_from_the_real_models(built_project: Path) -> None:
    settings = serving.make_settings(built_project)
    db = settings.resolve(settings.warehouse.path)
    with serving.serving(settings) as url, httpx.Client(base_url=url, timeout=60) as c:
        metrics = c.get("/api/metrics").json()["metrics"]
        names = {m["name"] for m in metrics}
        assert {
            "daily_active_users",
            "revenue_daily",
            "events_daily",
            "funnel_daily",
            "retention_cohorts",
            "host_providers_daily",
        } <= names
        with duckdb.connect(str(db), read_only=True) as conn:
            for m in metrics:
                r = c.get(f"/api/metrics/{m['name']}.json", params={"limit": 100000})
                assert r.status_code == 200, (m["name"], r.text)
                if m["kind"] == "funnel":  # counted per request: one row per step
                    steps = [s["label"] for s in m["funnel"]["steps"]]
                    assert [x["step_name"] for x in r.json()["rows"]] == steps
                    continue
                count = conn.execute(f'SELECT count(*) FROM metrics."{m["name"]}"').fetchone()
                assert r.json()["count"] == count[0], m["name"]
                assert r.json()["columns"] == [c["name"] for c in m["columns"]]
            revenue = c.get(
                "/api/metrics/revenue_daily.json",
                params=[("group_by", "platform"), ("start", "2026-03-02")],
            ).json()["rows"]
            expected = dict(
                conn.execute(
                    "SELECT platform, sum(revenue) FROM metrics.revenue_daily "
                    "WHERE activity_date >= DATE '2026-03-02' GROUP BY 1"
                ).fetchall()
            )
        assert {r["platform"]: pytest.approx(r["revenue"]) for r in revenue} == {
            k: float(v) for k, v in expected.items()
        }
        assert c.get("/api/dimensions/platform/values").json()["values"]


def test_default_dashboard_names_real_metrics_and_columns(built_project: Path) -> None:
    from eventlake.serve.dashboards import DashboardSet

    settings = serving.make_settings(built_project)
    with serving.serving(settings) as url:
        catalog = {m["name"]: m for m in httpx.get(f"{url}/api/metrics").json()["metrics"]}
    board = DashboardSet(None).get("game")
    assert board is not None and board.spec is not None
    missing = []
    for chart in board.spec["charts"]:
        metric = catalog.get(chart["metric"])
        if metric is None:
            missing.append(chart["metric"])
            continue
        columns = {c["name"] for c in metric["columns"]}
        used = set()
        for key in ("x", "y", "z", "value", "stages", "columns", "group_by"):
            value = chart.get(key)
            items = value if isinstance(value, list) else [value] if value else []
            for item in items:
                if isinstance(item, str):
                    used.add(item)
                else:
                    used.update(item.get("ratio") or [item["column"]])
        assert used <= columns, (chart["id"], used - columns)
    # Every metric the default dashboard charts is a model of the dbt project.
    assert missing == []
