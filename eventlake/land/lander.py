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
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eventlake.bus import EVENTS, QUARANTINE, Consumer, TopicPartition, open_consumer
from eventlake.config import Settings
from eventlake.errors import CommitConflictError, LakeError, LandError
from eventlake.lake import QUARANTINE_DIR, Lake, PendingFile, open_lake
from eventlake.land.convert import Converted, Run, convert_runs, split_by_day
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


class Lander:
    """Lands the bus into the lake; one per consumer group member. Not thread-safe."""

    def __init__(
        self,
        settings: Settings,
        *,
        lake: Lake | None = None,
        topics: Iterable[str] = (EVENTS, QUARANTINE),
        hook: FailureHook | None = None,
    ) -> None:
        self.settings = settings
        self.cfg = settings.land
        self.lake = lake or open_lake(settings.lake_uri(), settings.lake.storage_options)
        self.topics = tuple(topics)
        self.hook = hook
        self._offsets = LakeOffsets(self.lake, LANDER_STREAM)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="land-convert")
        self._writers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="land-commit")
        self._recovered_at = 0.0
        self._recover()
        self.consumer: Consumer = open_consumer(
            settings, self.cfg.consumer_group, self.topics, start_offsets=self._start_offset
        )
        for tp in self.consumer.assignment():
            self.consumer.seek(tp, self._start_offset(tp))

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
        """Land batches until the bus is drained (or, with ``follow``, until ``should_stop``)."""
        result = LandResult()
        started = time.monotonic()
        while not should_stop():
            runs = self._collect(follow, should_stop)
            if runs:
                summary = self.land_runs(runs, result)
                if on_batch is not None:
                    on_batch(summary)
                if max_batches is not None and result.batches >= max_batches:
                    break
            elif not follow:
                break
        result.seconds = time.monotonic() - started
        return result

    def _collect(self, follow: bool, should_stop: Callable[[], bool]) -> list[Run]:
        """One micro-batch: up to max_records/max_bytes, or what came within max_age."""
        runs: list[Run] = []
        n = size = 0
        first_at: float | None = None
        while n < self.cfg.max_records and size < self.cfg.max_bytes:
            if not follow:
                timeout = 0.0  # drain what is there now, then stop
            elif first_at is None:
                timeout = 0.2
            else:
                timeout = max(0.0, first_at + self.cfg.max_age_seconds - time.monotonic())
            got = self._poll(self.cfg.max_records - n, self.cfg.max_bytes - size, timeout)
            if got:
                if first_at is None:
                    first_at = time.monotonic()
                runs.extend(got)
                n += sum(r.count for r in got)
                size += sum(len(r.values) for r in got)
                continue
            if first_at is None and follow and not should_stop():
                continue
            break
        return runs

    def _poll(self, max_records: int, max_bytes: int, timeout: float) -> list[Run]:
        poll_chunks = getattr(self.consumer, "poll_chunks", None)
        if poll_chunks is not None:
            return [
                Run(
                    c.tp,
                    np.arange(c.first_offset, c.first_offset + c.count),
                    c.values,
                    c.value_lens,
                )
                for c in poll_chunks(max_records, timeout, max_bytes)
            ]
        records = self.consumer.poll(max_records, timeout)
        grouped: dict[TopicPartition, list[Any]] = {}
        for r in records:
            grouped.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
        runs = []
        for tp, recs in grouped.items():
            # Values keep their bytes (an Arrow record may hold newlines); the lengths let
            # the converter find each record and blank newlines inside JSON ones.
            values = b"".join(r.value + b"\n" for r in recs)
            offsets = np.fromiter((r.offset for r in recs), dtype=np.int64, count=len(recs))
            lens = np.fromiter((len(r.value) for r in recs), dtype=np.uint32, count=len(recs))
            runs.append(Run(tp, offsets, values, lens))
        return runs

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
