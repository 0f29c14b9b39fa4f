"""A local pinball REST API for the example project, the tests and the benchmark.

Deterministic generated data (by seed): players, tournaments and the results of each
tournament (a few results have no player: suppressed players). Players live in a country
(most in the US, with a real ZIP code of a pinball-playing metro area, or of a place in no
metro area, drawn from the example's ``seeds/zip_codes.csv``); tournaments are held in a
country (US ones at a real ZIP code), have a format and a size, and draw most of their
entrants from around them. Every collection is served in each pagination style under its
own prefix, so one server exercises them all::

    /page/players?page=2&per_page=50            {"data": [...], "meta": {"total_pages"...}}
    /offset/tournaments?offset=100&limit=50     {"data": [...], "total": 500}
    /cursor/tournaments/7/results?cursor=...    {"data": [...], "next_cursor": "..."}
    /body_link/players                          {"data": [...], "links": {"next": "/..."}}
    /link_header/players                        [...] with a Link: <...>; rel="next" header

``updated_since`` (inclusive) filters players and tournaments by ``updated_at``. Knobs, at
start or at run time through ``POST /_admin/config``: latency per request, a share of 500s
and 429s (with Retry-After), a storm of N failing requests, one URL that always fails with a
given status, schema drift in players, a bearer token. ``POST /_admin/mutate`` adds and
updates records (for incremental runs); ``GET /_admin/stats`` returns every request's time
and status, so tests count requests per time window on the server side.

Run by hand: ``python examples/pinball/pinball_api.py --port 8765 --latency-ms 50``.
Binds 127.0.0.1 by default.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["PinballApi", "PinballConfig", "main", "serve_in_thread"]

FIRST = ["Ann", "Bob", "Cleo", "Dan", "Eve", "Finn", "Gus", "Hana", "Ivo", "Jo", "Kai", "Lea"]
LAST = ["Smith", "Jones", "Garcia", "Chen", "Kim", "Novak", "Silva", "Berg", "Rossi", "Ng"]
CITIES = ["Portland", "Austin", "Denver", "Chicago", "Boston", "Atlanta", "Seattle", "Tampa"]
BASE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
SEEDS = Path(__file__).resolve().parent / "seeds"
#: Where players live and tournaments are held: country -> weight (US: a ZIP code).
COUNTRIES = {
    "US": 72, "CA": 6, "GB": 5, "DE": 4, "SE": 3, "AU": 3, "NL": 2, "JP": 2, "BE": 2, "FR": 1,
}  # fmt: skip
#: Pinball-playing US metro areas (CBSA code -> weight); the rest of the US is "rural".
METROS = {
    "16980": 10, "42660": 9, "38900": 8, "33460": 7, "35620": 7, "19740": 6, "12420": 6,
    "14460": 5, "41860": 5, "31080": 5, "37980": 4, "38300": 4, "19820": 4, "19100": 3,
    "12060": 3, "38060": 3, "45300": 2, "33340": 2, "18140": 2, "28140": 2, "47900": 2,
}  # fmt: skip
RURAL = 12  # weight of a US place in no metro area
CITIES_ABROAD = {
    "CA": ["Toronto", "Vancouver", "Montreal"], "GB": ["London", "Manchester"],
    "DE": ["Berlin", "Hamburg"], "SE": ["Stockholm", "Malmo"], "AU": ["Melbourne", "Sydney"],
    "NL": ["Amsterdam"], "JP": ["Tokyo", "Osaka"], "BE": ["Antwerp"], "FR": ["Paris"],
}  # fmt: skip
FORMATS = ["match play", "group match play", "best game", "strike knockout", "pingolf"]
#: Share of a tournament's entrants drawn from around it (the rest travel).
LOCAL_SHARE = 0.75


@dataclass(frozen=True)
class ZipPools:
    """Real US ZIP codes by metro area (CBSA code) and outside every metro, with states."""

    by_metro: dict[str, list[str]]
    rural: list[str]
    state: dict[str, str]
    city: dict[str, str]


_POOLS: list[ZipPools] = []


def zip_pools() -> ZipPools:
    """The example's ZIP seed, read once (sorted, so draws are deterministic)."""
    if not _POOLS:
        import csv

        by_metro: dict[str, list[str]] = {}
        rural: list[str] = []
        state: dict[str, str] = {}
        with open(SEEDS / "zip_codes.csv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row["state"] in ("PR", "GU", "VI", "AS", "MP"):
                    continue
                state[row["zip"]] = row["state"]
                if row["metro_code"] in METROS:
                    by_metro.setdefault(row["metro_code"], []).append(row["zip"])
                elif not row["metro_code"]:
                    rural.append(row["zip"])
        city = {}
        with open(SEEDS / "metro_areas.csv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row["metro_code"] in METROS:
                    city[row["metro_code"]] = row["metro"].split(",")[0].split("-")[0]
        _POOLS.append(ZipPools(by_metro, sorted(rural), state, city))
    return _POOLS[0]


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PinballConfig:
    """The server's data size and behaviour (all changeable at run time except sizes)."""

    players: int = 1000
    tournaments: int = 200
    seed: int = 7
    latency_ms: float = 0.0
    error_rate: float = 0.0
    throttle_rate: float = 0.0
    retry_after: str = "0"
    storm: int = 0
    storm_status: int = 429
    # [{"path": "/page/players", "params": {"page": "3"}, "status": 404}]: always fails
    fail: list[dict[str, Any]] = field(default_factory=list)
    drift: bool = False
    token: str | None = None


class PinballApi:
    """The data and the Starlette app serving it."""

    def __init__(self, config: PinballConfig | None = None) -> None:
        self.config = config or PinballConfig()
        self.rng = random.Random(self.config.seed)
        self.players: list[dict[str, Any]] = []
        self.tournaments: list[dict[str, Any]] = []
        self.results: dict[int, list[dict[str, Any]]] = {}
        #: where each player lives: (country, metro code or "" for a rural US ZIP or abroad)
        self.homes: list[tuple[str, str]] = []
        self.version = 0
        self.log: list[tuple[float, str, int]] = []
        self.served: dict[str, int] = {"players": 0, "tournaments": 0, "results": 0}
        self._fault_rng = random.Random(self.config.seed + 1)
        for _ in range(self.config.players):
            self._new_player(_iso(BASE + dt.timedelta(seconds=len(self.players))))
        for _ in range(self.config.tournaments):
            self._new_tournament(_iso(BASE + dt.timedelta(seconds=len(self.tournaments))))
        self.app = Starlette(
            routes=[
                Route("/_admin/config", self.admin_config, methods=["POST"]),
                Route("/_admin/mutate", self.admin_mutate, methods=["POST"]),
                Route("/_admin/stats", self.admin_stats),
                Route("/_admin/reset", self.admin_reset, methods=["POST"]),
                Route("/{style}/players", self.list_players),
                Route("/{style}/tournaments", self.list_tournaments),
                Route("/{style}/tournaments/{tid:int}/results", self.list_results),
            ]
        )

    # -- data ------------------------------------------------------------------------------
    def _place(self) -> tuple[str, str, str]:
        """A (country, metro code, postal code) drawn by the weights above."""
        r = self.rng
        country = r.choices(list(COUNTRIES), weights=list(COUNTRIES.values()))[0]
        if country != "US":
            return country, "", f"{country}-{r.randint(1000, 9999)}"
        pools = zip_pools()
        metros = [*METROS, ""]
        metro = r.choices(metros, weights=[*METROS.values(), RURAL])[0]
        zips = pools.by_metro[metro] if metro else pools.rural
        return country, metro, r.choice(zips)

    def _new_player(self, updated_at: str) -> None:
        r = self.rng
        pid = len(self.players) + 1
        country, metro, postal = self._place()
        self.homes.append((country, metro))
        self.players.append(
            {
                "player_id": pid,
                "first_name": r.choice(FIRST),
                "last_name": r.choice(LAST),
                "country_code": country,
                "postal_code": postal,
                "rating": {"value": round(r.uniform(1000, 2000), 2), "rank": r.randint(1, 50000)},
                "tags": r.sample(["stern", "williams", "bally", "gottlieb"], k=r.randint(0, 2)),
                "updated_at": updated_at,
            }
        )

    def _entrants(self, n: int, country: str, metro: str) -> list[int]:
        """``n`` distinct player ids: most from around the tournament, the rest from anywhere."""
        r = self.rng
        n = min(n, len(self.players))
        local = [i + 1 for i, home in enumerate(self.homes) if home == (country, metro)]
        chosen = r.sample(local, k=min(len(local), round(n * LOCAL_SHARE)))
        taken = set(chosen)
        while len(chosen) < n:
            pid = r.randint(1, len(self.players))
            if pid not in taken:
                taken.add(pid)
                chosen.append(pid)
        r.shuffle(chosen)
        return chosen

    def _new_tournament(self, updated_at: str) -> None:
        r = self.rng
        tid = len(self.tournaments) + 1
        day = dt.date(2018, 1, 1) + dt.timedelta(days=r.randint(0, 8 * 365 - 1))
        n = r.randint(8, 24) if r.random() < 0.7 else r.randint(25, 80)
        country, metro, postal = self._place()
        if country != "US":
            city = r.choice(CITIES_ABROAD[country])
        else:
            city = zip_pools().city.get(metro) or r.choice(CITIES)
        fmt = r.choice(FORMATS)
        self.tournaments.append(
            {
                "tournament_id": tid,
                "name": f"{city} {fmt.title()} #{tid}",
                "event_date": day.isoformat(),
                "city": city,
                "country_code": country,
                "postal_code": postal,
                "format": fmt,
                "location": {
                    "lat": round(r.uniform(25, 48), 4),
                    "lon": round(r.uniform(-122, -70), 4),
                },
                "player_count": n,
                "updated_at": updated_at,
            }
        )
        entrants = self._entrants(n, country, metro)
        # bigger fields award more points; the winner gets 25 + entrants, last place ~0
        self.results[tid] = [
            {
                "tournament_id": tid,
                "position": pos,
                # a suppressed player (about 3%) keeps the row but hides who it was
                "player_id": None if r.random() < 0.03 else pid,
                "points": round(max(0.0, (25.0 + n) * (1.0 - (pos - 1) / n)), 2),
            }
            for pos, pid in enumerate(entrants, 1)
        ]

    def mutate(
        self, new_players: int = 0, update_players: int = 0, new_tournaments: int = 0
    ) -> None:
        """Add and update records with newer updated_at values (deterministic)."""
        self.version += 1
        t0 = BASE + dt.timedelta(days=365 + self.version)
        for i in range(new_players):
            self._new_player(_iso(t0 + dt.timedelta(seconds=i)))
        for i in range(update_players):
            p = self.players[(i * 7919 + self.version) % len(self.players)]
            p["rating"] = {"value": round(p["rating"]["value"] + 1, 2), "rank": p["rating"]["rank"]}
            p["updated_at"] = _iso(t0 + dt.timedelta(hours=1, seconds=i))
        for i in range(new_tournaments):
            self._new_tournament(_iso(t0 + dt.timedelta(seconds=i)))

    # -- plumbing --------------------------------------------------------------------------
    async def _gate(self, request: Request) -> Response | None:
        """Latency, auth and injected faults; None means serve normally."""
        cfg = self.config
        if cfg.latency_ms:
            await asyncio.sleep(cfg.latency_ms / 1000)
        status: int | None = None
        for rule in cfg.fail:
            if rule["path"] == request.url.path and all(
                request.query_params.get(k) == str(v) for k, v in rule.get("params", {}).items()
            ):
                status = int(rule["status"])
        if status is None and cfg.storm > 0:
            cfg.storm -= 1
            status = cfg.storm_status
        if status is None and cfg.token is not None:
            given = request.headers.get("authorization") or ""
            if given != f"Bearer {cfg.token}" and request.query_params.get("api_key") != cfg.token:
                status = 401
        if status is None:
            x = self._fault_rng.random()
            if x < cfg.throttle_rate:
                status = 429
            elif x < cfg.throttle_rate + cfg.error_rate:
                status = 500
        if status is None:
            return None
        headers = {"Retry-After": cfg.retry_after} if status in (429, 503) else {}
        return JSONResponse({"error": f"injected {status}"}, status_code=status, headers=headers)

    def _record(self, request: Request, status: int, arrived: float) -> None:
        self.log.append((arrived, request.url.path, status))

    def _page(self, request: Request, rows: list[dict[str, Any]], kind: str) -> Response:
        style = request.path_params["style"]
        q = request.query_params
        total = len(rows)
        if style == "page":
            size = int(q.get("per_page", 50))
            page = int(q.get("page", 1))
            chunk = rows[(page - 1) * size : page * size]
            body: Any = {
                "data": chunk,
                "meta": {
                    "page": page,
                    "per_page": size,
                    "total": total,
                    "total_pages": -(-total // size),
                },
            }
            headers: dict[str, str] = {}
        elif style in ("offset", "cursor", "body_link", "link_header"):
            if style == "cursor":
                cur = q.get("cursor")
                start = int(base64.urlsafe_b64decode(cur).decode()) if cur else 0
                size = int(q.get("limit", 50))
            elif style == "offset":
                start, size = int(q.get("offset", 0)), int(q.get("limit", 50))
            else:
                size = int(q.get("per_page", 50))
                start = (int(q.get("page", 1)) - 1) * size
            chunk = rows[start : start + size]
            more = start + size < total
            headers = {}
            if style == "offset":
                body = {"data": chunk, "total": total}
            elif style == "cursor":
                nxt = base64.urlsafe_b64encode(str(start + size).encode()).decode()
                body = {"data": chunk, "next_cursor": nxt if more else None}
            else:
                params = {k: v for k, v in q.items() if k != "page"}
                params["page"] = str(start // size + 2)
                link = f"{request.url.path}?{urlencode(params)}" if more else None
                if style == "body_link":
                    body = {"data": chunk, "links": {"next": link}}
                else:
                    body = chunk
                    if link:
                        headers["Link"] = f'<{link}>; rel="next"'
        else:
            return JSONResponse({"error": f"unknown style {style}"}, status_code=404)
        self.served[kind] += len(chunk)
        return JSONResponse(body, headers=headers)

    def _since(self, request: Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        since = request.query_params.get("updated_since")
        return [r for r in rows if r["updated_at"] >= since] if since else rows

    # -- routes ----------------------------------------------------------------------------
    async def list_players(self, request: Request) -> Response:
        arrived = time.monotonic()
        resp = await self._gate(request) or self._page(
            request, [self._drift(p) for p in self._since(request, self.players)], "players"
        )
        self._record(request, resp.status_code, arrived)
        return resp

    def _drift(self, p: dict[str, Any]) -> dict[str, Any]:
        if not self.config.drift:
            return p
        out = dict(p, sponsor=f"Sponsor {p['player_id'] % 5}")
        out["rating"] = {"value": p["rating"]["value"], "rank": f"#{p['rating']['rank']}"}
        return out

    async def list_tournaments(self, request: Request) -> Response:
        arrived = time.monotonic()
        rows = self._since(request, self.tournaments)
        resp = await self._gate(request) or self._page(request, rows, "tournaments")
        self._record(request, resp.status_code, arrived)
        return resp

    async def list_results(self, request: Request) -> Response:
        arrived = time.monotonic()
        tid = request.path_params["tid"]
        resp = await self._gate(request)
        if resp is None:
            if tid not in self.results:
                resp = JSONResponse({"error": "no such tournament"}, status_code=404)
            else:
                resp = self._page(request, self.results[tid], "results")
        self._record(request, resp.status_code, arrived)
        return resp

    async def admin_config(self, request: Request) -> Response:
        changes = await request.json()
        for key, value in changes.items():
            if not hasattr(self.config, key):
                return JSONResponse({"error": f"unknown setting {key}"}, status_code=400)
            setattr(self.config, key, value)
        return JSONResponse({"ok": True})

    async def admin_mutate(self, request: Request) -> Response:
        self.mutate(**(await request.json()))
        return JSONResponse({"version": self.version})

    async def admin_stats(self, request: Request) -> Response:
        by_status: dict[str, int] = {}
        for _, _, s in self.log:
            by_status[str(s)] = by_status.get(str(s), 0) + 1
        return JSONResponse(
            {
                "requests": len(self.log),
                "by_status": by_status,
                "times": [t for t, _, _ in self.log],
                "paths": [p for _, p, _ in self.log],
                "served": self.served,
                "totals": {
                    "players": len(self.players),
                    "tournaments": len(self.tournaments),
                    "results": sum(len(v) for v in self.results.values()),
                },
            }
        )

    async def admin_reset(self, request: Request) -> Response:
        self.log.clear()
        self.served = {k: 0 for k in self.served}
        return JSONResponse({"ok": True})


@contextlib.contextmanager
def serve_in_thread(api: PinballApi, port: int, host: str = "127.0.0.1") -> Iterator[str]:
    """Run the API in a background thread; yields its base URL; stops on exit."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(api.app, host=host, port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"pinball API did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def main(argv: list[str] | None = None) -> None:
    """Command line: serve the pinball API until interrupted."""
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--players", type=int, default=1000)
    ap.add_argument("--tournaments", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--error-rate", type=float, default=0.0, help="share of 500 replies")
    ap.add_argument("--throttle-rate", type=float, default=0.0, help="share of 429 replies")
    ap.add_argument("--token", default=None, help="require this bearer token / api_key")
    a = ap.parse_args(argv)
    api = PinballApi(
        PinballConfig(
            players=a.players,
            tournaments=a.tournaments,
            seed=a.seed,
            latency_ms=a.latency_ms,
            error_rate=a.error_rate,
            throttle_rate=a.throttle_rate,
            token=a.token,
        )
    )
    print(json.dumps({"url": f"http://{a.host}:{a.port}", "players": len(api.players)}), flush=True)
    uvicorn.run(api.app, host=a.host, port=a.port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
