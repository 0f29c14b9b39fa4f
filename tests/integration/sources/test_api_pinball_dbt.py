"""The pinball example end to end: API -> lake -> raw tables -> dbt models and data tests."""

from __future__ import annotations

from pathlib import Path

import eventlake_tests_support as support
import pytest

from eventlake.sources.api import run_api_source

S = support.api_support()
BUILD = support.load_helper("pinball_build_models", S.PINBALL / "build_models.py")
pytestmark = pytest.mark.integration


def test_pinball_project_builds_and_its_data_tests_pass(project_dir: Path) -> None:
    with S.running_api(players=300, tournaments=60) as (api, url):
        settings = S.make_settings(project_dir, S.pinball_definition(url))
        assert run_api_source(settings, "pinball").ok
        n_results = sum(len(v) for v in api.results.values())
        suppressed = sum(r["player_id"] is None for v in api.results.values() for r in v)
    assert suppressed > 0  # the data has results without a player
    warehouse = settings.resolve(settings.warehouse.path)
    nodes = BUILD.build(warehouse, work_dir=project_dir / "dbt")
    assert {
        "fct_players",
        "fct_tournaments",
        "fct_tournament_results",
        "metrics_geography_summary",
    } <= set(nodes)
    assert any(n.startswith("unique_fct_tournament_results_result_key") for n in nodes)
    assert S.query(
        settings,
        "SELECT count(*), count(*) FILTER (WHERE is_suppressed) FROM marts.fct_tournament_results",
    ) == [(n_results, suppressed)]
    # the rolling window: a month's 48-month figure counts every tournament of the 48 months
    rows = S.query(
        settings,
        "SELECT max(m.month_start) FROM metrics.metrics_geography_summary m",
    )
    last = rows[0][0]
    expected = S.query(
        settings,
        "SELECT region, count(*) FROM marts.fct_tournaments "
        f"WHERE event_month > DATE '{last}' - INTERVAL 48 MONTH GROUP BY region",
    )
    got = dict(
        S.query(
            settings,
            "SELECT region, tournaments_48m FROM metrics.metrics_geography_summary "
            f"WHERE month_start = DATE '{last}'",
        )
    )
    assert expected and all(got[region] == n for region, n in expected)
