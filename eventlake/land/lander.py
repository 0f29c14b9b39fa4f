"""The lander: bus -> Parquet lake in micro-batches, exactly once.

For each micro-batch (closed by ``land.max_records``, ``max_bytes`` or ``max_age_seconds``)
and each (topic, partition) in it, the lander writes one lake commit::

    Lake.commit(stream="events",
                commit_id=f"{topic}-p{partition:04d}-{first_offset:020d}",
                files=[one Parquet file per event_date (events) / received_date (quarantine)],
                meta={"topic", "partition", "first_offset", "last_offset", "events"})

and only then commits the bus group's offsets. A record is JSON (one event) or Arrow (many
events, ``bus/records.py``); ``bus_offset`` identifies the *record* a row came from, so every
row of an Arrow record carries that record's offset, and rows keep the records' order
(``received_at, bus_partition, bus_offset`` plus file order is first-arrival order).
``meta.events`` counts the rows read from the commit's records.

The lake, not the bus, is the truth about what has landed: on start (and on every Kafka
assignment) it runs ``Lake.recover()`` and starts each partition at (last offset in the
lake's commit records) + 1. So a crash before the commit record re-reads the batch (nothing
was visible), and a crash after it skips the batch (it is in the lake) whatever the bus
group says: no row is lost or duplicated.

A one-shot run (``follow=False``) lands everything that was on the bus when it started, on
every backend: it first reads the end offset of every partition (``Consumer.watermarks``,
Kafka's high watermarks) and lands until the lake holds each partition up to that mark,
waiting for the group to assign partitions as long as it takes (a Kafka group join takes
seconds), then stops; records appended meanwhile may ride along in its last batch. A
partition another member of the group holds counts as done once the lake shows that member
landed it. When no partition gets closer to its mark for ``land.drain_timeout_seconds``
(broker unreachable, partitions held by a member that lands nothing) it fails with a
``LandError`` naming them, never "ok" with events left behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eventlake.bus import EVENTS, QUARANTINE, Bus, Consumer, TopicPartition, open_bus
from eventlake.config import LandConfig, Settings
from eventlake.errors import CommitConflictError, LakeError, LandError
from eventlake.lake import QUARANTINE_DIR, Lake, PendingFile, open_lake
from eventlake.land.convert import Converted, Run, convert_runs, split_by_day
from eventlake.land.expand import warm_up
from eventlake.land.flush import CHECK_SECONDS, FlushRequests
from eventlake.land.offsets import LakeOffsets

__all__ = ["BatchSummary", "LandResult", "Lander", "LANDER_STREAM", "commit_id_for"]

#: The lake stream the lander commits to (both topics; commit ids say which).
LANDER_STREAM = "events"


def commit_id_for(tp: TopicPartition, first_offset: int) -> str:
    """The deterministic commit id of a batch (sorts by first offset within a partition)."""
    return f"{tp.topic}-p{tp.partition:04d}-{first_offset:020d}"


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """What one micro-batch landed."""

    events: int
    quarantined: int
    files: int
    days: tuple[str, ...]
    seconds: float

    def line(self) -> str:
        rate = (self.events + self.quarantined) / self.seconds if self.seconds else 0.0
        days = ",".join(self.days) or "-"
        return (
            f"landed {self.events} events, {self.quarantined} quarantined, "
            f"{self.files} files, days {days} ({rate:,.0f} rec/s)"
        )


@dataclass(slots=True)
class LandResult:
    """Totals of one ``Lander.run``; ``offsets`` = next offset per ``topic/partition``."""

    events: int = 0
    quarantined: int = 0
    files: int = 0
    batches: int = 0
    commits: int = 0
    days: set[str] = field(default_factory=set)
    offsets: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "quarantined": self.quarantined,
            "files": self.files,
            "batches": self.batches,
            "commits": self.commits,
            "days": sorted(self.days),
            "offsets": dict(sorted(self.offsets.items())),
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class _Skip:
    """A batch not landed: already in the lake (seek there) or a lost race (None: re-read)."""

    seek_to: int | None


_Outcome = tuple[int, int, int] | _Skip

#: Test hook: called with a stage ("before_commit", "lake_committed") around each commit.
FailureHook = Callable[[str, TopicPartition], None]

#: How long a one-shot poll waits for its batch's first records.
_DRAIN_POLL_SECONDS = 0.2


@dataclass(slots=True)
class _Drain:
    """A one-shot run's goal: each partition's end offset when the run started.

    A partition is done when the lake holds it up to its mark (the lake, not what was
    polled: a batch that lost a commit race is read again).
    """

    marks: dict[TopicPartition, int]
    progress: int = -1
    progressed_at: float = 0.0


class Lander:
    """Lands the bus into the lake; one per consumer group member. Not thread-safe.

    Takes the ``[land]`` settings, the bus and the lake; :meth:`from_settings` builds all
    three from a whole configuration.
    """

    def __init__(
        self,
        cfg: LandConfig,
        bus: Bus,
        lake: Lake,
        *,
        topics: Iterable[str] = (EVENTS, QUARANTINE),
        hook: FailureHook | None = None,
        flush: FlushRequests | None = None,
    ) -> None:
        self.cfg = cfg
        self.flush = flush
        self.bus = bus
        self.lake = lake
        self.topics = tuple(topics)
        self.hook = hook
        self._offsets = LakeOffsets(self.lake, LANDER_STREAM)
        # Two partitions convert at once: the request records' scan runs without the GIL.
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="land-convert")
        warm_up()
        self._writers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="land-commit")
        self._recovered_at = 0.0
        self._recover()
        self.consumer: Consumer = bus.consumer(
            cfg.consumer_group, self.topics, start_offsets=self._start_offset
        )
        for tp in self.consumer.assignment():
            self.consumer.seek(tp, self._start_offset(tp))

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        lake: Lake | None = None,
        topics: Iterable[str] = (EVENTS, QUARANTINE),
        hook: FailureHook | None = None,
        flush: FlushRequests | None = None,
    ) -> Lander:
        """The lander of a configuration: its ``[land]``, ``[bus]`` and ``[lake]``;
        ``flush``: the requests of model runs to land the open batch now (``land/flush.py``)."""
        return cls(
            settings.land,
            open_bus(settings.bus, settings.base_dir),
            lake or open_lake(settings.lake_uri(), settings.lake.storage_options),
            topics=topics,
            hook=hook,
            flush=flush,
        )

    # -- exactly-once bookkeeping --------------------------------------------------------
    def _recover(self) -> None:
        try:
            self.lake.recover()
        except LakeError as exc:
            raise LandError(f"cannot recover the lake before landing: {exc}") from exc
        self._offsets.refresh()
        self._recovered_at = time.monotonic()

    def _start_offset(self, tp: TopicPartition) -> int:
        """First offset not yet in the lake; asked on every (re)assignment."""
        if time.monotonic() - self._recovered_at > 1.0:
            self._recover()
        return self._offsets.next_offset(tp)

    # -- the loop ------------------------------------------------------------------------
    def run(
        self,
        *,
        follow: bool = False,
        should_stop: Callable[[], bool] = lambda: False,
        on_batch: Callable[[BatchSummary], None] | None = None,
        max_batches: int | None = None,
    ) -> LandResult:
        """Land batches: with ``follow`` until ``should_stop``, then one last batch of what
        this member's partitions hold at that moment (a service stops its intake first, so
        that batch holds what the intake acknowledged last); without, everything that was
        on the bus when the run started (see the module doc), then return."""
        result = LandResult()
        started = time.monotonic()
        drain = None if follow else self._start_drain()
        flush = self.flush if follow else None
        if flush is not None:
            flush.reset()
        while not should_stop():
            if drain is not None and not self._short_of(drain):
                break
            runs, drained = self._collect(follow, should_stop, drain)
            if runs:
                summary = self.land_runs(runs, result)
                if on_batch is not None:
                    on_batch(summary)
            if flush is not None:
                flush.landed(drained=drained)
            if runs:
                if max_batches is not None and result.batches >= max_batches:
                    break
            elif drain is not None:
                self._wait_for_others(drain)
        else:
            if follow and (max_batches is None or result.batches < max_batches):
                runs, _ = self._collect(False, lambda: False, None)
                if runs:
                    summary = self.land_runs(runs, result)
                    if on_batch is not None:
                        on_batch(summary)
                if flush is not None:
                    flush.landed(drained=True)  # the bus held nothing more
        result.seconds = time.monotonic() - started
        return result

    # -- one-shot runs -------------------------------------------------------------------
    def _start_drain(self) -> _Drain:
        """The end offsets to land up to: every partition holding records not in the lake."""
        marks = {
            tp: held.end
            for tp, held in self.consumer.watermarks().items()
            if tp.topic in self.topics and held.end > max(held.first, self._offsets.next_offset(tp))
        }
        return _Drain(marks, progressed_at=time.monotonic())

    def _short_of(
        self, drain: _Drain, polled: dict[TopicPartition, int] | None = None
    ) -> dict[TopicPartition, int]:
        """Records each partition still lacks in the lake to reach its mark (only those
        that lack some); with ``polled`` (next offset per partition of a batch being
        collected), as if that batch had landed."""
        short = {}
        for tp, mark in drain.marks.items():
            at = self._offsets.next_offset(tp)
            if polled is not None:
                at = max(at, polled.get(tp, 0))
            if at < mark:
                short[tp] = mark - at
        return short

    def _wait_for_others(self, drain: _Drain) -> None:
        """Nothing came: re-read the lake (another member may land some partitions) and
        fail once no partition got closer to its mark for ``drain_timeout_seconds``."""
        if time.monotonic() - self._recovered_at > 1.0:
            self._recover()
        short = self._short_of(drain)
        left = sum(short.values())
        now = time.monotonic()
        if left != drain.progress:
            drain.progress, drain.progressed_at = left, now
        elif short and now - drain.progressed_at > self.cfg.drain_timeout_seconds:
            parts = ", ".join(
                f"{tp.topic}/{tp.partition} ({n} records)"
                for tp, n in sorted(short.items(), key=lambda kv: (kv[0].topic, kv[0].partition))
            )
            raise LandError(
                f"one-shot land on {self.bus.describe()} made no progress for "
                f"{self.cfg.drain_timeout_seconds:g} s with records still to land: {parts}. "
                "Check that the bus is reachable and whether another member of consumer "
                f"group {self.cfg.consumer_group!r} holds these partitions without landing "
                "them (land.drain_timeout_seconds sets the wait)"
            )

    # -- batches -------------------------------------------------------------------------
    def _collect(
        self, follow: bool, should_stop: Callable[[], bool], drain: _Drain | None
    ) -> tuple[list[Run], bool]:
        """One micro-batch: up to max_records/max_bytes, or what came within max_age
        (``follow``), or what is there now on the way to the drain's marks (one-shot).

        Following with :attr:`flush`, a model run's request closes the batch early: what
        the bus holds then is taken (polls that do not wait) and the batch ends on the
        first empty poll. Returns the batch, and whether it ended so (the bus drained
        after a request: the request can be answered once the batch landed)."""
        runs: list[Run] = []
        n = size = 0
        first_at: float | None = None
        polled: dict[TopicPartition, int] = {}
        flush = self.flush if follow else None
        flushing = False
        while n < self.cfg.max_records and size < self.cfg.max_bytes:
            if flush is not None and not flushing:
                flushing = flush.requested()
            if not follow:
                # wait for the first records (a group join takes a while), then take only
                # what has arrived: a one-shot batch closes when the bus has nothing ready
                timeout = 0.0 if runs else _DRAIN_POLL_SECONDS
            elif flushing:
                timeout = 0.0
            elif first_at is None:
                timeout = 0.2
            else:
                timeout = max(0.0, first_at + self.cfg.max_age_seconds - time.monotonic())
            if flush is not None:
                timeout = min(timeout, CHECK_SECONDS)  # look for a request meanwhile
            got = self._poll(self.cfg.max_records - n, self.cfg.max_bytes - size, timeout)
            if got:
                if first_at is None:
                    first_at = time.monotonic()
                    if flush is not None:
                        flush.opened()
                runs.extend(got)
                n += sum(r.count for r in got)
                size += sum(len(r.values) for r in got)
                if drain is not None:
                    for r in got:
                        polled[r.tp] = max(polled.get(r.tp, 0), int(r.offsets[-1]) + 1)
                    if not self._short_of(drain, polled):
                        break  # this batch reaches every mark: land it and stop
                continue
            if flushing:
                return runs, True  # the bus holds nothing more: land, then answer
            if flush is not None and not should_stop():
                age = self.cfg.max_age_seconds
                if first_at is None or time.monotonic() < first_at + age:
                    continue  # the short poll came back empty: no request, batch not due
                break
            if first_at is None and follow and not should_stop():
                continue
            break
        return runs, False

    def _poll(self, max_records: int, max_bytes: int, timeout: float) -> list[Run]:
        return [
            Run(c.tp, np.arange(c.first_offset, c.first_offset + c.count), c.values, c.value_lens)
            for c in self.consumer.poll_chunks(max_records, timeout, max_bytes)
        ]

    def land_runs(self, runs: list[Run], result: LandResult) -> BatchSummary:
        """Land one micro-batch: a lake commit per (topic, partition), then the bus commit."""
        t0 = time.monotonic()
        events = quarantined = files = 0
        days: set[str] = set()
        next_offsets: dict[TopicPartition, int] = {}
        groups: list[list[Run]] = []
        for topic in self.topics:
            by_tp: dict[TopicPartition, list[Run]] = {}
            for r in runs:
                if r.tp.topic == topic:
                    by_tp.setdefault(r.tp, []).append(r)
            groups.extend(by_tp.values())
        # Partition i+1 is parsed while partition i is written: conversion in one worker,
        # lake commits in others (pyarrow releases the GIL; fsyncs issued together share a
        # journal commit). Commits of distinct partitions are independent; the bus commit
        # below waits for all of them.
        converted = [self._pool.submit(convert_runs, g) for g in groups]
        commits: list[tuple[Converted, Future[_Outcome]]] = []
        for future in converted:
            for conv in future.result():
                commits.append((conv, self._writers.submit(self._commit, conv, days)))
        errors: list[BaseException] = []
        skipped: dict[TopicPartition, int | None] = {}
        for conv, outcome in commits:
            try:
                landed = outcome.result()
            except BaseException as exc:  # re-raised below, after every commit has ended
                errors.append(exc)
                continue
            if isinstance(landed, _Skip):
                skipped[conv.tp] = landed.seek_to
                continue
            e, q, f = landed
            events, quarantined, files = events + e, quarantined + q, files + f
            next_offsets[conv.tp] = conv.last_offset + 1
        if errors:
            raise errors[0]
        if any(off is None for off in skipped.values()):
            self._recover()  # lost a race for a commit id: re-read the lake
        for tp, off in skipped.items():
            self.consumer.seek(tp, self._offsets.next_offset(tp) if off is None else off)
        if next_offsets:
            self.consumer.commit(next_offsets)
        result.events += events
        result.quarantined += quarantined
        result.files += files
        result.batches += 1
        result.commits += len(next_offsets)
        result.days |= days
        for tp, off in next_offsets.items():
            result.offsets[f"{tp.topic}/{tp.partition}"] = off
        return BatchSummary(events, quarantined, files, tuple(sorted(days)), time.monotonic() - t0)

    def _commit(self, conv: Converted, days: set[str]) -> _Outcome:
        """Write one partition's lake commit (runs in a worker thread; no consumer calls)."""
        expected = self._offsets.next_offset(conv.tp)
        if conv.first_offset < expected:
            # Already in the lake (a Kafka rebalance handed us records the previous owner
            # landed): re-read from the lake's position instead of duplicating them.
            return _Skip(expected)
        # first_offset > expected only when the bus no longer holds the offsets in between
        # (retention); nothing can bring them back, so land what is there.
        pending: list[PendingFile] = []
        name = f"{conv.tp.topic}-p{conv.tp.partition:04d}-{conv.first_offset:020d}.parquet"
        if conv.tp.topic == QUARANTINE:
            quarantine = [conv.table, conv.bad] if conv.bad.num_rows else [conv.table]
            events_table = None
        else:
            quarantine = [conv.bad] if conv.bad.num_rows else []
            events_table = conv.table
        if events_table is not None:
            for day, part in split_by_day(events_table, "timestamp").items():
                pending.append(
                    PendingFile(f"events/event_date={day}/{name}", part, {"event_date": day})
                )
                days.add(day)
        for table in quarantine:
            for day, part in split_by_day(table, "received_at").items():
                tag = "unreadable-" if table is conv.bad else ""
                pending.append(
                    PendingFile(
                        f"{QUARANTINE_DIR}/received_date={day}/{tag}{name}",
                        part,
                        {"received_date": day},
                    )
                )
        meta = {
            "topic": conv.tp.topic,
            "partition": conv.tp.partition,
            "first_offset": conv.first_offset,
            "last_offset": conv.last_offset,
            # events read from those records (an Arrow record holds many; status counts them)
            "events": conv.table.num_rows + conv.bad.num_rows,
        }
        if self.hook is not None:
            self.hook("before_commit", conv.tp)
        try:
            self.lake.commit(
                LANDER_STREAM,
                commit_id_for(conv.tp, conv.first_offset),
                pending,
                meta,
                compression=self.cfg.compression,
                row_group_size=self.cfg.row_group_size,
            )
        except CommitConflictError:
            return _Skip(None)
        except LakeError as exc:
            raise LandError(
                f"cannot land {conv.tp.topic}/{conv.tp.partition} offsets "
                f"{conv.first_offset}-{conv.last_offset}: {exc}"
            ) from exc
        self._offsets.landed(conv.tp, conv.last_offset)
        if self.hook is not None:
            self.hook("lake_committed", conv.tp)
        n_events = conv.table.num_rows if conv.tp.topic != QUARANTINE else 0
        n_quarantined = conv.bad.num_rows + (conv.table.num_rows if events_table is None else 0)
        return n_events, n_quarantined, len(pending)

    def close(self) -> None:
        """Stop the conversion worker and leave the consumer group."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._writers.shutdown(wait=True, cancel_futures=True)
        self.consumer.close()
