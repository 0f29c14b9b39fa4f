"""`eventlake demo` as a library function: from an empty folder to built models and answers.

:func:`run_demo` only sequences the stages, each through its own public API: write the
example project (``project``), start the collector (``collect``) on 127.0.0.1, generate a
game world (``generate``) whose bulk goes straight to the bus and whose latest events go
live over HTTP through the tracker SDK, land and build (``pipeline.run``), then read the
summary back from the warehouse and the reconciliation from ``pipeline.collect_status``.
The CLI (``cli/demo.py``) prints the :class:`DemoResult` and serves the dashboard.

Idempotent: the folder remembers the world it holds (``data/demo.json``); a re-run with the
same world reuses it, a different world (or an interrupted run) starts from an empty
``data/`` folder, so data is never doubled.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eventlake.config import Settings
from eventlake.errors import ConfigError, EventlakeError

__all__ = [
    "DEMO_MARKER",
    "DemoResult",
    "DemoSummary",
    "collector_socket",
    "read_summary",
    "run_demo",
]

DEMO_MARKER = "demo.json"

#: ``stage(name, total)`` returns an ``advance(n)`` callable; how the CLI shows progress.
StageHook = Callable[[str, int | None], Callable[[int], None]]


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What the demo prints: headline metrics from the warehouse and the reconciliation."""

    days: int
    dau_latest: int
    dau_average: float
    revenue: float
    currency: str
    purchasers: int
    top_items: list[tuple[str, int, float]]
    top_hosts: list[tuple[str, int, int]]
    retention_week1: float | None
    received: int | None
    landed: int
    quarantined: int
    modeled: int | None
    duplicates: int
    reconciled: bool


@dataclass(frozen=True, slots=True)
class DemoResult:
    """One demo run: the world, what went where, how long each stage took, the summary."""

    directory: str
    users: int
    days: int
    seed: int
    start: str
    generated: int
    sent_live: int
    sent_to_bus: int
    reused: bool
    seconds: float
    stage_seconds: dict[str, float] = field(default_factory=dict)
    summary: DemoSummary | None = None
    notes: list[str] = field(default_factory=list)
    #: the port the demo's collector listened on (None when the world was reused)
    collector_port: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _no_progress(name: str, total: int | None) -> Callable[[int], None]:
    return lambda n: None


def _check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".eventlake-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"demo folder {directory} is not writable ({exc.strerror or exc}); "
            "choose another with `eventlake demo DIR`"
        ) from exc


def collector_socket(host: str, wanted: int | None, default: int) -> tuple[Any, list[str]]:
    """A listening socket for the demo's collector, bound now, and what to tell the user.

    ``wanted`` (an explicit port) must be free. Without one the configured port is tried and,
    when another program holds it, a free port is picked instead: the demo's collector
    lives only as long as the demo, so any port does.

    Raises:
        PortInUseError: ``wanted`` is taken.
    """
    from eventlake.errors import PortInUseError
    from eventlake.serve.server import bind_socket

    if wanted is not None:
        try:
            return bind_socket(host, wanted), []
        except PortInUseError as exc:
            raise PortInUseError(
                f"the demo collector's port {host}:{wanted} is already in use: stop the other "
                "server or choose another collector port"
            ) from exc
    try:
        return bind_socket(host, default), []
    except PortInUseError:
        sock = bind_socket(host, 0)
        port = sock.getsockname()[1]
        return sock, [
            f"port {default} (collect.port) is in use, so the demo's collector listened on "
            f"{host}:{port} instead"
        ]


