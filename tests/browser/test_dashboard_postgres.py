"""The default dashboard in real Chromium, served from a PostgreSQL warehouse.

The sample warehouse's metric tables are copied into a throwaway PostgreSQL database (same
rows, same types) and served with ``warehouse.backend = "postgres"``. The page checks are
the DuckDB dashboard test's own (``test_dashboard.py``), run against this server, plus one
that the two engines draw the very same charts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import eventlake_tests_support as support
import pytest

from eventlake.warehouse.sample import copy_sample_to_postgres

serving = support.serving()
dashboard = support.load_helper(
    "eventlake_tests_browser_dashboard", Path(__file__).with_name("test_dashboard.py")
)
postgres = support.load_helper(
    "eventlake_tests_integration_conftest", support.TESTS / "integration" / "conftest.py"
)
pytestmark = pytest.mark.browser

page = dashboard.page  # the DuckDB test's page fixture (console errors collected)
postgres_url = postgres.postgres_url  # a throwaway cluster (tests/integration/conftest.py)

#: Pages whose charts must be drawn alike by both engines: no filter, and two filters.
VIEWS = ["/", "/?platform=iOS&platform=Android&start=2026-01-10&end=2026-02-10"]


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[dict[str, str]]:
    """{"duckdb": URL, "postgres": URL}: one server per engine over the same sample data."""
    project = tmp_path_factory.mktemp("browser-postgres")
    serving.build_sample(project)
    duck = serving.make_settings(project)
    db = serving.postgres_database(postgres_url, f"browser_{uuid.uuid4().hex[:8]}")
    copy_sample_to_postgres(duck.resolve(duck.warehouse.path), db)
    with (
        serving.serving(duck) as duck_url,
        serving.serving(serving.postgres_settings(project, db)) as pg_url,
    ):
        yield {"duckdb": duck_url, "postgres": pg_url}


def test_default_dashboard_renders_from_postgres(
    page: Any, urls: dict[str, str], artifacts: Path
) -> None:
    page.goto(urls["postgres"] + "/")
    dashboard._wait_rendered(page)
    assert dashboard._states(page) == {c: "ready" for c in dashboard.CHARTS}
    for chart in dashboard.CHARTS:
        kind = page.get_attribute(f"#chart-{chart}", "data-type")
        if kind == "kpi":
            assert page.inner_text(f"#chart-{chart} .kpi-value").strip() not in ("", "–")
        elif kind == "table":
            assert page.locator(f"#chart-{chart} table tbody tr").count() == 4
        else:
            assert page.locator(f"#chart-{chart} .plot .main-svg").count() >= 1, chart
    page.screenshot(path=str(artifacts / "dashboard-postgres.png"), full_page=True)
    assert page.problems == []


def _drawn(page: Any) -> dict[str, Any]:
    """What every chart shows: plotted traces, KPI values, table cells."""
    return page.evaluate(
        """Object.fromEntries([...document.querySelectorAll('[data-chart]')].map(e => {
            const plot = e.querySelector('.plot');
            const kpi = e.querySelector('.kpi-value');
            const cells = [...e.querySelectorAll('table td')].map(td => td.textContent);
            return [e.dataset.chart, {
                traces: plot && plot.data ? plot.data.map(t => [t.x, t.y, t.z || null]) : null,
                kpi: kpi ? kpi.dataset.value : null,
                cells: cells,
            }];
        }))"""
    )


@pytest.mark.parametrize("view", VIEWS)
def test_postgres_draws_what_duckdb_draws(page: Any, urls: dict[str, str], view: str) -> None:
    drawn, states = {}, {}
    for engine, url in urls.items():
        page.goto(url + view)
        dashboard._wait_rendered(page)
        states[engine] = dashboard._states(page)
        drawn[engine] = _drawn(page)
    # a chart may have no rows for these filters ("empty"), on both engines alike
    assert states["postgres"] == states["duckdb"]
    assert list(states["duckdb"].values()).count("ready") >= len(dashboard.CHARTS) - 2
    assert drawn["postgres"].keys() == drawn["duckdb"].keys()
    duck = drawn["duckdb"].values()
    assert sum(1 for d in duck if d["traces"]) >= 8 and sum(1 for d in duck if d["kpi"]) == 4
    for chart, shown in drawn["duckdb"].items():
        assert serving.close_values(drawn["postgres"][chart], shown), chart
    assert page.problems == []


def test_kpis_show_the_apis_numbers_with_their_definition(page: Any, urls: dict[str, str]) -> None:
    dashboard.test_kpis_show_the_apis_numbers_with_their_definition(page, urls["postgres"])


def test_partial_days_are_shaded_and_the_funnel_counts_players(
    page: Any, urls: dict[str, str]
) -> None:
    dashboard.test_partial_days_are_shaded_and_the_funnel_counts_players(page, urls["postgres"])


def test_changing_a_filter_redraws_every_chart(
    page: Any, urls: dict[str, str], tmp_path: Path
) -> None:
    dashboard.test_changing_a_filter_redraws_every_chart_and_updates_the_url(
        page, urls["postgres"], tmp_path
    )


def test_csv_download_has_the_charts_data(page: Any, urls: dict[str, str], tmp_path: Path) -> None:
    dashboard.test_csv_download_has_the_charts_data(page, urls["postgres"], tmp_path)
