"""The dashboard in real Chromium: renders every chart with no console error, filters redraw
the charts and live in the URL, KPIs equal the API, CSV downloads, phone width, empty state."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

serving = sys.modules["eventlake_tests_serving"]
pytestmark = pytest.mark.browser

CHARTS = [
    "kpi_dau",
    "kpi_new_users",
    "kpi_revenue",
    "kpi_arpdau",
    "active_users",
    "new_users",
    "revenue",
    "arpdau",
    "active_28d",
    "funnel",
    "retention",
    "purchases_by_item",
    "guild_joins",
    "host_providers",
    "revenue_table",
    "events_by_type",
]


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.problems = []  # console errors and uncaught exceptions
    pg.on("console", lambda m: pg.problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.problems.append(str(e)))
    yield pg
    context.close()


def _wait_rendered(pg: Any, after: int = 0) -> int:
    pg.wait_for_function(
        f"document.body.dataset.rendering === 'false' && "
        f"Number(document.body.dataset.renderGeneration || 0) > {after}",
        timeout=30_000,
    )
    return int(pg.evaluate("document.body.dataset.renderGeneration"))


def _states(pg: Any) -> dict[str, str]:
    return pg.evaluate(
        "Object.fromEntries([...document.querySelectorAll('[data-chart]')]"
        ".map(e => [e.dataset.chart, e.dataset.state]))"
    )


def _plot_data(pg: Any, chart: str) -> Any:
    return pg.evaluate(
        f"(() => {{ const d = document.querySelector('#chart-{chart} .plot');"
        " return d.data ? d.data.map(t => [t.x, t.y]) : null; })()"
    )


def _kpi(pg: Any, chart: str) -> float:
    return float(pg.get_attribute(f"#chart-{chart} .kpi-value", "data-value"))


def test_dashboard_renders_every_chart_without_console_errors(
    page: Any, sample_url: str, artifacts: Path
) -> None:
    page.goto(sample_url + "/")
    _wait_rendered(page)
    assert _states(page) == {c: "ready" for c in CHARTS}
    for chart in CHARTS:
        kind = page.get_attribute(f"#chart-{chart}", "data-type")
        if kind == "kpi":
            assert page.inner_text(f"#chart-{chart} .kpi-value").strip() not in ("", "–")
        elif kind == "table":
            assert page.locator(f"#chart-{chart} table tbody tr").count() == 4
        else:
            assert page.locator(f"#chart-{chart} .plot .main-svg").count() >= 1, chart
    page.screenshot(path=str(artifacts / "dashboard-laptop.png"), full_page=True)
    assert page.problems == []


def test_kpis_show_the_apis_numbers_with_their_definition(page: Any, sample_url: str) -> None:
    page.goto(sample_url + "/?platform=iOS&start=2026-01-10&end=2026-01-31")
    _wait_rendered(page)
    params = {"platform": "iOS", "start": "2026-01-10", "end": "2026-01-31", "limit": 100000}
    rows = httpx.get(f"{sample_url}/api/metrics/revenue_daily.json", params=params).json()["rows"]
    revenue = sum(r["revenue"] for r in rows)
    assert _kpi(page, "kpi_revenue") == pytest.approx(revenue)
    assert page.inner_text("#chart-kpi_revenue .kpi-value") == f"USD {revenue:,.2f}"
    assert page.get_attribute("#chart-kpi_revenue .kpi-value", "data-currency") == "USD"
    # ARPDAU: revenue per active user-day, over the whole range
    assert _kpi(page, "kpi_arpdau") == pytest.approx(revenue / sum(r["user_days"] for r in rows))
    # Average DAU: the complete days only, and the KPI says so
    daily = httpx.get(
        f"{sample_url}/api/metrics/daily_active_users.json",
        params={**params, "group_by": "activity_date", "start": "2026-01-01"},
    ).json()
    partial = set(daily["partial_days"])
    assert "2026-01-01" in partial
    complete = [r["dau"] for r in daily["rows"] if r["activity_date"] not in partial]
    page.goto(sample_url + "/?platform=iOS&start=2026-01-01&end=2026-01-31")
    _wait_rendered(page)
    assert _kpi(page, "kpi_dau") == pytest.approx(sum(complete) / len(complete))
    definition = page.inner_text("#chart-kpi_dau .kpi-definition")
    assert definition == f"average of {len(complete)} complete days (1 partial day left out)"
    new_players = page.inner_text("#chart-kpi_new_users .kpi-definition")
    assert new_players == "distinct players in the range"
    assert page.inner_text("#chart-kpi_revenue .kpi-definition") == "total over the range"
    assert page.problems == []


def test_partial_days_are_shaded_and_the_funnel_counts_players(page: Any, sample_url: str) -> None:
    page.goto(sample_url + "/")
    _wait_rendered(page)
    daily = httpx.get(
        f"{sample_url}/api/metrics/daily_active_users.json", params={"group_by": "activity_date"}
    ).json()
    first, last = daily["partial_days"]
    assert page.get_attribute("#chart-active_users", "data-partial-days") == f"{first},{last}"
    shapes = page.evaluate(
        "document.querySelector('#chart-active_users .plot').layout.shapes.length"
    )
    assert shapes == 2
    assert "partial" in page.inner_text("#chart-active_users .note")
    funnel = httpx.get(f"{sample_url}/api/metrics/conversion_funnel.json").json()
    drawn = _plot_data(page, "funnel")[0]
    assert drawn[0] == [r["users"] for r in funnel["rows"]]
    assert drawn[1] == [r["step_name"] for r in funnel["rows"]]
    assert page.get_attribute("#chart-funnel", "data-window") == "7"
    players = httpx.get(
        f"{sample_url}/api/metrics/daily_active_users.json", params={"total": "true"}
    ).json()["rows"][0]["dau"]
    assert drawn[0][0] <= players
    assert page.problems == []


def test_changing_a_filter_redraws_every_chart_and_updates_the_url(
    page: Any, sample_url: str, artifacts: Path
) -> None:
    page.goto(sample_url + "/")
    gen = _wait_rendered(page)
    dau_before, line_before = _kpi(page, "kpi_dau"), _plot_data(page, "active_users")
    # The searchable multi-select: open, search, tick.
    page.click("[data-filter=platform] .ms-button")
    page.fill("[data-filter=platform] .ms-search", "io")
    options = page.locator("[data-filter=platform] .ms-option")
    assert options.count() == 1 and options.inner_text() == "iOS"
    options.locator("input").check()
    gen = _wait_rendered(page, gen)
    assert "platform=iOS" in page.url
    assert _kpi(page, "kpi_dau") < dau_before
    assert _plot_data(page, "active_users") != line_before
    # A metric without that dimension says so instead of silently ignoring the filter.
    assert "Not filtered by Platform" in page.inner_text("#chart-host_providers .note")
    page.keyboard.press("Escape")
    # Date pickers: the range narrows every dated chart.
    page.fill("#filter-start", "2026-02-01")
    gen = _wait_rendered(page, gen)
    assert "start=2026-02-01" in page.url
    dates = _plot_data(page, "revenue")[0][0]
    assert min(dates) >= "2026-02-01"
    page.screenshot(path=str(artifacts / "dashboard-filtered.png"), full_page=True)
    # The URL is the state: a fresh page restores the same filters.
    url = page.url
    page.goto("about:blank")
    page.goto(url)
    _wait_rendered(page)
    assert page.inner_text("[data-filter=platform] .ms-button") == "iOS"
    assert page.input_value("#filter-start") == "2026-02-01"
    assert _plot_data(page, "revenue")[0][0][0] >= "2026-02-01"
    # Reset clears every filter, in place.
    gen = int(page.evaluate("document.body.dataset.renderGeneration"))
    page.click(".reset")
    _wait_rendered(page, gen)
    assert "platform" not in page.url and "start" not in page.url
    assert page.inner_text("[data-filter=platform] .ms-button") == "All"
    assert _kpi(page, "kpi_dau") == dau_before
    assert page.problems == []


def test_csv_download_has_the_charts_data(page: Any, sample_url: str, tmp_path: Path) -> None:
    page.goto(sample_url + "/?country=US")
    _wait_rendered(page)
    with page.expect_download() as info:
        page.click("#chart-revenue .csv")
    download = info.value
    assert download.suggested_filename == "revenue_daily.csv"
    target = tmp_path / "revenue.csv"
    download.save_as(target)
    table = list(csv.DictReader(io.StringIO(target.read_text())))
    assert table and set(table[0]) == {"activity_date", "revenue"}
    shown = _plot_data(page, "revenue")[0]
    assert [r["activity_date"] for r in table] == shown[0]
    assert [float(r["revenue"]) for r in table] == pytest.approx(shown[1])
    assert page.problems == []


def test_phone_width_stacks_charts_in_one_column(
    browser: Any, sample_url: str, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        pg.goto(sample_url + "/")
        _wait_rendered(pg)
        assert pg.evaluate("document.documentElement.scrollWidth") <= 390
        boxes = [pg.locator(f"#chart-{c}").bounding_box() for c in ("active_users", "funnel")]
        for box in boxes:
            assert box["x"] < 20 and box["width"] > 330, box
        pg.screenshot(path=str(artifacts / "dashboard-phone.png"))
        pg.screenshot(path=str(artifacts / "dashboard-phone-full.png"), full_page=True)
        assert errors == []
    finally:
        context.close()


def test_empty_state_without_a_warehouse(page: Any, project_dir: Path, artifacts: Path) -> None:
    with serving.serving(serving.make_settings(project_dir)) as url:
        page.goto(url + "/")
        _wait_rendered(page)
        assert "No data yet" in page.inner_text(".banner")
        assert set(_states(page).values()) == {"missing"}
        page.screenshot(path=str(artifacts / "dashboard-empty.png"))
    assert page.problems == []


def test_token_protected_dashboard_signs_in(page: Any, project_dir: Path) -> None:
    serving.build_sample(project_dir, n_events=2000, n_users=40, days=10)
    settings = serving.make_settings(project_dir, token="browser-token")
    with serving.serving(settings) as url:
        page.goto(url + "/?platform=iOS")
        page.fill("#token", "browser-token")
        page.click("button[type=submit]")
        _wait_rendered(page)
        assert "platform=iOS" in page.url
        assert _states(page)["kpi_revenue"] == "ready"
    # The only console error allowed is the 401 of the sign-in page itself.
    assert all("401" in p for p in page.problems), page.problems