class _CollectorThread:
    """The collector app served by uvicorn on an already bound socket, in a thread."""

    def __init__(self, app: Any, sock: Any) -> None:
        import uvicorn

        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.sock = sock
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise EventlakeError("the demo collector did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


@contextmanager
def _timed(stages: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        stages[name] = round(time.perf_counter() - started, 2)


def run_demo(
    directory: Path,
    *,
    users: int = 5000,
    days: int = 30,
    seed: int = 42,
    start: _dt.date | None = None,
    collector_port: int | None = None,
    live_events: int = 20_000,
    workers: int = 1,
    stage: StageHook | None = None,
) -> DemoResult:
    """Set up ``directory``, generate, land, build and summarise (the part before serving).

    Args:
        directory: the demo project folder (created; reused when it holds the same world).
        users, days, seed, start: the world (``start`` defaults to ``days`` days ago).
        collector_port: port of the collector on 127.0.0.1; None: ``collect.port``, or a
            free port (named in the result's notes) when that one is taken.
        live_events: how many of the latest events go over HTTP through the tracker SDK
            (the rest goes straight to the bus).
        workers: processes writing the bulk to the bus.
        stage: progress hook, see :data:`StageHook`.

    Raises:
        ConfigError: the folder is not writable.
        PortInUseError: the ``collector_port`` given is taken.
    """
    from eventlake.config import load_config
    from eventlake.project import write_example_project

    started = time.perf_counter()
    hook = stage or _no_progress
    directory = directory.expanduser().resolve()
    _check_writable(directory)
    write_example_project(directory)
    settings = load_config(directory / "eventlake.toml")
    first = start or (_dt.datetime.now(_dt.UTC).date() - _dt.timedelta(days=days))
    world_id = {"users": users, "days": days, "seed": seed, "start": first.isoformat()}
    data_dir = settings.resolve("data")
    marker = data_dir / DEMO_MARKER
    stages: dict[str, float] = {}
    held = json.loads(marker.read_text()) if marker.is_file() else {}
    if held.get("world") == world_id:
        with _timed(stages, "summary"):
            summary = read_summary(settings)
        return DemoResult(
            str(directory),
            users,
            days,
            seed,
            first.isoformat(),
            held["generated"],
            held["sent_live"],
            held["sent_to_bus"],
            True,
            round(time.perf_counter() - started, 2),
            stages,
            summary,
            ["reused the world already in this folder (delete data/ to start over)"],
        )
    # Bound now, so a taken port fails before the data folder is touched or anything built.
    host = "127.0.0.1"
    collector_sock, notes = collector_socket(host, collector_port, settings.collect.port)
    port = int(collector_sock.getsockname()[1])
    if data_dir.exists():
        shutil.rmtree(data_dir)  # another world, or an interrupted run: start clean
    from eventlake.generate import WorldConfig

    world = WorldConfig(users=users, days=days, start=first, seed=seed)
    with collector_sock:
        generated, live, to_bus = _generate_and_build(
            settings, world, collector_sock, live_events, workers, hook, stages, notes
        )
    with _timed(stages, "summary"):
        summary = read_summary(settings)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(
        json.dumps(
            {"world": world_id, "generated": generated, "sent_live": live, "sent_to_bus": to_bus}
        )
    )
    return DemoResult(
        str(directory),
        users,
        days,
        seed,
        first.isoformat(),
        generated,
        live,
        to_bus,
        False,
        round(time.perf_counter() - started, 2),
        stages,
        summary,
        notes,
        collector_port=port,
    )


def _generate_and_build(
    settings: Settings,
    world_config: Any,
    collector_sock: Any,
    live_events: int,
    workers: int,
    hook: StageHook,
    stages: dict[str, float],
    notes: list[str],
) -> tuple[int, int, int]:
    """Simulate, bulk to the bus, the latest events live over HTTP, land and build.

    Returns (events generated, sent live, written to the bus).
    """
    import numpy as np

    from eventlake.collect import create_app
    from eventlake.generate import generate, send_http, write_bus_parallel
    from eventlake.pipeline import run as pipeline_run
    from eventlake.tracking_plan import plan_from_settings

    host, port = collector_sock.getsockname()[:2]
    keys = settings.write_keys()
    write_key = sorted(keys)[0]
    source = keys[write_key]
    with _timed(stages, "simulate"):
        advance = hook("simulating the world", None)
        world, frame = generate(world_config)
        advance(1)
    n = len(frame)
    live = min(live_events, n // 10)
    bulk_rows = np.arange(0, n - live, dtype=np.int64)
    live_rows = np.arange(n - live, n, dtype=np.int64)
    with _timed(stages, "bus"):
        advance = hook("bulk -> bus", len(bulk_rows))
        bulk = write_bus_parallel(
            world,
            frame,
            settings,
            source=source,
            plan=plan_from_settings(settings),
            rows=bulk_rows,
            workers=workers,
            progress=advance,
        )
    with _timed(stages, "live"):
        advance = hook(f"live -> collector :{port} (SDK)", live)
        server = _CollectorThread(create_app(settings), collector_sock)
        server.start()
        try:
            sent = send_http(
                world, frame, f"http://{host}:{port}", write_key, rows=live_rows, progress=advance
            )
        finally:
            server.stop()
        if sent.errors:
            notes.append(f"{sent.errors} live events were refused by the collector")
    with _timed(stages, "land+build"):
        advance = hook("land + build models", None)
        pipeline_run(settings)
        advance(1)
    return n, live, int(bulk.rows)


def daily_dau_of_complete_days(reader: Any, catalog_path: Any) -> list[tuple[Any, int]]:
    """(day, DAU) of every complete day of data: the dashboard's "Average DAU" definition.

    The days come from the same statement the API runs for the dashboard's KPI (DAU per
    day from ``daily_active_users``, grouped as the API groups it); the partial days, the
    first and the last day of data (``marts.data_coverage``), are left out.
    """
    from eventlake.serve.catalog import Catalog
    from eventlake.serve.params import parse_metric_query

    catalog = Catalog.parse(Path(catalog_path).read_bytes(), "summary")
    metric = catalog.metrics["daily_active_users"]
    query = parse_metric_query(
        metric, [("group_by", "activity_date"), ("measures", "dau")], max_limit=100_000
    )
    rows = reader.execute(query.sql, list(query.params)).rows
    coverage = reader.execute("select first_day, last_day from marts.data_coverage").rows
    partial = set(coverage[0]) if coverage else set()
    return [(day, int(dau)) for day, dau in rows if day not in partial]


def read_summary(settings: Settings) -> DemoSummary:
    """The headline metrics from the built warehouse (any engine, through its reader) and
    the pipeline's reconciliation."""
    from eventlake.pipeline import collect_status
    from eventlake.warehouse import open_warehouse

    catalog_path = settings.resolve(settings.models.dbt_dir) / "metrics_catalog.json"
    reader = open_warehouse(settings).reader()
    try:

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return reader.execute(sql).rows

        def one(sql: str) -> Any:
            found = rows(sql)
            return found[0][0] if found else None

        full_days = daily_dau_of_complete_days(reader, catalog_path)
        days = (
            one(
                "select count(*) from marts.dim_date d, marts.data_coverage c "
                "where d.date_day between c.first_day and c.last_day"
            )
            or 0
        )
        revenue = one("select coalesce(sum(revenue), 0) from marts.fct_purchases") or 0.0
        purchasers = one("select count(distinct user_key) from marts.fct_purchases") or 0
        items = rows(
            "select item, count(*), sum(revenue) from marts.fct_purchases "
            "group by 1 order by 3 desc limit 5"
        )
        hosts = rows(
            "select host_provider, count(distinct user_key), sum(events) "
            "from staging.int_user_days group by 1 order by 3 desc limit 5"
        )
        retention = one(
            "select sum(retained_users) * 1.0 / nullif(sum(cohort_users), 0) "
            "from metrics.retention_cohorts where weeks_since_signup = 1"
        )
    finally:
        reader.close()
    status = collect_status(settings)
    checks = status.reconciliation()
    return DemoSummary(
        days=int(days),
        dau_latest=full_days[-1][1] if full_days else 0,
        dau_average=round(sum(d for _, d in full_days) / max(len(full_days), 1), 1),
        revenue=round(float(revenue), 2),
        currency=settings.models.reporting_currency,
        purchasers=int(purchasers),
        top_items=[(str(i), int(c), round(float(r), 2)) for i, c, r in items],
        top_hosts=[(str(h), int(u), int(e)) for h, u, e in hosts],
        retention_week1=None if retention is None else round(float(retention), 4),
        received=status.received,
        landed=status.landed,
        quarantined=status.quarantined,
        modeled=status.modeled,
        duplicates=status.duplicates,
        reconciled=all(ok is True for _, ok in checks),
    )
