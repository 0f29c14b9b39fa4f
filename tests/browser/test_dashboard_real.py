"""The default dashboard on a warehouse built by the real pipeline (lake -> dbt -> catalog)."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import eventlake_tests_support as support
import httpx
import pytest

from eventlake.lake import open_lake

serving = sys.modules["eventlake_tests_serving"]
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def real_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    from eventlake.pipeline.run import load_and_build

    lakedata = support.lakedata()
    project = tmp_path_factory.mktemp("browser-real")
    settings = serving.make_settings(project)
    writer = lakedata.LakeWriter(open_lake(settings.lake_uri()))
    for i in range(4):
        writer.commit(lakedata.game_events(dt.date(2026, 3, 1 + i), 9, tag=f"d{i}-"))
    load_and_build(settings)
    with serving.serving(settings) as url:
        yield url, settings


@pytest.fixture(scope="module")
def real_url(real_project: tuple[str, Any]) -> str:
    return real_project[0]


def test_default_dashboard_on_the_real_models(browser: Any, real_url: str, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        page.goto(real_url + "/")
        page.wait_for_function("document.body.dataset.rendering === 'false'", timeout=30_000)
        states = page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('[data-chart]')]"
            ".map(e => [e.dataset.chart, e.dataset.state]))"
        )
        # Every chart of the default dashboard is bound to a real model of the dbt project.
        assert "missing" not in states.values(), states
        assert states["purchases_by_item"] == "ready"
        for chart, state in states.items():
            if state != "ready":  # only when the metric really has no rows
                metric = page.get_attribute(f"#chart-{chart}", "data-metric")
                assert state == "empty", (chart, state)
                assert httpx.get(f"{real_url}/api/metrics/{metric}.json").json()["count"] == 0
        rows = httpx.get(f"{real_url}/api/metrics/revenue_daily.json").json()["rows"]
        shown = float(page.get_attribute("#chart-kpi_revenue .kpi-value", "data-value"))
        assert shown == pytest.approx(sum(r["revenue"] for r in rows))
        page.screenshot(path=str(artifacts / "dashboard-real-pipeline.png"), full_page=True)
        assert problems == []
    finally:
        context.close()


def test_demo_summary_and_dashboard_give_the_same_average_dau(
    browser: Any, real_project: tuple[str, Any]
) -> None:
    """One definition of "average DAU" (the complete days: the first and last day of data
    are partial), shown by the dashboard's KPI and printed by `eventlake demo`."""
    from eventlake.demo import read_summary

    url, settings = real_project
    summary = read_summary(settings)
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    try:
        page.goto(url + "/")
        page.wait_for_function("document.body.dataset.rendering === 'false'", timeout=30_000)
        shown = float(page.get_attribute("#chart-kpi_dau .kpi-value", "data-value"))
        definition = page.inner_text("#chart-kpi_dau .kpi-definition")
    finally:
        context.close()
    assert summary.days == 4 and definition.startswith("average of 2 complete days")
    assert round(shown, 1) == summary.dau_average > 0
