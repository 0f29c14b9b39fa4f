"""The pipeline's health as ``eventlake up`` sees it, for the collector's and serve's /healthz.

:class:`PipelineHealth` is the :data:`~eventlake.health.HealthSource` the supervisor's
collect and serve children hand to their apps. Each call (cached for a second) reads:

- the supervisor's state file (``eventlake/up/state.py``): each child's state and
  restarts; a child waiting to restart or crash-looping is a problem (``degraded``);
- the bus, when asked to (serve checks it when its supervisor also runs the collector;
  the collector always checks its own): :meth:`eventlake.bus.base.Bus.probe`;
- the lander's lag: bus records not yet in the lake = each partition's end offset
  (:meth:`eventlake.bus.base.Bus.end_offsets`, local log only) minus the next offset the
  lake's commit records name (:class:`eventlake.land.LakeOffsets`);
- the run history (:class:`eventlake.pipeline.PipelineState`, read from its end): the last
  successful model run, its age and its freshness; the newest run's error if it failed.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

from eventlake.config import Settings
from eventlake.errors import EventlakeError
from eventlake.health import HealthReport
from eventlake.pipeline import PipelineState, RunResult
from eventlake.up.state import read_state

__all__ = ["PipelineHealth", "lander_lag"]

_TTL = 1.0
#: Runs read back from the end of the history for the last build and its freshness.
_LOOK_BACK = 500


def lander_lag(settings: Settings) -> int | None:
    """Bus records not landed yet, over every partition (None when unknown)."""
    from eventlake.bus import open_bus
    from eventlake.lake import open_lake
    from eventlake.land import LANDER_STREAM, LakeOffsets

    ends = open_bus(settings.bus, settings.base_dir).end_offsets()
    if ends is None:
        return None
    lake = open_lake(settings.lake_uri(), settings.lake.storage_options, create=False)
    offsets = LakeOffsets(lake, LANDER_STREAM)
    offsets.refresh()
    landed = offsets.by_partition()
    return sum(max(0, end - landed.get(tp, 0)) for tp, end in ends.items())


class PipelineHealth:
    """A health source over the project's files; thread-safe, cached for a second.

    Args:
        settings: the project.
        state_file: the supervisor's state file (None: not supervised).
        check_bus: probe the bus too.
    """

    def __init__(
        self, settings: Settings, state_file: Path | None, *, check_bus: bool = False
    ) -> None:
        self.settings = settings
        self.state_file = state_file
        self.check_bus = check_bus
        self._lock = threading.Lock()
        self._cached: tuple[float, HealthReport] | None = None

    def __call__(self) -> HealthReport:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > _TTL:
                self._cached = (now, self.report())
            return self._cached[1]

    def report(self) -> HealthReport:
        """A fresh snapshot (uncached)."""
        problems: list[str] = []
        children = None
        alive = None
        if self.state_file is not None:
            state = read_state(self.state_file)
            if state is None:
                problems.append(f"no supervisor state in {self.state_file}")
            else:
                alive = state.alive()
                children = state.children
                if not alive:
                    problems.append(
                        f"the supervisor (pid {state.pid}) has not reported for "
                        f"{state.age_seconds():.0f} s"
                    )
                for child in children:
                    if child.state == "backoff":
                        problems.append(f"{child.name} is down ({child.last_exit}), restarting")
                    if child.crash_loop:
                        problems.append(
                            f"{child.name} is crash-looping: {child.recent_restarts} restarts "
                            f"lately, last {child.last_exit}"
                        )
        bus_writable = bus_detail = None
        if self.check_bus:
            from eventlake.bus import open_bus

            probe = open_bus(self.settings.bus, self.settings.base_dir).probe()
            bus_writable, bus_detail = probe.writable, probe.detail
            if not probe.writable:
                problems.insert(0, f"the bus cannot be written: {probe.detail}")
        try:
            lag = lander_lag(self.settings)
        except (EventlakeError, OSError, ValueError, KeyError) as exc:
            lag = None
            problems.append(f"the lander's lag cannot be read: {exc}")
        last, good, fresh_run = _recent_runs(PipelineState.for_settings(self.settings))
        error = None
        if last is not None and not last.ok:
            error = last.error
            problems.append(f"the last model run failed: {(last.error or '').splitlines()[0]}")
        age = fresh = None
        if good is not None:
            finished = dt.datetime.fromisoformat(good.finished_at)
            age = round((dt.datetime.now(dt.UTC) - finished).total_seconds(), 1)
        if fresh_run is not None and fresh_run.freshness_seconds is not None:
            fresh = round(fresh_run.freshness_seconds, 3)
        return HealthReport(
            children=children,
            supervisor_alive=alive,
            bus_writable=bus_writable,
            bus_detail=bus_detail,
            lander_lag_records=lag,
            last_build_at=good.finished_at if good is not None else None,
            last_build_age_seconds=age,
            last_build_freshness_seconds=fresh,
            last_run_error=error,
            problems=tuple(problems),
        )


def _recent_runs(history: PipelineState) -> tuple[RunResult | None, ...]:
    """(the newest run, the newest successful one, the newest successful one that
    published new events), looking back at most :data:`_LOOK_BACK` runs."""
    last = good = fresh = None
    for i, run in enumerate(history.recent_runs()):
        if last is None:
            last = run
        if run.ok and good is None:
            good = run
        if run.ok and run.freshness_seconds is not None:
            fresh = run
            break
        if i >= _LOOK_BACK:
            break
    return last, good, fresh
