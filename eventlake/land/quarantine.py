"""Quarantined events: list them, and replay them after the tracking plan is fixed.

Quarantined events live in ``<lake>/quarantine/received_date=.../`` (the lander writes them
from the bus topic ``quarantine``). ``replay`` runs each one's raw JSON through
:func:`eventlake.spec.prepare_events` with the *current* tracking plan and the original
request's enrichment kept in its row (``received_at``, ``source``, ``host``,
``user_agent``, ``ip``, the batch's ``sentAt`` and ``context``, and the call type a
single-event endpoint forced), so a replayed event lands as the collector would have landed
it: same host provider, same address, same clock-skew correction. Rows written before the
enrichment columns existed replay with what they have. It appends the ones that now pass to
the bus topic ``events`` (the lander then lands them as usual), and writes a ledger commit
(lake stream ``quarantine_replay``) naming the quarantine rows it replayed, so a second
replay skips them. Still-invalid events stay where they are.

Order and crash safety: the bus append is durable before the ledger is written. A crash
between the two makes the next replay append those events again *with the same
messageId* (replay pins each event's messageId to its quarantine row's), and the
warehouse's staging layer deduplicates by messageId. Rows the lander itself could not read
(reason ``unreadable_record``) hold a bus record, not a Segment event, and are never
replayed.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from eventlake.bus import EVENTS, open_producer
from eventlake.config import Settings
from eventlake.lake import QUARANTINE_DIR, QUARANTINE_SCHEMA, Lake, open_lake
from eventlake.land.convert import UNREADABLE

__all__ = [
    "REPLAY_STREAM",
    "ReplayResult",
    "read_quarantine",
    "replay_quarantine",
    "replayed_keys",
    "settings_lake",
]

#: Lake stream of replay ledger commits (no files; ``meta.replayed`` = [[partition, offset]]).
REPLAY_STREAM = "quarantine_replay"


def settings_lake(settings: Settings) -> Lake:
    """The lake the settings name."""
    return open_lake(settings.lake_uri(), settings.lake.storage_options)


def replayed_keys(lake: Lake) -> set[tuple[int, int]]:
    """(bus_partition, bus_offset) of every quarantine row a replay has re-submitted."""
    done: set[tuple[int, int]] = set()
    for record in lake.commits(REPLAY_STREAM):
        done.update((int(p), int(o)) for p, o in record.meta.get("replayed", []))
    return done


def read_quarantine(
    lake: Lake,
    *,
    reason: str | None = None,
    date: str | None = None,
) -> pa.Table:
    """Committed quarantine rows (optionally of one reason code / received date) plus a
    boolean ``replayed`` column, oldest first."""
    paths = [
        p
        for p in lake.committed_files(QUARANTINE_DIR + "/")
        if date is None or f"/received_date={date}/" in p
    ]
    tables = []
    for path in paths:
        with lake.fs.open_input_file(path) as src:
            tables.append(pq.read_table(src, schema=QUARANTINE_SCHEMA))
    table = pa.concat_tables(tables) if tables else QUARANTINE_SCHEMA.empty_table()
    if reason is not None:
        table = table.filter(pc.equal(table.column("reason_code"), reason))
    if table.num_rows:
        table = table.sort_by([("received_at", "ascending"), ("bus_offset", "ascending")])
    done = replayed_keys(lake)
    flags = [
        (p, o) in done if p is not None and o is not None else False
        for p, o in zip(
            table.column("bus_partition").to_pylist(),
            table.column("bus_offset").to_pylist(),
            strict=True,
        )
    ]
    return table.append_column("replayed", pa.array(flags, pa.bool_()))


@dataclass(slots=True)
class ReplayResult:
    """What a replay did: counts and the messageIds it re-submitted."""

    replayed: int = 0
    still_invalid: int = 0
    already_replayed: int = 0
    not_replayable: int = 0
    message_ids: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)  # still-invalid reason -> count

    def to_dict(self) -> dict[str, Any]:
        return {
            "replayed": self.replayed,
            "still_invalid": self.still_invalid,
            "already_replayed": self.already_replayed,
            "not_replayable": self.not_replayable,
            "still_invalid_reasons": dict(sorted(self.reasons.items())),
        }


#: The columns of a quarantine row that describe its request: rows replay in groups that
#: share them (one ``prepare_events`` call per original request, roughly).
_REQUEST_COLUMNS = (
    "received_at",
    "source",
    "host",
    "user_agent",
    "ip",
    "batch_sent_at",
    "batch_context",
    "type",
)


def _context(text: str | None) -> dict[str, Any] | None:
    """The batch context of a quarantine row (JSON text), or None."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _pinned(raw: str, message_id: str | None) -> bytes:
    """The raw event with its messageId pinned to the quarantine row's (stable on retry)."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return raw.encode()
    if isinstance(obj, dict) and message_id and not obj.get("messageId"):
        obj["messageId"] = message_id
        return json.dumps(obj, separators=(",", ":")).encode()
    return raw.encode()


def replay_quarantine(
    settings: Settings,
    *,
    reason: str | None = None,
    date: str | None = None,
    dry_run: bool = False,
) -> ReplayResult:
    """Re-validate quarantined events with the current tracking plan; append the valid ones.

    Raises:
        TrackingPlanError: the configured tracking plan is invalid.
        BusFullError: the bus refused the append (nothing is recorded; run again later).
    """
    from eventlake.spec import prepare_events
    from eventlake.tracking_plan import plan_from_settings

    lake = settings_lake(settings)
    table = read_quarantine(lake, reason=reason, date=date)
    plan = plan_from_settings(settings)
    result = ReplayResult()
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in table.to_pylist():
        if row["replayed"]:
            result.already_replayed += 1
        elif row["reason_code"] == UNREADABLE or row["bus_partition"] is None:
            result.not_replayable += 1
        else:
            groups.setdefault(tuple(row[c] for c in _REQUEST_COLUMNS), []).append(row)
    values: list[bytes] = []
    keys: list[bytes | None] = []
    replayed: list[tuple[int, int]] = []
    for request, rows in groups.items():
        meta = dict(zip(_REQUEST_COLUMNS, request, strict=True))
        batch = prepare_events(
            [_pinned(r["raw"], r["message_id"]) for r in rows],
            received_at=meta["received_at"],
            source=meta["source"],
            host=meta["host"],
            user_agent=meta["user_agent"],
            ip=meta["ip"],
            sent_at=meta["batch_sent_at"],
            batch_context=_context(meta["batch_context"]),
            # the call type of a single-event endpoint is the row's type; for a batch
            # event it is the event's own type anyway
            force_type=meta["type"],
            plan=plan,
        )
        bad = {q.index for q in batch.quarantined}
        for q in batch.quarantined:
            result.reasons[q.reason_code] = result.reasons.get(q.reason_code, 0) + 1
        result.still_invalid += len(bad)
        values.extend(batch.records)
        keys.extend(batch.record_keys)
        result.message_ids.extend(batch.message_ids)
        replayed.extend(
            (r["bus_partition"], r["bus_offset"]) for i, r in enumerate(rows) if i not in bad
        )
    result.replayed = len(values)
    if dry_run or not values:
        return result
    producer = open_producer(settings)
    try:
        for start in range(0, len(values), 10_000):
            producer.append(EVENTS, values[start : start + 10_000], keys[start : start + 10_000])
    finally:
        producer.close()
    _record_ledger(lake, replayed)
    return result


def _record_ledger(lake: Lake, replayed: Iterable[tuple[int, int]]) -> None:
    now = dt.datetime.now(dt.UTC)
    commit_id = f"replay-{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
    lake.commit(REPLAY_STREAM, commit_id, [], {"replayed": [list(k) for k in replayed]})
