"""REST API source: paginated, incremental, parallel, resumable extraction to lake + warehouse.

``run_api_source(settings, name)`` reads the source's YAML definition
(:mod:`~eventlake.sources.api_spec`), replays its durable state from the lake's commit
records (:mod:`~eventlake.sources.api_state`), then extracts every resource with httpx and
asyncio (:mod:`~eventlake.sources.api_extract`) under one rate limit and one concurrency
bound (:mod:`~eventlake.sources.api_http`). Records land as Parquet under
``<lake>/sources/<name>/<resource>/`` in chunk commits (:mod:`~eventlake.sources.api_sink`);
finally every resource that completed is rebuilt in ``raw.<source>__<resource>`` in one
warehouse transaction, deduplicated by primary key (:mod:`~eventlake.sources.api_load`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from typing import Any

from eventlake.config import Settings
from eventlake.errors import ConfigError, EventlakeError
from eventlake.lake import Lake, open_lake
from eventlake.sources.api_extract import Extraction, Progress, table_name
from eventlake.sources.api_load import TableLoad, column_name, load_tables
from eventlake.sources.api_result import ApiRunResult, ResourceResult
from eventlake.sources.api_spec import ApiDefinition, load_definition
from eventlake.sources.api_state import read_state

__all__ = [
    "ApiRunResult",
    "ResourceResult",
    "api_source_status",
    "open_api_source",
    "run_api_source",
]


def open_api_source(settings: Settings, name: str) -> tuple[ApiDefinition, Lake]:
    """The parsed definition of source ``name`` and the lake it lands in.

    Raises:
        ConfigError: no such source, or its definition is invalid.
    """
    cfg = settings.sources.api.get(name)
    if cfg is None:
        known = ", ".join(sorted(settings.sources.api)) or "none configured"
        raise ConfigError(f"no API source {name!r} in [sources.api] (known: {known})")
    definition = load_definition(settings.resolve(cfg.definition), base_url=cfg.base_url)
    return definition, open_lake(settings.lake_uri(), settings.lake.storage_options)


@contextlib.contextmanager
def _run_lock(lake: Lake, source: str) -> Iterator[None]:
    """One run per source at a time (local lakes; object stores rely on the operator)."""
    if not lake.is_local:
        yield
        return
    folder = lake.local_path("sources", source)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, ".run.lock"), "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EventlakeError(f"API source {source!r} is already running") from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def run_api_source(
    settings: Settings,
    name: str,
    *,
    full_refresh: bool = False,
    resources: list[str] | None = None,
    load_warehouse: bool = True,
    progress: Progress | None = None,
) -> ApiRunResult:
    """Extract source ``name`` into the lake and load its raw tables; idempotent.

    Args:
        full_refresh: ignore saved cursors and rebuild every table from a new generation.
        resources: only these resources, each with its parent/child group; default all.
        load_warehouse: also rebuild the raw tables (off: lake only).
        progress: called now and then with (requests, records) so far.

    Returns:
        the run's result; ``result.ok`` is false when a resource failed (its error names
        the URL and status; its state is not advanced).
    """
    definition, lake = open_api_source(settings, name)
    with _run_lock(lake, name):
        state = read_state(lake, name)
        run = Extraction(name, definition, lake, state, full_refresh, progress)
        started = time.monotonic()
        asyncio.run(run.execute(resources))
        run.result.extract_seconds = round(time.monotonic() - started, 3)
        result = run.result
        if load_warehouse and settings.warehouse.backend == "duckdb":
            result.loaded = _load(settings, lake, name, definition, result)
        result.seconds = round(time.monotonic() - started, 3)
    return result


def _load(
    settings: Settings, lake: Lake, name: str, d: ApiDefinition, result: ApiRunResult
) -> dict[str, int]:
    state = read_state(lake, name)
    loads = []
    for r in result.resources:
        if r.status != "ok":
            continue
        spec = d.resources[r.name]
        rs = state.of(r.name)
        loads.append(
            TableLoad(
                table=r.table,
                files=[p for p, _ in rs.current_files()],
                primary_key=[column_name(k) for k in spec.primary_key],
                cursor=column_name(spec.incremental.cursor_field) if spec.incremental else None,
            )
        )
    return load_tables(settings.resolve(settings.warehouse.path), lake, loads)


def api_source_status(settings: Settings, name: str) -> dict[str, Any]:
    """Saved state of every resource of ``name``: cursor, generation, rows, resumable work."""
    definition, lake = open_api_source(settings, name)
    state = read_state(lake, name)
    out: dict[str, Any] = {"source": name, "commits": state.commits, "resources": []}
    for rname in definition.ordered():
        spec = definition.resources[rname]
        rs = state.of(rname)
        out["resources"].append(
            {
                "name": rname,
                "table": f"raw.{table_name(name, rname, spec)}",
                "cursor": rs.cursor,
                "generation": rs.generation,
                "last_completed_run": rs.completed_run,
                "last_completed_at": rs.completed_at,
                "lake_rows": rs.rows(),
                "lake_files": len(rs.current_files()),
                "columns": len(rs.schema),
                "interrupted_runs": sorted(rs.pending_runs),
                "resumable_units": sum(len(u) for u in rs.pending.values()),
            }
        )
    return out
