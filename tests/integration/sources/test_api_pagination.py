"""Every pagination style of the REST API source against the pinball API, end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import eventlake_tests_support as support
import pytest

from eventlake.sources.api import run_api_source

S = support.api_support()
pytestmark = pytest.mark.integration

PLAYERS = 310  # 13 pages of 25, the last one short
STYLES: dict[str, dict[str, Any]] = {
    "page_number_parallel": {
        "path": "/page/players",
        "record_path": "data",
        "pagination": {
            "type": "page_number",
            "size_param": "per_page",
            "size": 25,
            "total_pages_path": "meta.total_pages",
        },
    },
    "page_number_sequential": {
        "path": "/page/players",
        "record_path": "data",
        "pagination": {"type": "page_number", "size_param": "per_page", "size": 25},
    },
    "offset_parallel": {
        "path": "/offset/players",
        "record_path": "data",
        "pagination": {"type": "offset", "size_param": "limit", "size": 25, "total_path": "total"},
    },
    "offset_sequential": {
        "path": "/offset/players",
        "record_path": "data",
        "pagination": {"type": "offset", "size_param": "limit", "size": 25},
    },
    "cursor": {
        "path": "/cursor/players",
        "record_path": "data",
        "pagination": {
            "type": "cursor",
            "cursor_path": "next_cursor",
            "size_param": "limit",
            "size": 25,
        },
    },
    "next_link_in_body": {
        "path": "/body_link/players",
        "record_path": "data",
        "pagination": {
            "type": "next_link",
            "next_path": "links.next",
            "size_param": "per_page",
            "size": 25,
        },
    },
    "link_header": {
        "path": "/link_header/players",
        "pagination": {"type": "link_header", "size_param": "per_page", "size": 25},
    },
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_pagination_style_fetches_each_record_once(style: str, project_dir: Path) -> None:
    with S.running_api(players=PLAYERS, tournaments=1) as (_api, url):
        resource = {"primary_key": "player_id", **STYLES[style]}
        settings = S.make_settings(
            project_dir, S.pinball_definition(url, resources={"players": resource})
        )
        result = run_api_source(settings, "pinball")
        stats = S.admin(url, "stats")
    assert result.ok, result.resources[0].error
    players = result.resources[0]
    assert players.records == PLAYERS
    # 13 pages; a sequential page/offset chain without a total stops at the short page
    assert players.pages == 13
    assert stats["requests"] == 13
    assert S.query(
        settings, "SELECT count(*), count(DISTINCT player_id) FROM raw.pinball__players"
    ) == [(PLAYERS, PLAYERS)]


@pytest.mark.parametrize("where", ["header", "query"])
def test_auth_secret_comes_from_the_environment(
    where: str, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINBALL_TOKEN", "s3cret")
    auth = (
        {"type": "header", "env": "PINBALL_TOKEN", "name": "Authorization", "prefix": "Bearer "}
        if where == "header"
        else {"type": "query", "env": "PINBALL_TOKEN", "name": "api_key"}
    )
    with S.running_api(players=60, tournaments=1, token="s3cret") as (_api, url):
        resource = {"primary_key": "player_id", **STYLES["page_number_parallel"]}
        definition = S.pinball_definition(url, auth=auth, resources={"players": resource})
        settings = S.make_settings(project_dir, definition)
        result = run_api_source(settings, "pinball")
        assert result.ok and result.resources[0].records == 60
        # without the secret the API answers 401, a terminal error naming URL and status
        monkeypatch.setenv("PINBALL_TOKEN", "wrong")
        failed = run_api_source(settings, "pinball")
    assert not failed.ok
    error = failed.resources[0].error or ""
    assert "401" in error and "/page/players" in error
    assert "wrong" not in error and "s3cret" not in error
