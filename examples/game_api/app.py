"""A small game API instrumented with the eventlake tracker SDK, as you would your own app.

Endpoints (JSON): sign up, start/complete/fail a level, buy an item, join a guild. Each
handler does its (toy) game logic, then records what happened with one tracker call; the
SDK batches and sends in the background, so a slow or down collector never slows a player
down (events wait in memory, then in the on-disk buffer, and are retried).

Run it (see README.md)::

    EVENTLAKE_WRITE_KEY=dev-write-key EVENTLAKE_COLLECTOR_URL=http://127.0.0.1:8088 \\
        uvicorn examples.game_api.app:app --port 9000

The tracker sends every player's events from this server, so the collector sees this
server as the client of every request. Each event therefore carries the player's own
address as ``context.ip``, which the collector keeps (it fills ``context.ip`` only when an
event has none) and the models use. Behind a load balancer or reverse proxy, start uvicorn
with ``--forwarded-allow-ips <the proxies' addresses>`` so that ``request.client`` is the
player from ``X-Forwarded-For`` (uvicorn believes that header from 127.0.0.1 only, by
default).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from eventlake.tracker import Client

PRICES = {
    "sword": 4.99,
    "knife": 1.99,
    "shield": 3.99,
    "potion": 0.99,
    "bow": 2.99,
    "armor": 9.99,
    "gems_pack": 19.99,
}
GUILDS = {"g001": "Iron Wolves", "g002": "Iron Dragons", "g003": "Crimson Ravens"}


def _context(request: Request) -> dict[str, Any]:
    """What the server knows about the player's client, in Segment's context shape.

    ``ip`` is the player's address (see the module docstring for proxies): without it every
    event would record this server's address, the tracker's connection to the collector.
    """
    ctx: dict[str, Any] = {"userAgent": request.headers.get("user-agent", "")}
    if request.client is not None:
        ctx["ip"] = request.client.host
    locale = request.headers.get("accept-language", "").split(",")[0].strip()
    if locale:
        ctx["locale"] = locale
    platform = request.headers.get("x-platform")
    if platform:
        ctx["os"] = {"name": platform}
    return ctx


def create_app(
    write_key: str | None = None,
    collector_url: str | None = None,
    buffer_dir: str | Path | None = None,
) -> Starlette:
    """The game API; tracker settings default to the EVENTLAKE_* environment variables."""
    write_key = write_key or os.environ.get("EVENTLAKE_WRITE_KEY", "dev-write-key")
    collector_url = collector_url or os.environ.get(
        "EVENTLAKE_COLLECTOR_URL", "http://127.0.0.1:8088"
    )
    if buffer_dir is None:
        buffer_dir = os.environ.get("EVENTLAKE_TRACKER_BUFFER", ".game-api-events")
    state: dict[str, Client] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # One client per process: it owns a background thread and the on-disk buffer.
        state["tracker"] = Client(write_key, collector_url, buffer_dir=buffer_dir)
        try:
            yield
        finally:
            state["tracker"].shutdown(timeout=5)

    def tracker() -> Client:
        return state["tracker"]

    async def signup(request: Request) -> JSONResponse:
        player = request.path_params["player_id"]
        body = await request.json()
        anonymous_id = body.get("anonymous_id")
        tracker().identify(
            player,
            {"name": body.get("name"), "email": body.get("email")},
            anonymous_id=anonymous_id,
            context=_context(request),
        )
        tracker().track(
            "Signed Up",
            {"method": body.get("method", "email")},
            user_id=player,
            context=_context(request),
        )
        return JSONResponse({"player_id": player, "welcome": True}, status_code=201)

    async def level(request: Request) -> JSONResponse:
        player = request.path_params["player_id"]
        number = request.path_params["level"]
        outcome = request.path_params["outcome"]
        body = await request.json() if outcome != "start" else {}
        events = {"start": "Level Started", "complete": "Level Completed", "fail": "Level Failed"}
        if outcome not in events:
            return JSONResponse({"error": f"unknown outcome {outcome!r}"}, status_code=404)
        props: dict[str, Any] = {"level": number}
        if outcome == "complete":
            props.update(
                score=int(body.get("score", 0)),
                duration_seconds=float(body.get("duration_seconds", 0)),
            )
        elif outcome == "fail":
            props["cause"] = body.get("cause", "enemy")
        tracker().track(events[outcome], props, user_id=player, context=_context(request))
        return JSONResponse({"player_id": player, "level": number, "outcome": outcome})

    async def purchase(request: Request) -> JSONResponse:
        player = request.path_params["player_id"]
        body = await request.json()
        item = body.get("item")
        if item not in PRICES:
            return JSONResponse({"error": f"no such item {item!r}"}, status_code=404)
        quantity = int(body.get("quantity", 1))
        currency = body.get("currency", "USD")
        tracker().track(
            "Item Purchased",
            {"item": item, "price": PRICES[item], "currency": currency, "quantity": quantity},
            user_id=player,
            context=_context(request),
        )
        return JSONResponse(
            {
                "player_id": player,
                "item": item,
                "quantity": quantity,
                "charged": round(PRICES[item] * quantity, 2),
                "currency": currency,
            }
        )

    async def join_guild(request: Request) -> JSONResponse:
        player = request.path_params["player_id"]
        body = await request.json()
        guild_id = body.get("guild_id")
        if guild_id not in GUILDS:
            return JSONResponse({"error": f"no such guild {guild_id!r}"}, status_code=404)
        name = GUILDS[guild_id]
        ctx = _context(request)
        tracker().track(
            "Guild Joined", {"guild_id": guild_id, "guild_name": name}, user_id=player, context=ctx
        )
        tracker().group(guild_id, {"name": name}, user_id=player, context=ctx)
        return JSONResponse({"player_id": player, "guild_id": guild_id, "guild_name": name})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "events_pending": tracker().pending})

    routes = [
        Route("/players/{player_id}/signup", signup, methods=["POST"]),
        Route("/players/{player_id}/levels/{level:int}/{outcome}", level, methods=["POST"]),
        Route("/players/{player_id}/purchases", purchase, methods=["POST"]),
        Route("/players/{player_id}/guild", join_guild, methods=["POST"]),
        Route("/healthz", health, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


app = create_app()
