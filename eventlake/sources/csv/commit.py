"""How a CSV ingest's passed rows are made durable: lake commit(s), then one warehouse load.

The passed files' rows, with ``_source_file``, become Parquet in
``<lake>/sources/<dataset>/ingest_date=YYYY-MM-DD/``. A small ingest is one lake commit (one
file); a large one is cut into up to ``workers`` parts of at least :data:`PART_ROWS` rows,
each its own commit, written in parallel (a Parquet write is single-threaded). Every commit
record lists its files' content hashes; that is the commit point and the durable memory of
what loaded (:func:`eventlake.sources.csv.files.loaded_hashes`). Then ONE warehouse write
transaction loads every commit the warehouse lacks, on whatever engine is configured
(:meth:`~eventlake.warehouse.base.WriteTransaction.load_source` with
:class:`~eventlake.warehouse.source_tables.AppendCommits`); the engine may insert the rows
while the Parquet files are being written (DuckDB's ``table`` mode does), and makes the
load durable only once the lake commits are.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from eventlake.config import CsvDatasetConfig
from eventlake.lake import Lake, PendingFile
from eventlake.sources.csv.files import lake_file_path
from eventlake.sources.csv.result import LINEAGE_FIELD, PassedFiles, with_lineage
from eventlake.sources.csv.schema import CsvSchema
from eventlake.warehouse.source_tables import AppendCommits

if TYPE_CHECKING:
    from eventlake.warehouse.base import Warehouse

__all__ = [
    "PART_ROWS",
    "CommitPart",
    "commit_passed",
    "cut",
    "load_commits",
    "plan_parts",
    "table_columns",
]

#: Fewest rows worth a lake commit of their own (written in parallel with the others).
PART_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class CommitPart:
    """One lake commit of an ingest: its id, file, rows and the record's metadata."""

    commit_id: str
    file: PendingFile
    meta: Mapping[str, Any]


def cut(rows: Sequence[int], parts: int) -> list[tuple[int, int]]:
    """Cut files (their row counts, in order) into up to ``parts`` runs of similar rows.

    Returns ``(first, end)`` file index ranges; every run holds at least one file.
    """
    total, n = sum(rows), len(rows)
    parts = max(1, min(parts, n))
    out: list[tuple[int, int]] = []
    start = taken = 0
    for k in range(parts):
        goal = total * (k + 1) // parts
        last = n - (parts - k - 1)  # leave a file for each part still to cut
        end = start + 1
        taken += rows[start]
        # Take the next file while that brings the cut closer to the goal.
        while end < last and abs(taken + rows[end] - goal) <= abs(taken - goal):
            taken += rows[end]
            end += 1
        if k == parts - 1:
            end = n
        out.append((start, end))
        start = end
    return out


def plan_parts(
    passed: PassedFiles, dataset: str, table_name: str, parts: int, now: datetime | None = None
) -> list[CommitPart]:
    """The lake commits of the passed files: whole files, in order, ``parts`` at most.

    Sets each outcome's ``commit_id`` and ``moved_to`` (its lake file, before the token).
    """
    now = now or datetime.now(UTC)
    day = f"{now:%Y-%m-%d}"
    table = with_lineage(passed)
    rows = [o.rows for _, o in passed.files]
    out: list[CommitPart] = []
    offset = 0
    for first, end in cut(rows, parts):
        files = passed.files[first:end]
        count = sum(rows[first:end])
        digest = hashlib.sha256("".join(sorted(pf.sha256 for pf, _ in files)).encode())
        commit_id = f"{now:%Y%m%dT%H%M%S%f}-{digest.hexdigest()[:12]}"
        path = lake_file_path(dataset, day, commit_id)
        meta = {
            "dataset": dataset,
            "table": table_name,
            "files": [
                {
                    "name": o.file,
                    "sha256": o.sha256,
                    "rows": o.rows,
                    "empty_rows": o.empty_rows,
                    "encoding": o.encoding,
                    "delimiter": o.delimiter,
                }
                for _, o in files
            ],
        }
        for _, o in files:
            o.moved_to = path
            o.commit_id = commit_id
        pending = PendingFile(path, table.slice(offset, count), {"ingest_date": day})
        out.append(CommitPart(commit_id, pending, meta))
        offset += count
    return out


