"""A small game dataset with known awkward properties, written as a real Parquet lake.

What it holds (deterministic by seed): identified players who play anonymously before they
identify (their early events must be attributed to them), players on a second device that
identifies later, players merged through alias (one through a chain of two aliases),
never-identified visitors, duplicates (same messageId, later arrival; one copy on another
day), late events (committed days after they happened), clock skew (original_timestamp
and sent_at hours off, timestamp corrected), sessions crossing midnight, purchases with
and without quantity in several currencies, guild joins, page and screen calls.

Rows are committed with ``Lake.commit`` by *received* day, like the lander does, so a test
can load the lake commit by commit and build incrementally.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

import eventlake
from eventlake.config import ModelsConfig, Settings
from eventlake.lake import EVENT_SCHEMA, EVENTS_DIR, Lake, PendingFile, open_lake

START = dt.date(2026, 3, 2)  # a Monday
DAYS = 35
UTC = dt.UTC

PLATFORMS = ["ios", "android", "web"]
COUNTRIES = ["US", "DE", "BR", "JP"]
HOSTS = ["comcast.net", "t-online.de", "vivo.com.br", "ocn.ne.jp", "verizon.net"]
ITEMS = ["sword", "knife", "shield", "potion", "bow", "armor", "gems_pack"]
CURRENCIES = ["USD", "EUR", "GBP"]


@dataclass
class Player:
    anon_ids: list[str]
    user_ids: list[str]  # alias chain: every id later aliased into the next
    platform: str
    country: str
    host: str
    first_day: int
    identify_day: int | None  # None: never identified
    second_device_day: int | None


def _ts(day: int, seconds: int) -> dt.datetime:
    base = dt.datetime.combine(START, dt.time(), tzinfo=UTC)
    return base + dt.timedelta(days=day, seconds=seconds)


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.rows: list[dict[str, Any]] = []
        self.counter = 0

    def message_id(self) -> str:
        self.counter += 1
        return str(uuid.UUID(int=self.rng.getrandbits(128)))

    def add(
        self,
        player: Player,
        when: dt.datetime,
        type_: str,
        *,
        anon: str | None,
        user: str | None,
        event: str | None = None,
        name: str | None = None,
        properties: dict[str, Any] | None = None,
        traits: dict[str, Any] | None = None,
        previous_id: str | None = None,
        platform: str | None = None,
    ) -> dict[str, Any]:
        rng = self.rng
        delay = rng.randint(1, 20)
        if rng.random() < 0.04:
            delay = rng.randint(1, 4) * 86400 + rng.randint(0, 3600)  # late by days
        received = when + dt.timedelta(seconds=delay)
        skew = dt.timedelta(hours=rng.choice([0, 0, 0, 3, -5])) if rng.random() < 0.2 else None
        sent = received - dt.timedelta(seconds=1)
        original = when
        if skew is not None:
            original = when + skew
            sent = sent + skew
        row = {
            "message_id": self.message_id(),
            "type": type_,
            "event": event,
            "name": name,
            "user_id": user,
            "anonymous_id": anon,
            "group_id": "guild-x" if type_ == "group" else None,
            "previous_id": previous_id,
            "timestamp": when,
            "original_timestamp": original,
            "sent_at": sent,
            "received_at": received,
            "properties": json.dumps(properties) if properties is not None else None,
            "traits": json.dumps(traits) if traits is not None else None,
            "context": json.dumps(
                {
                    "os": {"name": platform or player.platform},
                    "location": {"country": player.country},
                    "locale": "en-US",
                    "app": {"version": "1.4.2"},
                    # every third event as a server-side tracker sends it: the player's own
                    # address (the request's `ip` below is the server's)
                    **({"ip": f"203.0.113.{len(self.rows) % 250}"} if len(self.rows) % 3 else {}),
                }
            ),
            "integrations": None,
            "source": rng.choice(["game", "game", "web"]),
            "host": player.host.upper() if rng.random() < 0.05 else player.host,
            "user_agent": "game/1.4.2",
            "ip": "198.51.100.7",
            "bus_partition": rng.randint(0, 3),
            "bus_offset": 0,
        }
        self.rows.append(row)
        return row


def _players(rng: random.Random) -> list[Player]:
    players = []
    for i in range(44):
        first = rng.randint(0, 8) if i in (3, 5, 7, 11) else rng.randint(0, DAYS - 3)
        identify: int | None = first + rng.choice([0, 0, 1, 3]) if i < 34 else None
        user_ids = [f"user-{i:03d}"]
        if i in (3, 7, 11):
            user_ids = [f"legacy-{i:03d}", f"user-{i:03d}"]
        if i == 5:
            user_ids = [f"old-{i:03d}", f"mid-{i:03d}", f"user-{i:03d}"]
        players.append(
            Player(
                anon_ids=[f"anon-{i:03d}-a", f"anon-{i:03d}-b"],
                user_ids=user_ids,
                platform=rng.choice(PLATFORMS),
                country=rng.choice(COUNTRIES),
                host=rng.choice(HOSTS),
                first_day=first,
                identify_day=identify,
                second_device_day=(identify + 2 if identify is not None and i % 4 == 0 else None),
            )
        )
    return players


def _session(b: _Builder, p: Player, day: int, start: int, device: int) -> None:
    rng = b.rng
    identified = p.identify_day is not None and day >= p.identify_day
    second = device == 1
    anon = p.anon_ids[device]
    # before an alias day the player still uses the older user id
    uid: str | None = None
    if identified and not (second and day < (p.second_device_day or 0)):
        alias_days = [p.identify_day + 4 * (k + 1) for k in range(len(p.user_ids) - 1)]  # type: ignore[operator]
        uid = p.user_ids[sum(1 for d in alias_days if day >= d)]
    platform = "web" if second else p.platform
    t = start
    b.add(
        p,
        _ts(day, t),
        "track",
        anon=anon,
        user=uid,
        event="Session Started",
        properties={"session_number": rng.randint(1, 50)},
        platform=platform,
    )
    for _ in range(rng.randint(1, 6)):
        t += rng.randint(30, 20 * 60)
        level = rng.randint(1, 30)
        roll = rng.random()
        if roll < 0.3:
            ev, props = "Level Started", {"level": level}
        elif roll < 0.55:
            ev, props = (
                "Level Completed",
                {
                    "level": level,
                    "score": rng.randint(0, 999),
                    "duration_seconds": rng.random() * 300,
                },
            )
        elif roll < 0.7:
            ev, props = "Level Failed", {"level": level, "cause": "timeout"}
        elif roll < 0.85:
            props = {
                "item": rng.choice(ITEMS),
                "price": rng.choice([0.99, 1.99, 4.99, 10.0]),
                "currency": rng.choice(CURRENCIES),
            }
            if rng.random() < 0.5:
                props["quantity"] = rng.randint(1, 3)
            ev = "Item Purchased"
        elif roll < 0.93:
            g = rng.randint(1, 4)
            ev, props = "Guild Joined", {"guild_id": f"g{g}", "guild_name": f"Guild {g}"}
        else:
            b.add(p, _ts(day, t), "screen", anon=anon, user=uid, name="Shop", platform=platform)
            continue
        b.add(
            p,
            _ts(day, t),
            "track",
            anon=anon,
            user=uid,
            event=ev,
            properties=props,
            platform=platform,
        )


def _generate(seed: int) -> list[dict[str, Any]]:
    b = _Builder(seed)
    rng = b.rng
    players = _players(rng)
    for p in players:
        for day in range(p.first_day, DAYS):
            if p.identify_day is not None:
                for k in range(len(p.user_ids) - 1):
                    if day == p.identify_day + 4 * (k + 1):
                        b.add(
                            p,
                            _ts(day, 6 * 3600),
                            "alias",
                            anon=None,
                            user=p.user_ids[k + 1],
                            previous_id=p.user_ids[k],
                        )
            if day > p.first_day and rng.random() > 0.45:
                continue
            devices = [0]
            if p.second_device_day is not None and day >= p.second_device_day - 1:
                devices.append(1)
            for device in devices:
                start = rng.randint(8 * 3600, 20 * 3600)
                _session(b, p, day, start, device)
                if rng.random() < 0.4:  # a second session after a long pause
                    _session(b, p, day, start + 3 * 3600 + rng.randint(0, 1800), device)
                if rng.random() < 0.1 and day + 1 < DAYS:  # crosses midnight
                    _session(b, p, day, 86400 - 300, device)
            if day == p.identify_day:
                t = _ts(day, 20 * 3600 + 59 * 60)
                b.add(
                    p,
                    t,
                    "identify",
                    anon=p.anon_ids[0],
                    user=p.user_ids[0],
                    traits={
                        "email": f"{p.user_ids[0]}@example.com",
                        "name": p.user_ids[0],
                        "platform": p.platform,
                    },
                )
                if day == p.first_day:
                    b.add(
                        p,
                        t,
                        "track",
                        anon=p.anon_ids[0],
                        user=p.user_ids[0],
                        event="Signed Up",
                        properties={"method": "email"},
                    )
            if p.second_device_day is not None and day == p.second_device_day:
                b.add(
                    p,
                    _ts(day, 21 * 3600),
                    "identify",
                    anon=p.anon_ids[1],
                    user=p.user_ids[0],
                    traits={"name": f"{p.user_ids[0]} (tablet)"},
                )
            if rng.random() < 0.05:
                b.add(p, _ts(day, 7 * 3600), "page", anon=p.anon_ids[0], user=None, name="Home")
    rows = [r for r in b.rows if r["timestamp"].date() < START + dt.timedelta(days=DAYS)]
    # duplicates: a retry arrives later (sometimes a tie broken by the bus partition), and
    # a few copies carry a timestamp a day off (a client resending after a clock change)
    dups = []
    for r in rng.sample(rows, len(rows) // 25):
        copy = dict(r)
        roll = rng.random()
        if roll < 0.2:
            copy["bus_partition"] = r["bus_partition"] + 1
        else:
            copy["received_at"] = r["received_at"] + dt.timedelta(seconds=rng.randint(1, 90000))
        if roll > 0.9:
            copy["timestamp"] = r["timestamp"] + dt.timedelta(days=1)
        dups.append(copy)
    rows += dups
    # a second identify later the same day with other traits, for players on one device:
    # dim_users' traits are the latest identify's, by event time (then messageId), also
    # within a day. Drawn from a random generator of their own, after the duplicates, so
    # that the rest of the dataset is what it was without them; with the userId alone
    # (the node of the first one), so that it links no ids that were not linked before.
    main_rng, b.rng = b.rng, random.Random(seed + 1)
    first_extra = len(b.rows)
    for p in players:
        if p.identify_day is not None and p.second_device_day is None and p.identify_day < DAYS:
            b.add(
                p,
                _ts(p.identify_day, 21 * 3600 + 30 * 60),
                "identify",
                anon=None,
                user=p.user_ids[0],
                traits={"name": f"{p.user_ids[0]} (renamed)"},
            )
    b.rng = main_rng
    received_days = {r["received_at"].date() for r in rows}
    # on the days that already have a commit: the scenario's commits stay as they were
    rows += [r for r in b.rows[first_extra:] if r["received_at"].date() in received_days]
    rows.sort(key=lambda r: (r["received_at"], r["bus_partition"]))
    offsets: dict[int, int] = {}
    for r in rows:
        r["bus_offset"] = offsets.get(r["bus_partition"], 0)
        offsets[r["bus_partition"]] = r["bus_offset"] + 1
    return rows


@dataclass
class GameLake:
    """The generated lake and helpers to load it into a warehouse."""

    lake: Lake
    rows: list[dict[str, Any]]
    commit_ids: list[str]

    @property
    def events_glob(self) -> str:
        return self.lake.local_path(EVENTS_DIR, "*", "*.parquet")

    def commit_days(self, commit_ids: list[str]) -> list[dt.date]:
        days: set[dt.date] = set()
        for cid in commit_ids:
            for f in self.lake.read_commit("events", cid).files:
                days.add(dt.date.fromisoformat(f.partition["event_date"]))
        return sorted(days)

    def commit_offsets(self, commit_ids: list[str]) -> list[tuple[int, int, int]]:
        """(bus_partition, first, last offset) of the rows of ``commit_ids``, per partition
        (what the raw load tells the models about a lander's commits)."""
        days = {
            dt.date.fromisoformat(self.lake.read_commit("events", c).meta["received_day"])
            for c in commit_ids
        }
        spans: dict[int, list[int]] = {}
        for r in self.rows:
            if r["received_at"].date() in days:
                spans.setdefault(r["bus_partition"], []).append(r["bus_offset"])
        return [(p, min(o), max(o)) for p, o in sorted(spans.items())]

    def load_raw(self, db_path: Path, commit_ids: list[str] | None = None) -> None:
        """Replace raw.events in ``db_path`` with the rows of ``commit_ids`` (all by default)."""
        ids = self.commit_ids if commit_ids is None else commit_ids
        files = [
            self.lake.path(f.path) for c in ids for f in self.lake.read_commit("events", c).files
        ]
        con = duckdb.connect(str(db_path))
        try:
            con.execute("create schema if not exists raw")
            con.execute("drop table if exists raw.events")
            cols = ", ".join(f'"{n}"' for n in EVENT_SCHEMA.names)
            file_list = ", ".join(f"'{f}'" for f in files)
            con.execute(
                f"create table raw.events as select {cols}, cast(event_date as date) as event_date "
                f"from read_parquet([{file_list}], hive_partitioning = true)"
            )
        finally:
            con.close()


def write_game_lake(root: Path, seed: int = 7) -> GameLake:
    """Generate the dataset and commit it to a lake at ``root``, one commit per received day."""
    rows = _generate(seed)
    lake = open_lake(str(root))
    by_received: dict[dt.date, list[dict[str, Any]]] = {}
    for r in rows:
        by_received.setdefault(r["received_at"].date(), []).append(r)
    commit_ids = []
    for n, (rday, batch) in enumerate(sorted(by_received.items())):
        files = []
        by_day: dict[dt.date, list[dict[str, Any]]] = {}
        for r in batch:
            by_day.setdefault(r["timestamp"].date(), []).append(r)
        for day, day_rows in sorted(by_day.items()):
            table = pa.Table.from_pylist(day_rows, schema=EVENT_SCHEMA)
            files.append(
                PendingFile(
                    f"{EVENTS_DIR}/event_date={day.isoformat()}/recv-{rday.isoformat()}.parquet",
                    table,
                    {"event_date": day.isoformat()},
                )
            )
        cid = f"events-p0000-{n:020d}"
        lake.commit("events", cid, files, {"received_day": rday.isoformat()})
        commit_ids.append(cid)
    return GameLake(lake, rows, commit_ids)


@pytest.fixture(scope="session")
def game_lake(tmp_path_factory: pytest.TempPathFactory) -> GameLake:
    return write_game_lake(tmp_path_factory.mktemp("lake"))


def model_settings(project: Path, **models: Any) -> Settings:
    """Settings of a throwaway project folder, with the default tracking plan copied in."""
    plan = Path(eventlake.__file__).parent / "templates" / "tracking-plan.yaml"
    (project / "tracking-plan.yaml").write_text(plan.read_text(encoding="utf-8"))
    return Settings(base_dir=project, models=ModelsConfig(**models))


@pytest.fixture(scope="session")
def settings_factory() -> Callable[..., Settings]:
    return model_settings


@pytest.fixture(scope="session")
def truth() -> Any:
    """The independent pandas computations (tests/integration/models/truth.py)."""
    import importlib.util
    import sys

    path = Path(__file__).with_name("truth.py")
    spec = importlib.util.spec_from_file_location("eventlake_models_truth", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
