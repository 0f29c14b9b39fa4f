"""The example game API (examples/game_api) sends its events through a real collector."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from eventlake.bus import EVENTS, open_consumer
from eventlake.bus.records import record_events
from eventlake.collect import create_app
from eventlake.config import load_config

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location(
        "game_api_example", ROOT / "examples" / "game_api" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_game_api_events_reach_the_bus(project_dir: Path, serve: Any, serve_extra: Any) -> None:
    settings = load_config(
        None,
        base_dir=project_dir,
        collect={"write_keys": {"game-key": "game-api"}},
        bus={"path": str(project_dir / "bus")},
        spec={"tracking_plan": str(ROOT / "eventlake" / "templates" / "tracking-plan.yaml")},
    )
    url = serve(create_app(settings))
    example = _load_example()
    app = example.create_app("game-key", url, project_dir / "buffer")
    with httpx.Client(base_url=serve_extra(app), timeout=10) as api:
        assert (
            api.post("/players/ada/signup", json={"name": "Ada", "anonymous_id": "a-1"}).status_code
            == 201
        )
        assert api.post("/players/ada/levels/1/start").status_code == 200
        assert api.post("/players/ada/levels/1/complete", json={"score": 900}).status_code == 200
        assert api.post("/players/ada/purchases", json={"item": "sword"}).json()["charged"] == 4.99
        assert api.post("/players/ada/purchases", json={"item": "laser"}).status_code == 404
        assert api.post("/players/ada/guild", json={"guild_id": "g001"}).status_code == 200
        deadline = time.monotonic() + 30
        while api.get("/healthz").json()["events_pending"] and time.monotonic() < deadline:
            time.sleep(0.05)
    consumer = open_consumer(settings, f"t-{time.monotonic_ns()}", [EVENTS])
    try:
        records = [e for r in consumer.poll(1000, 0.5) for e in record_events(r.value)]
    finally:
        consumer.close()
    kinds = [(r["type"], r["event"]) for r in records]
    assert kinds == [
        ("identify", None),
        ("track", "Signed Up"),
        ("track", "Level Started"),
        ("track", "Level Completed"),
        ("track", "Item Purchased"),
        ("track", "Guild Joined"),
        ("group", None),
    ]
    assert all(r["user_id"] == "ada" and r["source"] == "game-api" for r in records)
    purchase = msgspec.json.decode(records[4]["properties"])
    assert purchase == {"item": "sword", "price": 4.99, "currency": "USD", "quantity": 1}


def test_game_api_passes_the_players_ip_as_context_ip(
    project_dir: Path, serve: Any, serve_extra: Any
) -> None:
    """Every event comes from the game server; the player's address travels in context.ip,
    which the collector keeps (its `ip` column is the game server's connection)."""
    settings = load_config(
        None,
        base_dir=project_dir,
        collect={"write_keys": {"game-key": "game-api"}},
        bus={"path": str(project_dir / "bus")},
    )
    url = serve(create_app(settings))
    example = _load_example()
    app = example.create_app("game-key", url, project_dir / "buffer")
    # The game API behind a local reverse proxy, which uvicorn believes by default: the
    # player's address arrives in X-Forwarded-For.
    players = {"ada": "198.51.100.23", "bob": "203.0.113.9"}
    with httpx.Client(base_url=serve_extra(app), timeout=10) as api:
        for player, address in players.items():
            headers = {"X-Forwarded-For": address}
            assert api.post(f"/players/{player}/levels/1/start", headers=headers).is_success
            assert api.post(
                f"/players/{player}/purchases", json={"item": "bow"}, headers=headers
            ).is_success
        deadline = time.monotonic() + 30
        while api.get("/healthz").json()["events_pending"] and time.monotonic() < deadline:
            time.sleep(0.05)
    consumer = open_consumer(settings, f"t-{time.monotonic_ns()}", [EVENTS])
    try:
        records = [e for r in consumer.poll(1000, 0.5) for e in record_events(r.value)]
    finally:
        consumer.close()
    assert len(records) == 4
    for record in records:
        assert msgspec.json.decode(record["context"])["ip"] == players[record["user_id"]]
        assert record["ip"] == "127.0.0.1"  # the game server, as the collector saw it
