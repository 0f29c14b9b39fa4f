"""Failure handling of the REST API source: 429/5xx storms, a 404 page, exhausted retries."""

from __future__ import annotations

from pathlib import Path

import eventlake_tests_support as support
import pytest

from eventlake.sources.api import api_source_status, run_api_source

S = support.api_support()
pytestmark = pytest.mark.integration


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_storm_of_throttles_and_server_errors_is_retried(status: int, project_dir: Path) -> None:
    with S.running_api(players=200, tournaments=10, storm=12, storm_status=status) as (api, url):
        settings = S.make_settings(project_dir, S.pinball_definition(url, retries=15))
        result = run_api_source(settings, "pinball")
        stats = S.admin(url, "stats")
        n_results = sum(len(v) for v in api.results.values())
    assert result.ok, [r.error for r in result.resources]
    assert stats["by_status"][str(status)] == 12
    assert result.retries == 12
    assert S.query(settings, "SELECT count(*) FROM raw.pinball__players") == [(200,)]
    assert S.query(settings, "SELECT count(*) FROM raw.pinball__results") == [(n_results,)]


def test_random_faults_still_give_complete_data(project_dir: Path) -> None:
    with S.running_api(players=300, tournaments=20, error_rate=0.15, throttle_rate=0.15) as (
        api,
        url,
    ):
        settings = S.make_settings(project_dir, S.pinball_definition(url, retries=20))
        result = run_api_source(settings, "pinball")
        n_results = sum(len(v) for v in api.results.values())
    assert result.ok and result.retries > 0
    assert S.query(
        settings,
        "SELECT count(*), count(DISTINCT (tournament_id, position)) FROM raw.pinball__results",
    ) == [(n_results, n_results)]


def test_retry_after_pauses_every_request(project_dir: Path) -> None:
    with S.running_api(players=100, tournaments=1, storm=1, retry_after="1") as (_api, url):
        resource = {
            "path": "/page/players",
            "record_path": "data",
            "primary_key": "player_id",
            "pagination": {"type": "page_number", "size_param": "per_page", "size": 10},
        }
        definition = S.pinball_definition(url, resources={"players": resource})
        settings = S.make_settings(project_dir, definition)
        result = run_api_source(settings, "pinball")
        stats = S.admin(url, "stats")
    assert result.ok and result.retries == 1
    times = stats["times"]
    # the server asked for 1 s; nothing arrived before that (measured by the server)
    assert times[1] - times[0] >= 0.95


def test_a_404_page_fails_its_resource_without_advancing_state(project_dir: Path) -> None:
    fail = [{"path": "/page/players", "params": {"page": 3}, "status": 404}]
    with S.running_api(players=500, tournaments=8, fail=fail) as (_api, url):
        settings = S.make_settings(project_dir, S.pinball_definition(url))
        result = run_api_source(settings, "pinball")
        by_name = {r.name: r for r in result.resources}
        status = {r.name: r for r in api_source_status(settings, "pinball").resources}
        # fixed upstream: the next run completes
        S.admin(url, "config", {"fail": []})
        again = run_api_source(settings, "pinball")
    assert not result.ok
    error = by_name["players"].error or ""
    assert "HTTP 404" in error and "/page/players?" in error and "page=3" in error
    assert by_name["players"].status == "failed"
    assert status["players"].cursor is None
    assert status["players"].last_completed_run is None
    # the other group (tournaments -> results) is independent and completed
    assert by_name["tournaments"].status == "ok" and by_name["results"].status == "ok"
    assert status["tournaments"].cursor is not None
    assert "pinball__players" not in result.loaded
    assert again.ok
    assert S.query(
        settings, "SELECT count(*), count(DISTINCT player_id) FROM raw.pinball__players"
    ) == [(500, 500)]


def test_exhausted_retries_fail_with_the_url_and_status(project_dir: Path) -> None:
    with S.running_api(players=30, tournaments=1, storm=100, storm_status=502) as (_api, url):
        settings = S.make_settings(
            project_dir,
            S.pinball_definition(
                url,
                retries=2,
                resources={
                    "players": {
                        "path": "/page/players",
                        "record_path": "data",
                        "primary_key": "player_id",
                    }
                },
            ),
        )
        result = run_api_source(settings, "pinball")
    assert not result.ok
    error = result.resources[0].error or ""
    assert "failed after 3 attempts: HTTP 502" in error and "/page/players" in error
