"""The ``build`` child of ``eventlake up``: model runs, continuous or on a cron schedule.

One long-lived process, so dbt is imported and its project parsed once: a repeated build
in the same process costs about a second of dbt, a new process six to eight (DESIGN.md).

- **continuous** (``schedule.models = "continuous"``, the default): every
  ``schedule.models_poll_seconds`` the lake's commit listing (one directory listing per
  stream, skipped while the folder's mtime is unchanged on a local lake) is compared with
  the commits the warehouse has loaded; when new ones exist a run starts, at most one run
  start every ``schedule.models_min_interval`` seconds. Batch sources load their own raw
  tables, so for them the signal is the warehouse: when its published version changes
  (a stat of the DuckDB file; one small query on PostgreSQL), the source commits it holds
  are compared with those the models were last built from (the pipeline state), and new
  ones start a run too (which builds the models that read those sources). With the
  lander in the same ``eventlake up`` (``flush``, ``land/flush.py``), a batch the lander
  holds open starts a run as well, and every run asks the lander to land its open batch
  just before loading the lake (its ``load`` stage), so what the collector acknowledged
  before then is in the run, however long ``land.max_age_seconds`` is;
- **cron**: a run at each time of the expression, whatever arrived.

A run is ``eventlake.pipeline.run(settings, land=False)``: the lander child lands, this
one loads the lake's new commits and rebuilds the changed days, in one warehouse write
transaction. A failed run is recorded in the run history (``eventlake status`` shows it)
and retried with a growing delay (``models_min_interval`` doubled per failure, at most
five minutes), so a broken model does not spin. On SIGTERM a run in progress finishes;
if the supervisor's stop budget runs out first it kills the process, and the write
transaction guarantees a killed run publishes nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from eventlake.config import Settings
from eventlake.errors import EventlakeError
from eventlake.land.flush import FLUSH_WAIT, FlushRequests, from_environment
from eventlake.up.cron import Clock, CronSchedule, RealClock, wait_until

__all__ = ["ModelScheduler", "run_build"]

log = logging.getLogger("eventlake.up.build")

#: The longest wait after failed runs before the next attempt.
MAX_FAILURE_DELAY = 300.0
#: Commit streams the raw layer skips (batch sources load their own tables).
_SOURCE_PREFIX = "sources."

RunOnce = Callable[[], object]


class ModelScheduler:
    """Starts model runs when they are due; :meth:`run` loops until ``stop`` is set.

    Args:
        settings: the project (``schedule``, the lake, the warehouse).
        stop: set to end the loop (after the run in progress).
        clock: the time source (tests pass a fake one).
        run_once: what a run is (default: ``pipeline.run(settings, land=False)``).
    """

    def __init__(
        self,
        settings: Settings,
        stop: threading.Event,
        *,
        clock: Clock | None = None,
        run_once: RunOnce | None = None,
        flush: FlushRequests | None = None,
    ) -> None:
        self.settings = settings
        self.flush = flush
        self._at_load: set[tuple[str, str]] | None = None
        self.stop = stop
        self.clock = clock or RealClock()
        self._run_once = run_once or self._pipeline_run
        self.cfg = settings.schedule
        self.runs = 0
        self.failures = 0
        self._loaded: set[tuple[str, str]] | None = None
        self._mtimes: dict[str, int] = {}
        self._listed: set[tuple[str, str]] = set()
        self._watch_sources = bool(settings.sources.csv or settings.sources.api)
        self._reader: Any = None
        self._seen_version: str | None = None
        self._sources_pending = False

    # -- what a run is ---------------------------------------------------------------------
    def _pipeline_run(self) -> object:
        from eventlake.pipeline import run

        result = run(self.settings, land=False, trigger="up", on_stage=self._on_stage)
        log.info("%s", result.summary())
        return result

    def _on_stage(self, stage: str) -> None:
        """Before the run reads the lake (``load``): the lander lands its open batch
        (with :attr:`flush`), and the commits the run will find are noted."""
        if stage != "load" or self.flush is None:
            return
        started = time.monotonic()
        if not self.flush.ask(stop=self.stop) and not self.stop.is_set():
            log.warning(
                "the lander did not land its open batch within %g s; this run loads what "
                "the lake holds",
                FLUSH_WAIT,
            )
        else:
            log.debug("the lander landed its open batch in %.3f s", time.monotonic() - started)
        self._at_load = self.new_commits()

    def run_now(self) -> bool:
        """One run; True if it succeeded (a failure is logged and recorded, not raised)."""
        self.runs += 1
        try:
            self._run_once()
        except EventlakeError as exc:
            self.failures += 1
            log.error("model run failed: %s", str(exc).strip().splitlines()[0] if exc else exc)
            return False
        self.failures = 0
        return True

    def _failure_delay(self) -> float:
        base = max(self.cfg.models_min_interval, 1.0)
        return float(min(MAX_FAILURE_DELAY, base * 2.0 ** min(self.failures, 16)))

    # -- the loops -------------------------------------------------------------------------
    def run(self) -> None:
        """Run models on the configured schedule until ``stop`` is set."""
        if self.cfg.models == "continuous":
            self._continuous()
        else:
            self._cron(CronSchedule(self.cfg.models, self.cfg.timezone, where="schedule.models"))

    def _cron(self, schedule: CronSchedule) -> None:
        log.info("model runs on cron %r (%s)", schedule.expression, self.cfg.timezone)
        while not self.stop.is_set():
            when = schedule.next_after(self.clock.now())
            if self.failures:
                retry = self.clock.now().timestamp() + self._failure_delay()
                when = min(when, type(when).fromtimestamp(retry, when.tzinfo))
            if wait_until(self.clock, self.stop, when):
                return
            self.run_now()

    def _continuous(self) -> None:
        interval = self.cfg.models_min_interval
        log.info("model runs continuous: when new lake commits exist, at most every %g s", interval)
        last_start: float | None = None
        try:
            while not self.stop.is_set():
                new = self.new_commits()
                # the lander's open batch counts as new: the run asks it to land first
                held = not new and self.flush is not None and self.flush.holding()
                if not new and not held and not self.new_source_commits():
                    if self.clock.wait(self.stop, self.cfg.models_poll_seconds):
                        return
                    continue
                gap = interval if not self.failures else self._failure_delay()
                if last_start is not None:
                    due = last_start + gap - time.monotonic()
                    if due > 0:
                        if self.clock.wait(self.stop, due):
                            return
                        new = self.new_commits()  # what the run will find, as of now
                last_start = time.monotonic()
                self._at_load = None
                if self.run_now():
                    assert self._loaded is not None
                    # loaded now (and maybe more that came meanwhile)
                    self._loaded |= new | (self._at_load or set())
                    self._sources_pending = False  # the run built them
        finally:
            if self._reader is not None:
                self._reader.close()

    # -- what is new -----------------------------------------------------------------------
    def new_commits(self) -> set[tuple[str, str]]:
        """(stream, commit id) of lake commits the warehouse has not loaded yet."""
        from eventlake.lake import open_lake

        if self._loaded is None:
            self._loaded = self._warehouse_commits()
        lake = open_lake(self.settings.lake_uri(), self.settings.lake.storage_options)
        listed: set[tuple[str, str]] = set()
        for stream in lake.streams():
            if stream.startswith(_SOURCE_PREFIX):
                continue
            mtime = self._folder_mtime(lake, stream)
            if mtime is not None and self._mtimes.get(stream) == mtime:
                listed |= {c for c in self._listed if c[0] == stream}
                continue
            listed |= {(stream, cid) for cid in lake.commit_ids(stream)}
            if mtime is not None:
                self._mtimes[stream] = mtime
        self._listed = listed
        return listed - self._loaded

    def new_source_commits(self) -> bool:
        """Whether the warehouse holds batch-source commits the models were not built from.

        Checked only when the published warehouse changed since the last check (its
        reader's ``version()``); once found, they stay pending until a run succeeds.
        """
        if not self._watch_sources or self._sources_pending:
            return self._sources_pending
        from eventlake.pipeline import PipelineState, SourceTracking
        from eventlake.warehouse import open_warehouse

        if self._reader is None:
            self._reader = open_warehouse(self.settings).reader()
        version = self._reader.version()
        if version == self._seen_version:
            return False
        self._seen_version = version
        warehouse = open_warehouse(self.settings)
        try:
            current = warehouse.source_commits()
        finally:
            warehouse.close()
        built = PipelineState.for_settings(self.settings).built_sources()
        pending = SourceTracking(built).pending(current)
        if pending:
            log.info("new commits from %s: a model run is due", ", ".join(pending))
        self._sources_pending = bool(pending)
        return self._sources_pending

    @staticmethod
    def _folder_mtime(lake: object, stream: str) -> int | None:
        from eventlake.lake import COMMITS_DIR, Lake

        if not isinstance(lake, Lake) or not lake.is_local:
            return None
        try:
            return os.stat(lake.local_path(COMMITS_DIR, stream)).st_mtime_ns
        except OSError:
            return None

    def _warehouse_commits(self) -> set[tuple[str, str]]:
        from eventlake.warehouse import open_warehouse

        warehouse = open_warehouse(self.settings)
        try:
            counts = warehouse.counts()
        finally:
            warehouse.close()
        return {(s, cid) for s, ids in counts.loaded_commits.items() for cid in ids}


def run_build(settings: Settings, stop: threading.Event) -> None:
    """The build child's body: the model scheduler until ``stop``."""
    ModelScheduler(settings, stop, flush=from_environment()).run()
