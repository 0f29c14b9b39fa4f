"""Small deterministic lakes for the warehouse and pipeline tests.

Written through ``eventlake.lake.Lake.commit`` with ``EVENT_SCHEMA`` / ``QUARANTINE_SCHEMA``,
exactly as the lander commits them (stream ``events``, one file per day per commit). Loaded by
path from the conftests (``tests/`` is not a package).
"""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa

from eventlake.lake import EVENT_SCHEMA, QUARANTINE_SCHEMA, Lake, PendingFile

UTC = dt.UTC


def _ts(day: dt.date, seconds: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC) + dt.timedelta(seconds=seconds)


def game_events(
    day: dt.date,
    users: int,
    *,
    tag: str = "",
    received: dt.date | None = None,
    purchase_price: float = 4.99,
    first_user: int = 0,
) -> list[dict[str, object]]:
    """A day of a small game: each user identifies, plays a session and some buy an item.

    ``tag`` makes message ids unique across batches; ``received`` (default ``day``) is the
    arrival day, later than ``day`` for late events; users are numbered from ``first_user``.
    """
    received = received or day
    rows: list[dict[str, object]] = []
    for u in range(first_user, first_user + users):
        user, anon = f"user-{u}", f"anon-{u}"
        context = json.dumps(
            {"os": {"name": "ios" if u % 2 else "android"}, "location": {"country": "FR"}}
        )
        base = 3600 + u * 60
        steps: list[tuple[str, str | None, dict[str, object]]] = [
            ("identify", None, {}),
            ("track", "Session Started", {}),
            ("track", "Level Started", {"level": 1}),
            ("track", "Level Completed", {"level": 1}),
        ]
        if u % 3 == 0:
            steps.append(
                (
                    "track",
                    "Item Purchased",
                    {"item": "sword", "price": purchase_price, "currency": "USD", "quantity": 1},
                )
            )
        for i, (kind, event, props) in enumerate(steps):
            ts = _ts(day, base + i * 30)
            rows.append(
                {
                    "message_id": f"{tag}{day.isoformat()}-{u}-{i}",
                    "type": kind,
                    "event": event,
                    "name": None,
                    "user_id": user,
                    "anonymous_id": anon,
                    "group_id": None,
                    "previous_id": None,
                    "timestamp": ts,
                    "original_timestamp": ts,
                    "sent_at": ts,
                    "received_at": _ts(received, base + i * 30 + 1),
                    "properties": json.dumps(props) if kind == "track" else None,
                    "traits": json.dumps({"email": f"{user}@example.com"})
                    if kind == "identify"
                    else None,
                    "context": context,
                    "integrations": None,
                    "source": "test",
                    "host": "example.net",
                    "user_agent": "pytest",
                    "ip": "127.0.0.1",
                    "bus_partition": 0,
                    "bus_offset": None,
                }
            )
    return rows


def quarantine_rows(day: dt.date, n: int, *, tag: str = "") -> list[dict[str, object]]:
    """``n`` rejected events received on ``day``."""
    return [
        {
            "message_id": f"{tag}q-{day.isoformat()}-{i}",
            "type": "track",
            "event": "Unplanned",
            "user_id": None,
            "anonymous_id": f"anon-q{i}",
            "received_at": _ts(day, 100 + i),
            "source": "test",
            "reason_code": "unplanned_event",
            "reason": "event 'Unplanned' is not in the tracking plan",
            "raw": "{}",
            "bus_partition": 0,
            "bus_offset": None,
        }
        for i in range(n)
    ]


class LakeWriter:
    """Commits batches the way the lander does, with increasing bus offsets."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.offset = 0

    def commit(
        self,
        events: list[dict[str, object]],
        quarantine: list[dict[str, object]] | None = None,
    ) -> str:
        """Commit ``events`` (split by event day) and ``quarantine`` as one lake commit."""
        first = self.offset
        commit_id = f"events-p0000-{first:020d}"
        files: list[PendingFile] = []
        by_day: dict[dt.date, list[dict[str, object]]] = {}
        for row in events:
            row = dict(row, bus_offset=self.offset)
            self.offset += 1
            by_day.setdefault(row["timestamp"].date(), []).append(row)  # type: ignore[union-attr]
        for day, rows in sorted(by_day.items()):
            files.append(
                PendingFile(
                    f"events/event_date={day.isoformat()}/{commit_id}.parquet",
                    pa.Table.from_pylist(rows, schema=EVENT_SCHEMA),
                    {"event_date": day.isoformat()},
                )
            )
        q_by_day: dict[dt.date, list[dict[str, object]]] = {}
        for row in quarantine or []:
            row = dict(row, bus_offset=self.offset)
            self.offset += 1
            q_by_day.setdefault(row["received_at"].date(), []).append(row)  # type: ignore[union-attr]
        for day, rows in sorted(q_by_day.items()):
            files.append(
                PendingFile(
                    f"quarantine/received_date={day.isoformat()}/{commit_id}.parquet",
                    pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA),
                    {"received_date": day.isoformat()},
                )
            )
        # as the lander's commit records say it: which bus records the commit covers
        meta = {
            "topic": "events",
            "partition": 0,
            "first_offset": first,
            "last_offset": self.offset - 1,
        }
        self.lake.commit("events", commit_id, files, meta)
        return commit_id


def bus_value(row: dict[str, object]) -> bytes:
    """``row`` in the bus record format: lake column names, ISO-8601 UTC timestamps with Z."""
    out: dict[str, object] = {}
    for key, value in row.items():
        if key in ("bus_partition", "bus_offset"):
            continue
        if isinstance(value, dt.datetime):
            value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out[key] = value
    return json.dumps(out).encode()
