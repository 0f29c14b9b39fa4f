"""The ``sources`` child of ``eventlake up``: a watcher per CSV source, a cron per REST source.

Threads inside one process, not a process each: a watcher waits on inotify and a REST
source waits for its next time almost all day, and one process imports pyarrow, duckdb and
httpx once instead of once per source (about 100 MB each). The supervisor restarts the
whole child when it dies; each source is idempotent (a CSV file loads once by content, a
REST run resumes without duplicates), so a restart repeats nothing.

- CSV: ``open_csv_source(settings, name).watch(stop)``, the same as
  ``eventlake sources csv watch NAME``; a failing file goes to ``failed/`` and the watcher
  goes on.
- REST: ``run_api_source(settings, name)`` at each time of the source's cron expression
  (``schedule.api[name]``, else ``schedule.api_default``; ``off`` never). A run still going
  at its next time is not doubled: the next time is taken after it ends.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable

from eventlake.config import Settings
from eventlake.errors import ConfigError, EventlakeError
from eventlake.up.cron import Clock, CronSchedule, RealClock, wait_until

__all__ = ["api_schedules", "run_api_on_schedule", "run_sources"]

log = logging.getLogger("eventlake.up.sources")

ApiRun = Callable[[Settings, str], object]


def api_schedules(settings: Settings) -> dict[str, CronSchedule | None]:
    """Each REST source's schedule (None: ``off``).

    Raises:
        ConfigError: ``schedule.api`` names a source that is not in ``[sources.api]``.
    """
    cfg = settings.schedule
    unknown = sorted(set(cfg.api) - set(settings.sources.api))
    if unknown:
        known = ", ".join(sorted(settings.sources.api)) or "none"
        raise ConfigError(
            f"schedule.api names {', '.join(unknown)}, not in [sources.api] (known: {known})"
        )
    out: dict[str, CronSchedule | None] = {}
    for name in sorted(settings.sources.api):
        expression = cfg.api.get(name, cfg.api_default)
        out[name] = (
            None
            if expression == "off"
            else CronSchedule(expression, cfg.timezone, where=f"schedule.api.{name}")
        )
    return out


def _default_api_run(settings: Settings, name: str) -> object:
    from eventlake.sources import run_api_source

    result = run_api_source(settings, name)
    records = sum(r.records for r in result.resources)
    if result.ok:
        log.info("API source %s: %d records in %.1f s", name, records, result.seconds)
    else:
        failed = [f"{r.name}: {r.error}" for r in result.resources if r.status != "ok"]
        log.error("API source %s: failed resources: %s", name, "; ".join(failed))
    return result


def run_api_on_schedule(
    settings: Settings,
    name: str,
    schedule: CronSchedule,
    stop: threading.Event,
    *,
    clock: Clock | None = None,
    run: ApiRun | None = None,
) -> int:
    """Run REST source ``name`` at each time of ``schedule`` until ``stop``; return the
    number of runs started. A failed run is logged; the next time comes as usual."""
    clock = clock or RealClock()
    run = run or _default_api_run
    runs = 0
    log.info("API source %s on cron %r", name, schedule.expression)
    while not stop.is_set():
        when = schedule.next_after(clock.now())
        if wait_until(clock, stop, when):
            break
        runs += 1
        try:
            run(settings, name)
        except EventlakeError as exc:
            log.error("API source %s run failed: %s", name, exc)
    return runs


def _watch_csv(settings: Settings, name: str, stop: threading.Event) -> None:
    from eventlake.sources import open_csv_source

    source = open_csv_source(settings, name)
    log.info("CSV source %s: watching %s", name, source.input_dir)

    def outcome(o: object) -> None:
        log.info("CSV source %s: %s", name, getattr(o, "to_dict", lambda: o)())

    def error(exc: Exception) -> None:
        log.error("CSV source %s: %s (will retry)", name, exc)

    source.watch(stop, on_outcome=outcome, on_error=error)


def run_sources(settings: Settings, stop: threading.Event) -> None:
    """The sources child's body: every CSV watcher and REST schedule, until ``stop``.

    Raises:
        ConfigError: no source is configured, or a schedule names an unknown source.
    """
    if not settings.sources.csv and not settings.sources.api:
        raise ConfigError(
            "no sources configured: add [sources.csv.NAME] or [sources.api.NAME] to "
            "eventlake.toml (or run `eventlake up` without --role sources)"
        )
    threads: list[threading.Thread] = []
    failed = threading.Event()

    def guarded(target: Callable[[], object], label: str) -> Callable[[], None]:
        def body() -> None:
            try:
                target()
            except Exception:
                log.exception("%s stopped on an error", label)
                failed.set()
                stop.set()

        return body

    for name in sorted(settings.sources.csv):
        body: Callable[[], object] = functools.partial(_watch_csv, settings, name, stop)
        threads.append(
            threading.Thread(target=guarded(body, f"CSV source {name}"), name=f"csv-{name}")
        )
    for name, schedule in api_schedules(settings).items():
        if schedule is None:
            log.info("API source %s: schedule off", name)
            continue
        body = functools.partial(run_api_on_schedule, settings, name, schedule, stop)
        threads.append(
            threading.Thread(target=guarded(body, f"API source {name}"), name=f"api-{name}")
        )
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed.is_set():
        # a thread died of a bug: exit non-zero so that the supervisor restarts the child
        raise SystemExit(1)
