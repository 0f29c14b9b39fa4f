"""The pipeline verbs ``build``, ``run`` and ``backfill``: land, load raw, build the models.

Only sequencing lives here; each stage is called through its public function:

1. ``run`` lands what waits on the bus (the lander's ``land_once``), then
2. inside one warehouse write transaction (lock, copy, change, atomic publish) loads the
   lake's new commits into the raw layer (:func:`eventlake.warehouse.raw.load_raw`), which
   says which event days got new rows (late events included), and
3. builds the dbt models for exactly those days and runs their tests
   (``eventlake.warehouse.dbt.build_models(..., changed_days=...)``).

If a model or a test fails, the transaction is discarded: the raw load goes with it, the
previously published warehouse stays served, and the next run sees the same commits as new
again. Every run is appended to the run history (:class:`PipelineState`), failed or not.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from eventlake.errors import EventlakeError, WarehouseError
from eventlake.pipeline.results import BackfillResult, RunResult
from eventlake.pipeline.state import PipelineState

__all__ = [
    "BuildModels",
    "OnStage",
    "backfill",
    "build",
    "load_and_build",
    "load_raw_then_build",
    "run",
    "days_between",
]

#: ``build_models(settings, db_path, *, changed_days, full_refresh, select) -> BuildResult``
BuildModels = Callable[..., Any]

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


def _models_built(work: Path) -> bool:
    """Whether the working copy already holds built models (a previous successful build)."""
    import duckdb

    if not work.exists():
        return False
    conn = duckdb.connect(str(work), read_only=True)
    try:
        row = conn.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name NOT IN ('raw', 'main')"
        ).fetchall()[0]
    finally:
        conn.close()
    return bool(row and row[0])


def _build_counts(result: Any) -> tuple[int, int]:
    """(models built, tests passed) from the models stage's BuildResult."""
    models = getattr(result, "models_built", ())
    tests = getattr(result, "tests_passed", 0)
    count = len(models) if isinstance(models, list | tuple | set) else int(models or 0)
    return count, int(tests or 0)


def load_and_build(
    settings: Any,
    *,
    reload_days: Iterable[dt.date] = (),
    full_refresh: bool = False,
    select: Sequence[str] | None = None,
    build_models: BuildModels | None = None,
    skip_if_unchanged: bool = True,
    on_stage: OnStage | None = None,
) -> dict[str, Any]:
    """Load the raw layer and build the changed days in one published warehouse change.

    With no new lake commit and no ``reload_days`` the dbt build is skipped when
    ``skip_if_unchanged`` (``run``); otherwise it builds every model with no day to rebuild
    in the incremental ones (``build``: picks up edited or new models, runs every test).

    Returns the counts a :class:`RunResult` carries (``commits_loaded``, ``changed_days``,
    ``raw_rows``, ``models_built``, ``tests_passed``, ``skipped_build``).

    Raises:
        ModelBuildError: a model or test failed (the warehouse is left as it was).
        WarehouseError: the warehouse or the lake cannot be read or written.
    """
    from eventlake.lake import open_lake
    from eventlake.warehouse.duck import write_transaction

    if build_models is None:
        from eventlake.warehouse import dbt

        build_models = dbt.build_models

    if settings.warehouse.backend in ("postgres", "spark"):  # scale-out: pipeline/remote.py
        from eventlake.pipeline.remote import load_and_build_remote

        return load_and_build_remote(
            settings,
            reload_days=reload_days,
            full_refresh=full_refresh,
            select=select,
            build_models=build_models,
            skip_if_unchanged=skip_if_unchanged,
            build_counts=_build_counts,
            on_stage=on_stage,
        )
    if settings.warehouse.backend != "duckdb":
        raise WarehouseError(
            f"`eventlake run` does not know warehouse.backend {settings.warehouse.backend!r}"
        )
    lake = open_lake(settings.lake_uri(), settings.lake.storage_options)
    db_path = settings.resolve(settings.warehouse.path)
    with write_transaction(db_path) as work:
        return load_raw_then_build(
            settings,
            lake,
            work,
            built_before=_models_built(work),
            reload_days=reload_days,
            full_refresh=full_refresh,
            select=select,
            build_models=build_models,
            skip_if_unchanged=skip_if_unchanged,
            build_counts=_build_counts,
            on_stage=on_stage,
        )


