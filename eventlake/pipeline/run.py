"""The pipeline verbs ``build``, ``run`` and ``backfill``: land, load raw, build the models.

Only sequencing lives here; each stage is called through its public interface:

1. ``run`` lands what waits on the bus (the lander's ``land``), then
2. inside one write transaction of the configured warehouse
   (:func:`eventlake.warehouse.open_warehouse`; DuckDB: lock, catch up the unpublished
   generation file, change it, publish it by swapping a symlink)
   loads the lake's new commits into the raw layer (``tx.load_raw``), which says which
   event days got new rows (late events included), and
3. builds the dbt models for exactly those days and runs their tests
   (``eventlake.warehouse.dbt.build_models(..., tx.dbt_target(), changed_days=...)``).

Batch sources (CSV, REST) load their own raw tables when they run; the project's models
that read them are built by the next ``run`` (or ``build``): a source commit that the
published models were not built from (the warehouse's ``source_commits()`` against
``built-sources.json`` of the pipeline state) makes the run build, and when no event day
changed, only the models downstream of that source's tables
(``build_models(..., sources=[(schema, table)...])``, a dbt selection by source).

No SQL and no engine branch here. If a model or a test fails, the transaction publishes
nothing (what that means per engine: ``warehouse/base.py``); the next run sees the same
lake commits as new again. Every run is appended to the run history
(:class:`PipelineState`), failed or not.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from eventlake.config import Settings
from eventlake.errors import EventlakeError
from eventlake.pipeline.results import BackfillResult, LoadBuildResult, RunResult
from eventlake.pipeline.state import PipelineState

if TYPE_CHECKING:
    from eventlake.lake import Lake
    from eventlake.warehouse.base import DbtTarget, Warehouse
    from eventlake.warehouse.dbt import BuildResult
    from eventlake.warehouse.dbt_project import DbtConfig

__all__ = [
    "BuildModels",
    "OnStage",
    "SourceTracking",
    "backfill",
    "build",
    "days_between",
    "load_and_build",
    "load_and_build_in",
    "run",
]


log = logging.getLogger("eventlake.pipeline")


class BuildModels(Protocol):
    """The models stage: ``eventlake.warehouse.dbt.build_models`` or a stand-in (tests).

    ``sources`` is passed only when a run builds for new source commits alone (then the
    models downstream of those ``(schema, table)`` pairs).
    """

    def __call__(
        self,
        config: DbtConfig,
        target: DbtTarget,
        *,
        changed_days: list[dt.date] | None = None,
        full_refresh: bool = False,
        select: str | None = None,
        sources: Sequence[tuple[str, str]] | None = None,
        new_offsets: Sequence[tuple[int, int, int]] | None = None,
    ) -> BuildResult: ...


@dataclass(frozen=True, slots=True)
class SourceTracking:
    """What a run knows of the batch sources: the commits the published models were built
    from (stream -> commit ids, from the pipeline state) and the raw tables each configured
    source loads (stream -> ``(schema, table)``; None when a definition could not be read,
    then a new commit rebuilds every model)."""

    built: Mapping[str, frozenset[str]]
    tables: Mapping[str, tuple[tuple[str, str], ...]] | None = None

    def pending(self, current: Mapping[str, frozenset[str]]) -> tuple[str, ...]:
        """Streams of ``current`` holding commits the models were not built from."""
        return tuple(
            sorted(s for s, ids in current.items() if not ids <= self.built.get(s, frozenset()))
        )

    def tables_of(self, streams: Sequence[str]) -> list[tuple[str, str]] | None:
        """The raw tables of ``streams``, or None when one of them is not known."""
        if self.tables is None or any(s not in self.tables for s in streams):
            return None
        return sorted({t for s in streams for t in self.tables[s]})


def source_tracking(settings: Settings) -> SourceTracking:
    """The :class:`SourceTracking` of a project: its pipeline state and configured sources."""
    from eventlake.sources import source_tables

    built = PipelineState.for_settings(settings).built_sources()
    try:
        tables: Mapping[str, tuple[tuple[str, str], ...]] | None = source_tables(settings)
    except EventlakeError as exc:
        # the source itself cannot run either; its models are then rebuilt whole
        log.warning(
            "cannot name the raw tables of every source (%s): new source rows "
            "will rebuild every model",
            exc,
        )
        tables = None
    return SourceTracking(built, tables)


#: ``on_stage(name)`` is called as each stage starts: "land", "load" (the lake's new
#: commits into the raw layer), "build" (the models and their tests). How the CLI shows a
#: run's progress; it never changes what runs.
OnStage = Callable[[str], None]


def _no_stage(name: str) -> None:
    return None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every day from ``start`` to ``end`` inclusive."""
    if end < start:
        raise EventlakeError(f"backfill end {end} is before its start {start}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def load_and_build(
    settings: Settings,
    *,
    reload_days: Iterable[dt.date] = (),
    full_refresh: bool = False,
    select: Sequence[str] | None = None,
    build_models: BuildModels | None = None,
    skip_if_unchanged: bool = True,
    on_stage: OnStage | None = None,
) -> LoadBuildResult:
    """Load the raw layer and build the changed days in one warehouse write transaction.

    Opens the configured warehouse and lake, then :func:`load_and_build_in`.

    Raises:
        ModelBuildError: a model or test failed (the transaction published nothing).
        WarehouseError: the warehouse or the lake cannot be read or written.
        ConfigError: the warehouse settings are incomplete.
    """
    from eventlake.lake import open_lake
    from eventlake.warehouse import open_warehouse
    from eventlake.warehouse.dbt_project import DbtConfig

    warehouse = open_warehouse(settings)
    lake = open_lake(settings.lake_uri(), settings.lake.storage_options)
    try:
        result = load_and_build_in(
            warehouse,
            lake,
            DbtConfig.from_settings(settings),
            reload_days=reload_days,
            full_refresh=full_refresh,
            select=select,
            build_models=build_models,
            skip_if_unchanged=skip_if_unchanged,
            on_stage=on_stage,
            sources=source_tracking(settings),
        )
    finally:
        warehouse.close()
    if result.source_commits is not None:
        PipelineState.for_settings(settings).record_built_sources(result.source_commits)
    return result


