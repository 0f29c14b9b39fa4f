"""``eventlake status``: each stage's counts, their reconciliation, the last runs and the lag.

Counts come from where each stage keeps its durable output, never from a rescan:

- bus: the events received on the ``events`` and ``quarantine`` topics = the events in the
  records the lander's commit records cover (their ``meta.events``; the offset span for
  older commits) plus the events in the records still waiting on the bus. Offsets count
  records, and an Arrow record holds many events, so the bus itself counts the waiting
  events (``Bus.backlog``: it reads the records past the landed offsets, on the
  local log or on Kafka);
- lake: rows named by commit records, i.e. the raw layer's index of loaded files
  (``raw._lake_files``) plus the few commit records not loaded yet;
- raw: ``raw.events`` rows and its duplicate ``message_id`` count;
- models: rows of ``stg_events`` (one per ``message_id``).

And from the run history, the freshness of the newest builds that published new events:
the time from the collector's 200 for the oldest event each included for the first time to
its publish.

The warehouse figures come from the configured engine through the warehouse protocol
(``Warehouse.counts()``); this module holds no warehouse SQL.

So ``received = landed + quarantined + waiting on the bus`` and
``landed = modeled + duplicates + not yet loaded`` can be checked and shown plainly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from eventlake.config import Settings
from eventlake.errors import EventlakeError
from eventlake.pipeline.results import StatusReport
from eventlake.pipeline.state import PipelineState

if TYPE_CHECKING:
    from eventlake.bus import TopicPartition
    from eventlake.config import BusConfig
    from eventlake.lake import Lake

__all__ = ["FRESHNESS_RUNS", "collect_status"]

#: How many of the newest builds that published new events ``status`` shows the freshness of.
FRESHNESS_RUNS = 5


def _pending_events(
    cfg: BusConfig, base_dir: Path, landed: Mapping[TopicPartition, int]
) -> tuple[int | None, str | None]:
    """Events in the bus records past the ``landed`` offsets, as the bus itself counts them
    (``Bus.backlog``); None, with a note, when the bus cannot be read."""
    from eventlake.bus import EVENTS, QUARANTINE, open_bus

    try:
        bus = open_bus(cfg, base_dir)
        return sum(b.events for b in bus.backlog(landed, (EVENTS, QUARANTINE))), None
    except (EventlakeError, OSError) as exc:
        return None, f"bus not readable: {exc}"


def _landed_records(lake: Lake) -> tuple[dict[TopicPartition, int], int]:
    """(next offset per partition, events in the records landed so far)."""
    from eventlake.land import LANDER_STREAM, LakeOffsets
    from eventlake.land.offsets import parse_commit_id

    offsets = LakeOffsets(lake, LANDER_STREAM)
    offsets.refresh()
    events = 0
    for cid in lake.commit_ids(LANDER_STREAM):
        if parse_commit_id(cid) is None:
            continue
        meta = lake.read_commit(LANDER_STREAM, cid).meta
        if "events" in meta:
            events += int(meta["events"])
        else:  # written before Arrow records: one event per record
            events += int(meta["last_offset"]) - int(meta["first_offset"]) + 1
    return offsets.by_partition(), events


def collect_status(settings: Settings) -> StatusReport:
    """Gather every stage's counts (read-only everywhere)."""
    from eventlake.lake import open_lake
    from eventlake.warehouse import open_warehouse, pending_commits

    notes: list[str] = []
    warehouse = open_warehouse(settings)
    try:
        wh = warehouse.counts()
    finally:
        warehouse.close()
    lake = open_lake(settings.lake_uri(), settings.lake.storage_options, create=False)
    unloaded_events = unloaded_quarantine = 0
    loaded = {stream: set(ids) for stream, ids in wh.loaded_commits.items()}
    for stream, cid in pending_commits(lake, loaded):
        for f in lake.read_commit(stream, cid).files:
            top = f.path.split("/", 1)[0]
            if top == "events":
                unloaded_events += f.rows
            elif top == "quarantine":
                unloaded_quarantine += f.rows
    landed = wh.lake_rows.get("events", 0) + unloaded_events
    quarantined = wh.lake_rows.get("quarantine", 0) + unloaded_quarantine
    # Independent of the files' row counts: what the lander read from the bus records its
    # commits cover, plus what the records it has not landed yet hold.
    landed_offsets, landed_events = _landed_records(lake)
    pending, bus_note = _pending_events(settings.bus, settings.base_dir, landed_offsets)
    if bus_note:
        notes.append(bus_note)
    received = None if pending is None else landed_events + pending
    state = PipelineState.for_settings(settings)
    last_run = state.last_run()
    last_success = state.last_run(ok=True)
    fresh = []
    for i, run in enumerate(state.recent_runs()):
        seconds = run.freshness_seconds
        if run.ok and seconds is not None and run.published_at is not None:
            fresh.append((run.run_id, run.published_at, seconds))
        if len(fresh) >= FRESHNESS_RUNS or i >= 500:
            break
    newest = wh.newest_received_at
    lag = None
    if newest is not None:
        lag = (dt.datetime.now(dt.UTC) - newest).total_seconds()
    if wh.modeled is None:
        notes.append("no models built yet: run `eventlake run` or `eventlake build`")
    return StatusReport(
        received=received,
        landed=landed,
        quarantined=quarantined,
        pending_on_bus=pending,
        loaded=wh.raw_events,
        not_yet_loaded=unloaded_events,
        modeled=wh.modeled,
        duplicates=wh.raw_events - wh.distinct_events,
        last_run=last_run,
        last_success=last_success,
        newest_event_at=newest.isoformat() if newest is not None else None,
        lag_seconds=round(lag, 1) if lag is not None else None,
        notes=tuple(notes),
        recent_freshness=tuple(fresh),
    )