def load_raw_then_build(
    settings: Any,
    lake: Any,
    target: Path | None,
    *,
    built_before: bool,
    reload_days: Iterable[dt.date],
    full_refresh: bool,
    select: Sequence[str] | None,
    build_models: Callable[..., Any],
    skip_if_unchanged: bool,
    build_counts: Callable[[Any], tuple[int, int]],
    on_stage: OnStage | None = None,
) -> dict[str, Any]:
    """The body of :func:`load_and_build` on one warehouse, local or remote.

    ``target`` is the DuckDB working copy to write, or None for the configured warehouse
    (PostgreSQL, Spark).
    """
    from eventlake.warehouse.raw import load_raw, open_raw_backend

    stage = on_stage or _no_stage
    stage("load")
    backend = open_raw_backend(settings, target)
    try:
        raw = load_raw(backend, lake, reload_days=reload_days)
    finally:
        backend.close()
    days = list(raw.event_days)
    out: dict[str, Any] = {
        "commits_loaded": raw.commits_loaded,
        "changed_days": tuple(d.isoformat() for d in days),
        "raw_rows": sum(raw.day_rows.get("events", {}).values()),
        "full_refresh": full_refresh or not built_before,
        "skipped_build": False,
    }
    if skip_if_unchanged and built_before and not full_refresh and not days and not select:
        # Nothing new anywhere: the published models and their tests still hold.
        out.update(models_built=0, tests_passed=0, skipped_build=True)
        return out
    stage("build")
    result = build_models(
        settings,
        target if target is not None else settings.resolve(settings.warehouse.path),
        # None = every day: the first build, or an explicit full refresh.
        changed_days=days if built_before and not full_refresh else None,
        full_refresh=full_refresh,
        select=" ".join(select) if select else None,
    )
    out["models_built"], out["tests_passed"] = build_counts(result)
    return out


def _record(
    state: PipelineState,
    kind: str,
    started: str,
    counts: dict[str, Any],
    error: BaseException | None,
) -> RunResult:
    result = RunResult(
        run_id=_run_id(),
        kind=kind,
        ok=error is None,
        started_at=started,
        finished_at=_now(),
        error=None if error is None else str(error),
        **counts,
    )
    state.record_run(result)
    return result


def build(
    settings: Any,
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
        counts = load_and_build(
            settings,
            full_refresh=full_refresh,
            select=select,
            build_models=build_models,
            skip_if_unchanged=False,
            on_stage=on_stage,
        )
    except EventlakeError as exc:
        _record(state, "build", started, {"full_refresh": full_refresh}, exc)
        raise
    return _record(state, "build", started, counts, None)


def _land(settings: Any) -> tuple[int, int]:
    """Land what waits on the bus; return (events landed, events quarantined)."""
    from eventlake.land import land

    result = land(settings)
    return int(result.events), int(result.quarantined)


def run(
    settings: Any,
    *,
    day: dt.date | None = None,
    land: bool = True,
    build_models: BuildModels | None = None,
    on_stage: OnStage | None = None,
) -> RunResult:
    """Land, load the raw layer, rebuild every changed day (and ``day``), test.

    Args:
        settings: eventlake Settings.
        day: an event day to rebuild even if no new rows arrived for it.
        land: land what waits on the bus first (``False``: only load and build).
        on_stage: hears each stage start: "land", "load", "build" (:data:`OnStage`).

    Raises:
        EventlakeError: a stage failed; the run is recorded as failed, the previously
            published warehouse is still served.
    """
    state = PipelineState.for_settings(settings)
    started = _now()
    counts: dict[str, Any] = {}
    try:
        if land:
            (on_stage or _no_stage)("land")
            counts["landed"], counts["quarantined"] = _land(settings)
        counts.update(
            load_and_build(
                settings,
                reload_days=[day] if day else (),
                build_models=build_models,
                on_stage=on_stage,
            )
        )
    except EventlakeError as exc:
        _record(state, "run", started, counts, exc)
        raise
    return _record(state, "run", started, counts, None)


def backfill(
    settings: Any,
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
            counts = load_and_build(
                settings, reload_days=[day], build_models=build_models, on_stage=on_stage
            )
        except EventlakeError as exc:
            runs.append(
                _record(state, "backfill", started, {"changed_days": (day.isoformat(),)}, exc)
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
        result = _record(state, "backfill", started, counts, None)
        runs.append(result)
        done.append(day.isoformat())
        if on_day is not None:
            on_day(day, result)
    return BackfillResult(
        start.isoformat(), end.isoformat(), tuple(done), tuple(skipped), runs=tuple(runs)
    )