def load_and_build_in(
    warehouse: Warehouse,
    lake: Lake,
    config: DbtConfig,
    *,
    reload_days: Iterable[dt.date] = (),
    full_refresh: bool = False,
    select: Sequence[str] | None = None,
    build_models: BuildModels | None = None,
    skip_if_unchanged: bool = True,
    on_stage: OnStage | None = None,
    sources: SourceTracking | None = None,
) -> LoadBuildResult:
    """:func:`load_and_build` on an open warehouse and lake.

    With no new lake commit, no ``reload_days`` and no new source commit (``sources``:
    what the models were last built from) the dbt build is skipped when
    ``skip_if_unchanged`` (``run``); new source commits alone build the models downstream
    of their tables. Otherwise it builds every model with no day to rebuild in the
    incremental ones (``build``: picks up edited or new models, runs every test). The
    first build (no models yet) and ``full_refresh`` rebuild every day.
    """
    if build_models is None:
        from eventlake.warehouse.dbt import build_models as dbt_build_models

        build_models = dbt_build_models
    stage = on_stage or _no_stage
    with warehouse.transaction() as tx:
        built_before = tx.models_built()
        # the source commits the raw tables hold now: the writer lock keeps them as they are
        current = warehouse.source_commits() if sources is not None else {}
        pending = sources.pending(current) if sources is not None else ()
        stage("load")
        raw = tx.load_raw(lake, reload_days=reload_days)
        days = list(raw.event_days)
        oldest = raw.oldest_new_received_at
        loaded = LoadBuildResult(
            commits_loaded=raw.commits_loaded,
            changed_days=tuple(d.isoformat() for d in days),
            raw_rows=sum(raw.day_rows.get("events", {}).values()),
            full_refresh=full_refresh or not built_before,
            oldest_new_event_at=None if oldest is None else oldest.isoformat(),
            sources_changed=pending,
        )
        incremental = built_before and not full_refresh and not select
        by_source = (
            sources.tables_of(pending)
            if sources is not None and skip_if_unchanged and incremental and pending and not days
            else None
        )
        if skip_if_unchanged and incremental and not days and not pending:
            # Nothing new anywhere: the published models and their tests still hold.
            done = loaded.with_build(skipped=True)
        elif by_source is not None:
            # only new source rows: the models that read those tables, and their tests
            stage("build")
            result = build_models(config, tx.dbt_target(), changed_days=[], sources=by_source)
            done = dataclasses.replace(
                loaded.with_build(
                    models_built=len(result.models_built), tests_passed=result.tests_passed
                ),
                source_commits=_merged(sources.built if sources else {}, current, pending),
            )
        else:
            stage("build")
            day_run = built_before and not full_refresh
            # only the messages of the new commits' rows are ranked again (when known)
            new = raw.new_offsets if day_run else None
            result = build_models(
                config,
                tx.dbt_target(),
                # None = every day: the first build, or an explicit full refresh.
                changed_days=days if day_run else None,
                full_refresh=full_refresh,
                select=" ".join(select) if select else None,
                new_offsets=new or None,
            )
            done = dataclasses.replace(
                loaded.with_build(
                    models_built=len(result.models_built), tests_passed=result.tests_passed
                ),
                # a --select builds some models only: what the others read is unknown
                source_commits=None if select else dict(current),
            )
    # The transaction has published (it raises otherwise): from now on the API serves the
    # new events, within serve.reload_check_ms.
    if done.oldest_new_event_at is None:
        return done
    return dataclasses.replace(done, published_at=_now())