def table_columns(schema: CsvSchema) -> pa.Schema:
    """The warehouse table's columns: the schema's, then the lineage column."""
    return schema.arrow_schema().append(LINEAGE_FIELD)


def commit_passed(
    config: CsvDatasetConfig,
    *,
    name: str,
    schema: CsvSchema,
    lake: Lake,
    warehouse: Warehouse,
    passed: PassedFiles,
    compression: str = "zstd",
    pool: Executor | None = None,
) -> tuple[list[str], list[str]]:
    """Commit ``passed`` to the lake and load the warehouse; (commit ids, warehouse commits).

    The lake commits run on ``pool`` (default: threads of their own), the warehouse load
    (:class:`~eventlake.warehouse.source_tables.AppendCommits` in one write transaction of
    ``warehouse``, whatever its engine) on the calling thread.

    Durable on return. If a lake commit or the warehouse fails, the error propagates and
    nothing is tidied: the next ingest finds committed files as duplicates and the
    warehouse catches up on any commit it missed.
    """
    rows = sum(o.rows for _, o in passed.files)
    wanted = max(1, min(config.workers, rows // PART_ROWS))
    parts = plan_parts(passed, name, config.table, wanted)
    stream = f"sources.{name}"

    def lake_commit(part: CommitPart) -> object:
        return lake.commit(stream, part.commit_id, [part.file], part.meta, compression=compression)

    ids = [p.commit_id for p in parts]
    with contextlib.ExitStack() as stack:
        if pool is None:
            pool = stack.enter_context(ThreadPoolExecutor(len(parts)))
        futures: list[Future[object]] = [pool.submit(lake_commit, p) for p in parts]
        stack.callback(_settle, futures)  # never return while a lake commit still runs

        def wait() -> None:
            for f in futures:
                f.result()

        # The warehouse work overlaps the Parquet writes (both release the GIL) and waits
        # for the lake commits, the commit point, before the load is made durable (``ready``):
        # in table mode the rows are handed over meanwhile (``fresh``: not read back); in
        # view mode, which lists committed files, only the transaction is opened.
        fresh: dict[str, pa.Table] = {}
        if config.load_mode == "table":
            fresh = {p.commit_id: p.file.table for p in parts}
        done = load_commits(
            config,
            name=name,
            schema=schema,
            lake=lake,
            warehouse=warehouse,
            fresh=fresh,
            ready=wait,
        )
        wait()  # an engine that had nothing new to load may not have called it
    return ids, done


def load_commits(
    config: CsvDatasetConfig,
    *,
    name: str,
    schema: CsvSchema,
    lake: Lake,
    warehouse: Warehouse,
    fresh: Mapping[str, pa.Table] | None = None,
    ready: Callable[[], object] | None = None,
) -> list[str]:
    """Load every commit of ``sources.<name>`` the warehouse lacks, in one write transaction
    (``fresh``/``ready``: see :class:`~eventlake.warehouse.source_tables.AppendCommits`);
    returns the commit ids loaded. Idempotent: with nothing missing it loads nothing."""
    load = AppendCommits(
        stream=f"sources.{name}",
        table=config.table,
        columns=table_columns(schema),
        mode=config.load_mode,
        fresh=dict(fresh or {}),
        ready=ready,
        setting=f"sources.csv.{name}.load_mode",
    )
    with warehouse.transaction() as tx:
        return list(tx.load_source(lake, load).commits)


def _settle(futures: Sequence[Future[object]]) -> None:
    for f in futures:
        f.exception()  # waits; the error itself is raised by ``wait`` or was superseded
