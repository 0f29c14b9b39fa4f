"""Incremental runs, full refresh and schema drift of the REST API source (pinball API)."""

from __future__ import annotations

import json
from pathlib import Path

import eventlake_tests_support as support
import pytest

from eventlake.sources.api import api_source_status, run_api_source

S = support.api_support()
pytestmark = pytest.mark.integration


def test_second_run_fetches_only_new_and_changed_records(project_dir: Path) -> None:
    with S.running_api(players=400, tournaments=30) as (api, url):
        settings = S.make_settings(project_dir, S.pinball_definition(url))
        first = run_api_source(settings, "pinball")
        assert first.ok
        assert {r.name: r.records for r in first.resources}["players"] == 400
        S.admin(url, "reset", {})
        S.admin(url, "mutate", {"new_players": 7, "update_players": 5, "new_tournaments": 2})
        second = run_api_source(settings, "pinball")
        stats = S.admin(url, "stats")
        served = stats["served"]
        changed = {p["player_id"]: p["rating"]["value"] for p in api.players[-7:]}
        changed.update(
            {p["player_id"]: p["rating"]["value"] for p in api.players if p["updated_at"] >= "2026"}
        )
    assert second.ok
    by_name = {r.name: r for r in second.resources}
    # 7 new + 5 updated players, plus the one at the saved cursor (the filter is inclusive)
    assert served["players"] == 13
    assert by_name["players"].records == 13
    assert served["tournaments"] == 3
    # results are fetched only for the tournaments of this run
    result_paths = {p for p in stats["paths"] if p.endswith("/results")}
    assert result_paths == {f"/cursor/tournaments/{t}/results" for t in (30, 31, 32)}
    assert by_name["players"].cursor_before == first.resources[0].cursor_after
    assert by_name["players"].cursor_after > by_name["players"].cursor_before
    assert S.query(
        settings, "SELECT count(*), count(DISTINCT player_id) FROM raw.pinball__players"
    ) == [(407, 407)]
    # the newest version of an updated player wins
    rows = dict(S.query(settings, "SELECT player_id, rating__value FROM raw.pinball__players"))
    for pid, value in changed.items():
        assert rows[pid] == value
    n_results = sum(len(v) for v in api.results.values())
    assert S.query(settings, "SELECT count(*) FROM raw.pinball__results") == [(n_results,)]


def test_full_refresh_starts_a_new_generation(project_dir: Path) -> None:
    with S.running_api(players=120, tournaments=5) as (_api, url):
        settings = S.make_settings(project_dir, S.pinball_definition(url))
        assert run_api_source(settings, "pinball").ok
        again = run_api_source(settings, "pinball", full_refresh=True)
    assert again.ok and again.full_refresh
    players = {r.name: r for r in again.resources}["players"]
    assert players.records == 120 and players.generation == 1
    status = api_source_status(settings, "pinball")
    gen = {r.name: r for r in status.resources}["players"]
    assert gen.generation == 1 and gen.lake_rows == 120  # old generation not loaded
    assert S.query(settings, "SELECT count(*) FROM raw.pinball__players") == [(120,)]


def test_schema_drift_is_reported_not_fatal(project_dir: Path) -> None:
    with S.running_api(players=80, tournaments=3) as (_api, url):
        settings = S.make_settings(project_dir, S.pinball_definition(url))
        assert run_api_source(settings, "pinball").ok
        S.admin(url, "config", {"drift": True})
        S.admin(url, "mutate", {"update_players": 4})
        drifted = run_api_source(settings, "pinball")
    assert drifted.ok
    assert "players: schema drift: new column 'sponsor' (string)" in drifted.drift
    assert (
        "players: schema drift: column 'rating__rank' changed type int64 -> string" in drifted.drift
    )
    assert json.dumps(drifted.to_dict())  # the JSON result carries it too
    cols = dict(
        S.query(
            settings,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'pinball__players'",
        )
    )
    assert cols["sponsor"] == "VARCHAR" and cols["rating__rank"] == "VARCHAR"
    fetched = {r.name: r.records for r in drifted.resources}["players"]
    assert fetched == 4  # the 4 updated players (one of them was at the saved cursor)
    assert S.query(settings, "SELECT count(*), count(sponsor) FROM raw.pinball__players") == [
        (80, fetched)
    ]