def _merged(
    built: Mapping[str, frozenset[str]],
    current: Mapping[str, frozenset[str]],
    rebuilt: Sequence[str],
) -> dict[str, frozenset[str]]:
    """``built`` with the streams ``rebuilt`` now at their ``current`` commits."""
    out = dict(built)
    for stream in rebuilt:
        out[stream] = current[stream]
    return out


def _record(
    state: PipelineState,
    kind: str,
    started: str,
    load: LoadBuildResult | None,
    error: BaseException | None,
    *,
    landed: tuple[int, int] = (0, 0),
    changed_days: tuple[str, ...] = (),
    full_refresh: bool = False,
    trigger: str | None = None,
) -> RunResult:
    """Append one run to the history: what its stages did, or how far it got."""
    done = load or LoadBuildResult(changed_days=changed_days, full_refresh=full_refresh)
    result = RunResult(
        run_id=_run_id(),
        kind=kind,
        ok=error is None,
        started_at=started,
        finished_at=_now(),
        landed=landed[0],
        quarantined=landed[1],
        commits_loaded=done.commits_loaded,
        changed_days=done.changed_days,
        raw_rows=done.raw_rows,
        models_built=done.models_built,
        tests_passed=done.tests_passed,
        full_refresh=done.full_refresh,
        skipped_build=done.skipped_build,
        error=None if error is None else str(error),
        oldest_new_event_at=done.oldest_new_event_at,
        published_at=done.published_at,
        trigger=trigger,
        sources_changed=done.sources_changed,
    )
    state.record_run(result)
    return result


