"""The pinball example as a user runs it, fresh: its local API, `eventlake sources api run
pinball`, `eventlake run`, `eventlake serve`, then the dashboard in Chromium.

Checks that the dashboard renders every chart, that the country/state/metro multi-selects
and the month range change the charts (and agree with the API), that the maps draw their
places from eventlake's own topojson files, and that no request leaves 127.0.0.1 (every
request of the page is intercepted; one to another host fails the test and is aborted).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import eventlake_tests_support as support
import httpx
import pytest

S = support.api_support()
pytestmark = [pytest.mark.browser, pytest.mark.slow]

EXAMPLE = S.PINBALL
COPIED = ("eventlake.toml", "pinball.yaml", "models", "seeds", "macros", "dashboards")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A fresh copy of the example, extracted and built with the two commands, served."""
    project = tmp_path_factory.mktemp("pinball-site")
    for name in COPIED:
        src = EXAMPLE / name
        if src.is_dir():
            shutil.copytree(src, project / name)
        else:
            shutil.copy(src, project / name)
    with S.api_process("--players", "500", "--tournaments", "160") as api_url:
        env = {
            **os.environ,
            "EVENTLAKE_SOURCES__API__PINBALL__BASE_URL": api_url,
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        }
        env.pop("EVENTLAKE_CONFIG", None)
        support.run_cli(project, env, "sources", "api", "run", "pinball")
        out = support.run_cli(project, env, "run")
        assert "new from sources: pinball" in out and "built" in out, out
    with support.serve_process(project, env) as url:
        yield url, project


class Offline:
    """Every request of a page: those for another host than 127.0.0.1 are aborted and kept."""

    def __init__(self, context: Any) -> None:
        self.seen: list[str] = []
        self.outside: list[str] = []
        context.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.seen.append(url)
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()


def _rendered(page: Any, after: int = 0) -> int:
    page.wait_for_function(
        f"document.body.dataset.rendering === 'false' && "
        f"Number(document.body.dataset.renderGeneration || 0) > {after}",
        timeout=60_000,
    )
    return int(page.evaluate("Number(document.body.dataset.renderGeneration)"))


def _kpi(page: Any, chart: str) -> float:
    return float(page.get_attribute(f"#chart-{chart} .kpi-value", "data-value"))


def _pick(page: Any, dimension: str, value: str) -> None:
    """Choose ``value`` in a dimension's multi-select: open, search, tick."""
    page.click(f".ms[data-filter={dimension}] .ms-button")
    page.fill(f".ms[data-filter={dimension}] .ms-search", value)
    page.check(f'.ms[data-filter={dimension}] input[data-value="{value}"]')
    page.keyboard.press("Escape")


def test_pinball_site_renders_filters_and_maps_offline(
    browser: Any, site: tuple[str, Path], artifacts: Path
) -> None:
    url, _ = site
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    offline = Offline(context)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        page.goto(url + "/")
        generation = _rendered(page)
        # the project's own dashboard is the only one: no event dashboard without events
        assert page.inner_text(".dash-nav").strip() == "Pinball regional strength"
        states = page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('[data-chart]')]"
            ".map(e => [e.dataset.chart, e.dataset.state]))"
        )
        assert set(states.values()) == {"ready"}, states
        # the maps drew their places, with outlines from /static/topojson
        us_places = page.locator("#chart-map_states path.choroplethlocation").count()
        world_places = page.locator("#chart-map_world path.choroplethlocation").count()
        assert us_places >= 20 and world_places >= 5, (us_places, world_places)
        assert any(u.endswith("/static/topojson/usa_110m.json") for u in offline.seen)
        assert any(u.endswith("/static/topojson/world_110m.json") for u in offline.seen)
        page.screenshot(path=str(artifacts / "pinball-site.png"), full_page=True)

        players_all = _kpi(page, "kpi_players")
        api = httpx.get(f"{url}/api/metrics/geography_summary.json?total=true").json()
        assert players_all == api["rows"][0]["players_48m"] > 0

        # a state: the KPIs and the top players follow it
        _pick(page, "state", "IL")
        generation = _rendered(page, generation)
        assert "state=IL" in page.url
        players_il = _kpi(page, "kpi_players")
        api = httpx.get(f"{url}/api/metrics/geography_summary.json?total=true&state=IL").json()
        assert players_il == api["rows"][0]["players_48m"]
        assert 0 < players_il < players_all
        cells = page.locator("#chart-top_players tbody tr td:nth-child(3)").all_inner_texts()
        assert cells and set(cells) == {"IL"}
        us_il = page.locator("#chart-map_states path.choroplethlocation").count()
        assert us_il == 1  # the state map now shows Illinois alone
        # the world map's metric has no state: it says so instead of ignoring the filter
        assert "Not filtered by State" in page.inner_text("#chart-map_world .note")

        # a metro area within it, found by searching
        _pick(page, "metro", "Chicago, IL-IN")
        generation = _rendered(page, generation)
        players_chicago = _kpi(page, "kpi_players")
        assert 0 < players_chicago <= players_il

        # a month range: the rolling figures as of an earlier month
        page.fill("#filter-end", "2021-06")
        page.dispatch_event("#filter-end", "change")
        generation = _rendered(page, generation)
        assert "end=2021-06-30" in page.url
        earlier = _kpi(page, "kpi_players")
        api = httpx.get(
            f"{url}/api/metrics/geography_summary.json?total=true&state=IL"
            "&metro=Chicago%2C+IL-IN&end=2021-06-30"
        ).json()
        assert earlier == api["rows"][0]["players_48m"] != players_chicago
        assert "in the range's last month" in page.inner_text("#chart-kpi_players")
        page.screenshot(path=str(artifacts / "pinball-site-filtered.png"), full_page=True)
        assert offline.outside == [], offline.outside
        assert problems == [], problems
    finally:
        context.close()
