"""int_user_days below the day: the user-days a run changes, merged with their previous rows.

One lake commit per run, as ``eventlake up`` does, each bringing only new messages of
known players (so every run after the first qualifies for the rows-level routes), each
exercising one case of the merge in int_user_day_changes:

- later events extending a user-day, with a purchase;
- a known player's first event of a new day (a user-day with no previous row);
- an event before the previous first one, on another platform (the first event's
  attributes change);
- events at exactly the previous first time, one with a messageId ordered before the
  previous first event's (its attributes win) and one after (they do not);
- a session crossing midnight made by a late event: the next day's session disappears
  into it (a user-day whose sessions change without new events that day).

After every run int_user_day_changes must have rows (the route ran); at the end every
table equals a full build of the same lake, and the cases' attributes are checked against
their definition (the first event of the day by time, then messageId).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import eventlake_tests_support as support
import pytest

from eventlake.config import Settings
from eventlake.lake import open_lake
from eventlake.pipeline import load_and_build

lakedata = support.lakedata()

pytestmark = [pytest.mark.integration]

D0, D1, D2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)
#: Run state of a build (what it changed), not a result: differs from a full build.
RUN_STATE = {
    "int_changed_days",
    "int_identity_changes",
    "int_session_changes",
    "int_user_day_changes",
}


def _settings(project: Path, lake: Path) -> Settings:
    settings: Settings = support.project_settings(project, lake)
    return settings


def _event(
    user: int,
    day: dt.date,
    seconds: int,
    message_id: str,
    event: str,
    *,
    platform: str,
    properties: dict[str, object] | None = None,
) -> dict[str, object]:
    """A track event of game_events' player ``user``, timed as game_events times them."""
    ts = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    track = lakedata.game_events(day, 1, first_user=user)[1]  # the player's first track
    return dict(
        track,
        message_id=message_id,
        event=event,
        timestamp=ts,
        original_timestamp=ts,
        sent_at=ts,
        received_at=ts + dt.timedelta(seconds=1),
        properties=json.dumps(properties or {}),
        context=json.dumps({"os": {"name": platform}, "location": {"country": "FR"}}),
    )


def _first_time(user: int) -> int:
    """Seconds into the day of player ``user``'s first event in game_events."""
    return 3600 + user * 60


def _commits() -> list[list[dict[str, object]]]:
    sword = {"item": "sword", "price": 2.5, "currency": "USD", "quantity": 1}
    return [
        # history: six players on two days (game_events: user u plays from 1:00 + u min)
        lakedata.game_events(D0, 6) + lakedata.game_events(D1, 6),
        # later events extend user 1's day 1, with a purchase
        [
            _event(1, D1, _first_time(1) + 600, "x-1-a", "Level Completed", platform="web"),
            _event(
                1,
                D1,
                _first_time(1) + 630,
                "x-1-b",
                "Item Purchased",
                platform="web",
                properties=sword,
            ),
        ],
        # a known player's first event of a new day
        [
            _event(2, D2, 7200, "x-2-a", "Session Started", platform="web"),
            _event(2, D2, 7230, "x-2-b", "Level Completed", platform="web"),
        ],
        # an event before user 3's first of day 1, on another platform
        [_event(3, D1, _first_time(3) - 600, "x-3-a", "Level Started", platform="web")],
        # ties with the previous first event: "0..." orders before game_events' ids
        # ("2026-..."), "z..." after
        [
            _event(4, D1, _first_time(4), "0-tie-4", "Level Started", platform="web"),
            _event(5, D1, _first_time(5), "z-tie-5", "Level Started", platform="web"),
        ],
        # user 0 opens a session on day 2 five minutes after midnight ...
        [_event(0, D2, 300, "x-0-a", "Session Started", platform="ios")],
        # ... which a late event ten minutes before midnight of day 1 then continues
        [_event(0, D1, 86400 - 600, "x-0-b", "Level Started", platform="ios")],
    ]


def _tables(db: Path) -> dict[str, list[str]]:
    """Every table's rows (as sorted reprs) but the run state."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = [
            f"{s}.{t}"
            for s, t in con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('staging', 'marts', 'metrics') order by 1, 2"
            ).fetchall()
            if t not in RUN_STATE
        ]
        return {
            name: sorted(repr(r) for r in con.execute(f"from {name}").fetchall()) for name in names
        }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("user-days")
    lake = root / "lake"
    writer = lakedata.LakeWriter(open_lake(str(lake)))
    settings = _settings(root / "by-commit", lake)
    changes: list[tuple[int, int]] = []  # per run after the first: deletes, inserts
    for n, events in enumerate(_commits()):
        writer.commit(events)
        load_and_build(settings)
        if n == 0:
            continue
        with duckdb.connect(str(settings.resolve(settings.warehouse.path)), read_only=True) as c:
            row = c.execute(
                "select count(*) filter (where change = 'delete'), "
                "count(*) filter (where change = 'insert') from staging.int_user_day_changes"
            ).fetchone()
        assert row is not None
        changes.append((int(row[0]), int(row[1])))
    full = _settings(root / "full", lake)
    load_and_build(full)
    return {
        "changes": changes,
        "by_commit": settings.resolve(settings.warehouse.path),
        "full": full.resolve(full.warehouse.path),
    }


def test_every_run_changed_user_days_below_the_day(built: dict[str, Any]) -> None:
    deletes_inserts = built["changes"]
    assert all(inserts > 0 for _, inserts in deletes_inserts), deletes_inserts
    # the new day's run wrote a user-day without a previous row
    assert deletes_inserts[1][1] > deletes_inserts[1][0], deletes_inserts


def test_runs_below_the_day_equal_a_full_build(built: dict[str, Any]) -> None:
    by_commit, full = _tables(built["by_commit"]), _tables(built["full"])
    assert sorted(by_commit) == sorted(full) and len(full) >= 24
    for name, rows in full.items():
        assert by_commit[name] == rows, name


def test_merged_user_days_follow_the_definition(built: dict[str, Any]) -> None:
    """Checked from the events, not from the models: the first event of a user's day (by
    time, then messageId) gives the attributes, and every event counts once."""
    with duckdb.connect(str(built["by_commit"]), read_only=True) as con:

        def day_of(message_id: str) -> tuple[Any, ...]:
            row = con.execute(
                "select u.platform, u.first_event_at, u.events, u.sessions, u.purchases "
                "from staging.int_user_days as u inner join marts.fct_events as e "
                "on e.user_key = u.user_key and e.event_date = u.activity_date "
                "where e.message_id = ?",
                [message_id],
            ).fetchone()
            assert row is not None, message_id
            return tuple(row)

        # user 1, day 1: game_events' four events + two; its purchase counted
        assert day_of("x-1-a")[2] == 6 and day_of("x-1-a")[4] == 1
        assert day_of("x-1-a")[0] == "ios"  # its first event is still game_events'
        # user 2's new day: its own first event
        assert day_of("x-2-a")[0] == "web" and day_of("x-2-a")[2] == 2
        # user 3: the earlier event is the first now
        assert day_of("x-3-a")[0] == "web"
        # ties: "0-tie-4" orders before user 4's first event, "z-tie-5" after user 5's
        assert day_of("0-tie-4")[0] == "web"
        assert day_of("z-tie-5")[0] == "ios"  # game_events: odd users on ios
        # user 0: day 1 has its morning session and the one from 23:50 that took the
        # 00:05 event of day 2, where no session starts any more
        assert day_of("x-0-b")[3] == 2
        assert day_of("x-0-a")[3] == 0
