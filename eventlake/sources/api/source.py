"""REST API source: paginated, incremental, parallel, resumable extraction to lake + warehouse.

:class:`ApiSource` is the stage object of one source (``[sources.api.<name>]``): its parsed
definition (:mod:`~eventlake.sources.api.spec`), a lake and a warehouse;
:func:`open_api_source` builds one from the settings, and :func:`run_api_source` and
:func:`api_source_status` are the settings-level entry points of ``eventlake sources api``.

A run replays the source's durable state from the lake's commit records
(:mod:`~eventlake.sources.api.state`), then extracts every resource with httpx and asyncio
(:mod:`~eventlake.sources.api.extract`) under one rate limit and one concurrency bound
(:mod:`~eventlake.sources.api.http`). Records land as Parquet under
``<lake>/sources/<name>/<resource>/`` in chunk commits (:mod:`~eventlake.sources.api.sink`);
finally every resource that completed is rebuilt in ``raw.<source>__<resource>``,
deduplicated by primary key, in one write transaction of the configured warehouse, whatever
its engine (:mod:`~eventlake.sources.api.load`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eventlake.config import ApiSourceConfig, Settings
from eventlake.errors import ConfigError, EventlakeError
from eventlake.lake import Lake, open_lake
from eventlake.sources.api.extract import Extraction, Progress, table_name
from eventlake.sources.api.load import table_loads
from eventlake.sources.api.result import (
    ApiRunResult,
    ApiSourceStatus,
    ResourceResult,
    ResourceStatus,
)
from eventlake.sources.api.spec import ApiDefinition, load_definition
from eventlake.sources.api.state import read_state

if TYPE_CHECKING:
    from pathlib import Path

    from eventlake.warehouse.base import Warehouse

__all__ = [
    "ApiRunResult",
    "ApiSource",
    "ResourceResult",
    "api_source_status",
    "open_api_source",
    "run_api_source",
]


@dataclass
class ApiSource:
    """One REST API source bound to a lake and a warehouse."""

    name: str
    definition: ApiDefinition
    lake: Lake
    warehouse: Warehouse

    @classmethod
    def from_config(
        cls,
        name: str,
        config: ApiSourceConfig,
        definition_path: Path,
        *,
        lake: Lake,
        warehouse: Warehouse,
    ) -> ApiSource:
        """The source of ``config`` whose definition file is ``definition_path`` (resolved).

        Raises:
            ConfigError: the definition is invalid (the file and key are named).
        """
        definition = load_definition(definition_path, base_url=config.base_url)
        return cls(name, definition, lake, warehouse)

    def run(
        self,
        *,
        full_refresh: bool = False,
        resources: list[str] | None = None,
        load_warehouse: bool = True,
        progress: Progress | None = None,
    ) -> ApiRunResult:
        """Extract into the lake and load the raw tables; idempotent.

        Args:
            full_refresh: ignore saved cursors and rebuild every table from a new generation.
            resources: only these resources, each with its parent/child group; default all.
            load_warehouse: also rebuild the raw tables (off: lake only).
            progress: called now and then with (requests, records) so far.

        Returns:
            the run's result; ``result.ok`` is false when a resource failed (its error
            names the URL and status; its state is not advanced).
        """
        with _run_lock(self.lake, self.name):
            state = read_state(self.lake, self.name)
            run = Extraction(self.name, self.definition, self.lake, state, full_refresh, progress)
            started = time.monotonic()
            asyncio.run(run.execute(resources))
            run.result.extract_seconds = round(time.monotonic() - started, 3)
            result = run.result
            if load_warehouse:
                result.loaded = self.load(result.resources)
            result.seconds = round(time.monotonic() - started, 3)
        return result

    def load(self, resources: list[ResourceResult]) -> dict[str, int]:
        """Rebuild the raw table of every completed resource in one write transaction;
        returns the rows of each table (by its name without schema)."""
        loads = table_loads(self.name, self.definition, read_state(self.lake, self.name), resources)
        loaded: dict[str, int] = {}
        if not any(load.files for load in loads):
            return loaded
        with self.warehouse.transaction() as tx:
            for load in loads:
                if load.files:
                    loaded[load.table] = tx.load_source(self.lake, load).rows
        return loaded

    def status(self) -> ApiSourceStatus:
        """Saved state of every resource: cursor, generation, rows, resumable work."""
        state = read_state(self.lake, self.name)
        out = []
        for rname in self.definition.ordered():
            spec = self.definition.resources[rname]
            rs = state.of(rname)
            out.append(
                ResourceStatus(
                    name=rname,
                    table=f"raw.{table_name(self.name, rname, spec)}",
                    cursor=rs.cursor,
                    generation=rs.generation,
                    last_completed_run=rs.completed_run,
                    last_completed_at=rs.completed_at,
                    lake_rows=rs.rows(),
                    lake_files=len(rs.current_files()),
                    columns=len(rs.schema),
                    interrupted_runs=sorted(rs.pending_runs),
                    resumable_units=sum(len(u) for u in rs.pending.values()),
                )
            )
        return ApiSourceStatus(self.name, state.commits, out)


def open_api_source(settings: Settings, name: str) -> ApiSource:
    """Source ``name`` of ``settings``, on the settings' lake and warehouse.

    Raises:
        ConfigError: no such source, or its definition or the warehouse settings are
            invalid.
    """
    from eventlake.warehouse import open_warehouse

    cfg = settings.sources.api.get(name)
    if cfg is None:
        known = ", ".join(sorted(settings.sources.api)) or "none configured"
        raise ConfigError(f"no API source {name!r} in [sources.api] (known: {known})")
    return ApiSource.from_config(
        name,
        cfg,
        settings.resolve(cfg.definition),
        lake=open_lake(settings.lake_uri(), settings.lake.storage_options),
        warehouse=open_warehouse(settings),
    )


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
    """Extract source ``name`` of ``settings`` and load its raw tables (:meth:`ApiSource.run`)."""
    return open_api_source(settings, name).run(
        full_refresh=full_refresh,
        resources=resources,
        load_warehouse=load_warehouse,
        progress=progress,
    )


def api_source_status(settings: Settings, name: str) -> ApiSourceStatus:
    """Saved state of source ``name`` of ``settings`` (:meth:`ApiSource.status`)."""
    return open_api_source(settings, name).status()
