"""Durable incremental state of a REST API source, kept in the lake's commit records.

The state of a resource is never a separate file that could disagree with the data: it is
read back from the commit records of stream ``sources.<name>``, so it advances in the very
same atomic step as the data it covers. Two kinds of commit::

    chunk   data files of one resource; meta: run_id, resource, generation, start_cursor,
            units_done (parent keys finished in this chunk), schema, cursor_max, rows
    state   no files; meta: run_id, states: {resource: {cursor, generation, schema}}
            written once every resource of a parent/child group finished without error

A crash leaves chunks without a state commit: their rows are in the lake (the warehouse
load deduplicates by primary key) and their ``units_done`` let the next run with the same
generation and start cursor skip the parent keys already fetched. ``--full-refresh`` starts
generation ``g + 1``; the warehouse loads the files of the newest completed generation and
later.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

from eventlake.lake import Lake

__all__ = ["ResourceState", "SourceState", "new_run_id", "read_state", "stream_name"]


def stream_name(source: str) -> str:
    """The lake commit stream of a source."""
    return f"sources.{source}"


def new_run_id() -> str:
    """A run id that sorts by start time: ``YYYYMMDDTHHMMSSffffffZ-xxxx``."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{now}-{secrets.token_hex(2)}"


@dataclass
class ResourceState:
    """What the lake knows about one resource."""

    cursor: Any = None
    generation: int = 0
    completed_run: str | None = None
    completed_at: float | None = None
    schema: dict[str, str] = field(default_factory=dict)
    # (generation, path, rows, commit_id) of every chunk file
    files: list[tuple[int, str, int, str]] = field(default_factory=list)
    # (generation, json start cursor) -> parent keys done by runs since the last state commit
    pending: dict[tuple[int, str], set[str]] = field(default_factory=dict)
    pending_runs: set[str] = field(default_factory=set)

    def current_files(self) -> list[tuple[str, str]]:
        """(path, commit_id) of the files the warehouse table is built from."""
        return [(p, c) for g, p, _, c in self.files if g >= self.generation]

    def rows(self) -> int:
        return sum(r for g, _, r, _ in self.files if g >= self.generation)

    def done_units(self, generation: int, start_cursor: str) -> set[str]:
        return self.pending.get((generation, start_cursor), set())


@dataclass
class SourceState:
    """Per-resource state of one source, and the number of commits read."""

    resources: dict[str, ResourceState]
    commits: int

    def of(self, resource: str) -> ResourceState:
        return self.resources.setdefault(resource, ResourceState())


def read_state(lake: Lake, source: str) -> SourceState:
    """Replay the commit records of ``sources.<source>`` into per-resource state."""
    out: dict[str, ResourceState] = {}
    n = 0
    for record in lake.commits(stream_name(source)):
        n += 1
        if lake.is_local:
            # Finish a commit whose renames a crash interrupted (only this stream's files:
            # Lake.recover() would also delete other writers' in-flight temporary files).
            lake._roll_forward(record)
        meta = record.meta
        kind = meta.get("kind")
        if kind == "chunk":
            rs = out.setdefault(meta["resource"], ResourceState())
            gen = int(meta.get("generation", 0))
            for f in record.files:
                rs.files.append((gen, f.path, f.rows, record.commit_id))
            for name, typ in dict(meta.get("schema", {})).items():
                if typ != "null" or name not in rs.schema:
                    rs.schema[name] = typ
            key = (gen, str(meta.get("start_cursor")))
            rs.pending.setdefault(key, set()).update(meta.get("units_done", []))
            rs.pending_runs.add(meta["run_id"])
        elif kind == "state":
            for name, st in dict(meta.get("states", {})).items():
                rs = out.setdefault(name, ResourceState())
                rs.cursor = st.get("cursor")
                rs.generation = int(st.get("generation", 0))
                rs.completed_run = meta.get("run_id")
                rs.completed_at = record.created_at
                rs.pending.clear()
                rs.pending_runs.clear()
    return SourceState(out, n)