def build(
    settings: Settings,
    *,
    full_refresh: bool = False,
    select: Sequence[str] | None = None,
    build_models: BuildModels | None = None,
    on_stage: OnStage | None = None,
) -> RunResult:
    """Load new lake commits and build the models (all of them with ``full_refresh``).

    ``build_models`` replaces the dbt build (same signature as
    ``eventlake.warehouse.dbt.build_models``), as in :func:`run` and :func:`backfill`;
    ``on_stage`` hears each stage start (:data:`OnStage`).

    Raises:
        EventlakeError: the build failed (recorded in the run history first).
    """
    state = PipelineState.for_settings(settings)
    started = _now()
    try:
        load = load_and_build(
            settings,
            full_refresh=full_refresh,
            select=select,
            build_models=build_models,
            skip_if_unchanged=False,
            on_stage=on_stage,
        )
    except EventlakeError as exc:
        _record(state, "build", started, None, exc, full_refresh=full_refresh)
        raise
    return _record(state, "build", started, load, None)


def _land(settings: Settings) -> tuple[int, int]:
    """Land what waits on the bus; return (events landed, events quarantined)."""
    from eventlake.land import land

    result = land(settings)
    return int(result.events), int(result.quarantined)


def run(
    settings: Settings,
    *,
    day: dt.date | None = None,
    land: bool = True,
    build_models: BuildModels | None = None,
    on_stage: OnStage | None = None,
    trigger: str | None = None,
) -> RunResult:
    """Land, load the raw layer, rebuild every changed day (and ``day``), test.

    Args:
        settings: eventlake Settings.
        day: an event day to rebuild even if no new rows arrived for it.
        land: land what waits on the bus first (``False``: only load and build).
        on_stage: hears each stage start: "land", "load", "build" (:data:`OnStage`).
        trigger: who started the run, kept in the run history ("up" for the supervisor's
            scheduled runs).

    Raises:
        EventlakeError: a stage failed; the run is recorded as failed, the previously
            published warehouse is still served.
    """
    state = PipelineState.for_settings(settings)
    started = _now()
    landed = (0, 0)
    try:
        if land:
            (on_stage or _no_stage)("land")
            landed = _land(settings)
        load = load_and_build(
            settings,
            reload_days=[day] if day else (),
            build_models=build_models,
            on_stage=on_stage,
        )
    except EventlakeError as exc:
        _record(state, "run", started, None, exc, landed=landed, trigger=trigger)
        raise
    return _record(state, "run", started, load, None, landed=landed, trigger=trigger)


def backfill(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    *,
    restart: bool = False,
    on_day: Callable[[dt.date, RunResult | None], None] | None = None,
    build_models: BuildModels | None = None,
    on_stage: OnStage | None = None,
) -> BackfillResult:
    """Rebuild every day of ``start``..``end``, one published warehouse change per day.

    Each day reloads its raw rows from the lake and rebuilds its models, so it is idempotent;
    progress is durable after each day, so re-running the same command after a crash or a
    failure resumes at the first day not done (``restart`` starts over).
    ``on_day(day, result)`` is called after each day (``result`` None when skipped);
    ``on_stage`` hears each day's "load" and "build" start.
    """
    state = PipelineState.for_settings(settings)
    days = days_between(start, end)
    if restart:
        state.reset_backfill(start, end)
    already = state.backfill_done(start, end)
    done: list[str] = []
    skipped: list[str] = []
    runs: list[RunResult] = []
    for day in days:
        if day in already:
            skipped.append(day.isoformat())
            if on_day is not None:
                on_day(day, None)
            continue
        started = _now()
        try:
            load = load_and_build(
                settings, reload_days=[day], build_models=build_models, on_stage=on_stage
            )
        except EventlakeError as exc:
            runs.append(
                _record(state, "backfill", started, None, exc, changed_days=(day.isoformat(),))
            )
            return BackfillResult(
                start.isoformat(),
                end.isoformat(),
                tuple(done),
                tuple(skipped),
                failed_day=day.isoformat(),
                error=str(exc),
                runs=tuple(runs),
            )
        state.mark_backfill_day(start, end, day)
        result = _record(state, "backfill", started, load, None)
        runs.append(result)
        done.append(day.isoformat())
        if on_day is not None:
            on_day(day, result)
    return BackfillResult(
        start.isoformat(), end.isoformat(), tuple(done), tuple(skipped), runs=tuple(runs)
    )
