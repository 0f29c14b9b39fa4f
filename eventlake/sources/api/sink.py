"""Per-resource buffer of the REST API source: rows in, atomic lake commits out.

A :class:`ResourceSink` collects flattened rows and the parent keys finished since the last
flush; at ``chunk_rows`` rows or ``chunk_seconds`` it writes one Parquet file and its commit
record (a ``chunk`` commit, see :mod:`eventlake.sources.api.state`). Commits run in a worker
thread so extraction keeps going; a sink's flushes are serialised, so its files and
``units_done`` stay in order. Schema drift is checked batch by batch against everything the
lake already holds for the resource.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from eventlake.lake import Lake, PendingFile
from eventlake.sources.api.load import COMMIT_COLUMN, EXTRACTED_COLUMN
from eventlake.sources.api.normalize import compare_schemas, merge_schema, to_table
from eventlake.sources.api.state import stream_name

__all__ = ["ResourceSink"]

log = logging.getLogger("eventlake.sources.api")


class ResourceSink:
    """Buffers one resource's rows of one run and commits them in chunks."""

    def __init__(
        self,
        *,
        lake: Lake,
        source: str,
        resource: str,
        run_id: str,
        generation: int,
        start_cursor: Any,
        known_schema: dict[str, str],
        chunk_rows: int,
        chunk_seconds: float,
        next_seq: Callable[[], int],
    ) -> None:
        self.lake = lake
        self.source = source
        self.resource = resource
        self.run_id = run_id
        self.generation = generation
        self.start_cursor = json.dumps(start_cursor, default=str)
        self.schema = dict(known_schema)
        self.chunk_rows = chunk_rows
        self.chunk_seconds = chunk_seconds
        self.next_seq = next_seq
        self.rows: list[dict[str, Any]] = []
        self.units: list[str] = []
        self.first_at: float | None = None
        self.cursor_max: Any = None
        self.records = 0
        self.files = 0
        self.drift: list[str] = []
        self._lock = asyncio.Lock()

    def see_cursor(self, value: Any) -> None:
        """Track the largest cursor value of the run."""
        if value is None:
            return
        if self.cursor_max is None:
            self.cursor_max = value
            return
        try:
            if value > self.cursor_max:
                self.cursor_max = value
        except TypeError:
            if str(value) > str(self.cursor_max):
                self.cursor_max = value

    async def add(self, rows: list[dict[str, Any]]) -> None:
        """Buffer flattened rows; flush when the chunk is full or old."""
        if not rows:
            return
        if self.first_at is None:
            self.first_at = time.monotonic()
        self.rows.extend(rows)
        self.records += len(rows)
        if len(self.rows) >= self.chunk_rows or (
            time.monotonic() - self.first_at >= self.chunk_seconds
        ):
            await self.flush()

    def unit_done(self, key: str) -> None:
        """A parent key's pages are all buffered: record it with the next flush."""
        self.units.append(key)

    async def flush(self) -> None:
        """Commit the buffered rows (and finished units) to the lake; durable on return."""
        async with self._lock:
            rows, units = self.rows, self.units
            self.rows, self.units, self.first_at = [], [], None
            if not rows and not units:
                return
            await asyncio.to_thread(self._commit, rows, units)

    def _commit(self, rows: list[dict[str, Any]], units: list[str]) -> None:
        seq = self.next_seq()
        commit_id = f"{self.run_id}-{seq:06d}"
        files: list[PendingFile] = []
        schema: dict[str, str] = {}
        if rows:
            now = dt.datetime.now(dt.UTC)
            extra = {
                COMMIT_COLUMN: pa.array([commit_id] * len(rows), pa.string()),
                EXTRACTED_COLUMN: pa.array([now] * len(rows), pa.timestamp("us", tz="UTC")),
            }
            table, schema, mixed = to_table(rows, extra)
            drift = compare_schemas(self.schema, schema)
            drift += [f"column {m!r} has values of mixed types (kept as string)" for m in mixed]
            for msg in drift:
                text = f"{self.resource}: schema drift: {msg}"
                if text not in self.drift:
                    self.drift.append(text)
                    log.warning("source %s: %s", self.source, text)
            merge_schema(self.schema, schema.items())
            path = f"sources/{self.source}/{self.resource}/{commit_id}.parquet"
            files.append(PendingFile(path, table))
            self.files += 1
        meta = {
            "kind": "chunk",
            "run_id": self.run_id,
            "resource": self.resource,
            "generation": self.generation,
            "start_cursor": self.start_cursor,
            "units_done": units,
            "schema": schema,
            "rows": len(rows),
            "cursor_max": self.cursor_max,
        }
        self.lake.commit(stream_name(self.source), commit_id, files, meta)
