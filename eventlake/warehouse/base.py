"""The warehouse protocol: what every engine gives the stages (DuckDB, PostgreSQL, Spark).

Every engine (``warehouse/duckdb.py``, ``postgres.py``, ``spark.py``) implements exactly this
shape, ``open_warehouse`` (``warehouse/factory.py``) is the one place that reads
``warehouse.backend``, and ``tests/integration/warehouse/contract`` runs one suite over all
of them, like the bus (``bus/base.py``). Code outside ``eventlake/warehouse`` sees nothing
else: no engine SQL, no branch on the engine.

What a pipeline run does through it::

    wh = open_warehouse(settings)
    with wh.transaction() as tx:            # one writer at a time; published on success
        built = tx.models_built()
        raw = tx.load_raw(lake)             # the lake's new commits, days replaced
        tx.load_source(lake, AppendCommits(...))   # a batch source's commits (sources/)
        build_models(dbt_config, tx.dbt_target(), changed_days=raw.event_days)
    wh.counts(); wh.reader().execute("SELECT ...")   # status, query, serve

Contracts:

- **Write transaction.** One writer at a time per warehouse; the body's changes are
  published when it returns and a body that raises publishes nothing, where "nothing"
  means, per engine:

  - DuckDB: the published file is untouched (the body changed the unpublished generation
    file, which the next run catches up or replaces by a copy), so neither the raw load
    nor any model of the failed run is visible;
  - PostgreSQL and Spark change their tables in place: the raw tables hold the failed
    run's rows and the models that dbt finished before the failure are rebuilt (a failing
    model or test stops every model downstream of it, which keeps its previous rows).
    What is not published is the raw layer's bookkeeping (``raw._loaded_commits``,
    ``raw._lake_files``, ``raw._day_loads``): the lake commits of a failed run are not
    marked loaded, so the next run loads them again and rebuilds their days.

- **Raw layer.** :meth:`WriteTransaction.load_raw` runs the engine-neutral
  :func:`eventlake.warehouse.raw.load_raw`: idempotent, each touched day replaced.
- **Batch sources.** :meth:`WriteTransaction.load_source` loads a CSV or REST source's lake
  commits (stream ``sources.<name>``) into ``raw.<table>`` by one of two rules
  (``warehouse/source_tables.py``): ``AppendCommits``, each commit exactly once, bookkept
  in ``raw._source_commits``; ``LatestByKey``, the table rebuilt from a resource's current
  files, one row per primary key. A load that raises leaves, per engine:

  - DuckDB: the working generation as it was (one DuckDB transaction), and the run publishes
    nothing if the error leaves the body;
  - PostgreSQL: nothing: a load is one PostgreSQL transaction (table changes, rows and
    bookkeeping), committed when it returns; loads that returned before it stay;
  - Spark: no bookkeeping of its commits, so the next load writes them again, by
    overwriting (an appended commit is a partition of its own; a rebuilt table is
    rewritten whole): rows are never duplicated, but a rebuilt table may be missing until
    the next load succeeds.

  An engine that cannot follow a rule (a view over lake files outside DuckDB) raises
  :class:`~eventlake.errors.WarehouseError` naming the setting to change.
- **Reader.** Read-only by construction (a read-only file, a read-only transaction) and
  thread-safe; a write statement raises :class:`~eventlake.errors.QueryRefusedError`.
  Statements use ``?`` placeholders on every engine. Failures are raised as the same
  neutral types on every engine (``eventlake.errors``): nothing published yet
  :class:`~eventlake.errors.WarehouseMissingError`; a table, column or type the warehouse
  lacks :class:`~eventlake.errors.SchemaMismatchError`; the time and memory limits
  :class:`~eventlake.errors.QueryTimeoutError`, :class:`~eventlake.errors.QueryMemoryError`;
  any other fault of the statement :class:`~eventlake.errors.QueryError`; an unreachable
  engine :class:`~eventlake.errors.WarehouseError`. :class:`ReaderOptions` size and limit
  it; ``sandbox=True`` is the reader for SQL typed by users (``eventlake query``,
  ``POST /api/query``), which also drops every privilege the engine lets it drop.

An engine that cannot do something raises :class:`~eventlake.errors.WarehouseError` saying
so; it never skips.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from eventlake.lake import Lake
    from eventlake.warehouse.raw import RawLoadResult
    from eventlake.warehouse.source_tables import SourceLoad, SourceLoadResult

__all__ = [
    "NO_VERSION",
    "ColumnTypes",
    "DbtTarget",
    "ReadResult",
    "ReaderOptions",
    "Warehouse",
    "WarehouseCounts",
    "WarehouseReader",
    "WriteTransaction",
    "failed_rows_sql",
    "rows_text",
]

#: ``{(schema, relation): {column: type}}`` of built models, types lower-case as the engine
#: names them (the metrics catalog's column types).
ColumnTypes = dict[tuple[str, str], dict[str, str]]


@dataclass(frozen=True, slots=True)
class WarehouseCounts:
    """What ``eventlake status`` reads from the published warehouse.

    ``loaded_commits``: stream -> commit ids in ``raw._loaded_commits``; ``lake_rows``: raw
    table name -> rows of the lake files loaded (``raw._lake_files``); ``raw_events`` and
    ``distinct_events``: rows and distinct ``message_id`` of ``raw.events``; ``modeled``:
    rows of ``staging.stg_events`` (None before the first build); ``newest_received_at``:
    the newest ``received_at`` in ``raw.events`` (UTC).
    """

    loaded_commits: Mapping[str, frozenset[str]] = field(default_factory=dict)
    lake_rows: Mapping[str, int] = field(default_factory=dict)
    raw_events: int = 0
    distinct_events: int = 0
    modeled: int | None = None
    newest_received_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ReadResult:
    """Columns and rows of one statement on a reader (``truncated``: more than ``limit``)."""

    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False


#: :meth:`WarehouseReader.version` of a warehouse where nothing is published yet.
NO_VERSION = "none"


@dataclass(frozen=True, slots=True)
class ReaderOptions:
    """How a reader's connections are set up; each engine applies what it has.

    Attributes:
        connections: statements that may run at once (PostgreSQL: the pool's size; DuckDB
            gives each thread its own cursor).
        threads: engine threads per statement, 0 = the engine's default (DuckDB's
            ``threads``; PostgreSQL plans its own parallel workers).
        timeout: statement time limit in seconds; None = ``warehouse.read_timeout``.
        memory_mb: memory one statement may use, None = the engine's default. DuckDB: the
            reader's private instance's ``memory_limit``, with no spilling to disk;
            PostgreSQL: ``work_mem`` per sort or hash and ``temp_file_limit`` for what
            spills (where the login may set it).
        sandbox: the statements are typed by users: also drop what the engine lets a
            session drop (PostgreSQL: ``SET ROLE pg_read_all_data`` where the login may,
            session advisory locks released after every statement).
    """

    connections: int = 4
    threads: int = 0
    timeout: float | None = None
    memory_mb: int | None = None
    sandbox: bool = False


@runtime_checkable
class DbtTarget(Protocol):
    """How dbt builds in one write transaction; ``warehouse/dbt.py`` calls, in order:
    ``profile_output``, ``before_build``, (dbt runs), ``failure_samples`` or
    ``column_types``, and ``after_build`` always."""

    name: str

    def profile_output(self) -> dict[str, Any]:
        """The ``outputs.<name>`` entry of the generated ``profiles.yml``."""
        ...

    def before_build(self) -> None:
        """Prepare the engine for dbt in this process (Spark starts its session)."""
        ...

    def failure_samples(self, tests: Mapping[str, str], rows: int) -> dict[str, str]:
        """The first ``rows`` rows of each failed test ({unique_id: compiled SQL}) as text.

        A test whose rows cannot be read is left out (the error names it anyway).
        """
        ...

    def column_types(self) -> ColumnTypes:
        """Column types of the models just built (for the metrics catalog)."""
        ...

    def after_build(self) -> None:
        """Release what dbt holds before the transaction publishes (DuckDB closes
        dbt-duckdb's process-wide connection to the working copy). Called after every
        build, failed or not."""
        ...


@runtime_checkable
class WriteTransaction(Protocol):
    """The changes of one pipeline run; yielded by :meth:`Warehouse.transaction`."""

    def models_built(self) -> bool:
        """Whether the warehouse, as this transaction sees it, holds built models."""
        ...

    def load_raw(self, lake: Lake, *, reload_days: Iterable[dt.date] = ()) -> RawLoadResult:
        """Load the lake's new commits into the raw layer (see ``warehouse/raw.py``)."""
        ...

    def load_source(self, lake: Lake, load: SourceLoad) -> SourceLoadResult:
        """Load a batch source's lake commits into ``raw.<table>`` by ``load``'s rule
        (``warehouse/source_tables.py``): idempotent, every commit loaded exactly once.

        Raises:
            WarehouseError: the load failed (see the module docstring for what it left) or
                the engine cannot follow the rule (the message names the setting).
        """
        ...

    def dbt_target(self) -> DbtTarget:
        """Where dbt builds the models of this transaction."""
        ...


@runtime_checkable
class WarehouseReader(Protocol):
    """A read-only connection for ``query`` and ``serve``; thread-safe.

    Follows publishes: a statement runs on the newest published warehouse, and one still
    running when a build is published finishes on what it started with.
    """

    engine: str

    def version(self) -> str:
        """Changes whenever a new build is published (cache keys, ETags); cheap (a stat,
        a small file or one small query); :data:`NO_VERSION` before the first publish.

        Raises:
            WarehouseError: the engine cannot be reached.
        """
        ...

    def execute(
        self, sql: str, params: Sequence[Any] = (), *, limit: int | None = None
    ) -> ReadResult:
        """Run one statement with ``?`` placeholders bound to ``params``.

        Raises:
            WarehouseMissingError: nothing is published yet.
            QueryRefusedError: the statement tried to write, or to reach past the reader.
            SchemaMismatchError: it names a table, column or type the warehouse lacks.
            QueryTimeoutError, QueryMemoryError: it ran past a limit.
            QueryError: it failed otherwise.
            WarehouseError: the engine cannot be reached.
        """
        ...

    def close(self) -> None:
        """Release the connections."""
        ...


@runtime_checkable
class Warehouse(Protocol):
    """One configured warehouse. Opening it connects to nothing; methods do."""

    engine: str

    def transaction(self) -> AbstractContextManager[WriteTransaction]:
        """A write transaction: exclusive, published when the body returns."""
        ...

    def models_built(self) -> bool:
        """Whether the published warehouse holds built models (tables outside ``raw``)."""
        ...

    def counts(self) -> WarehouseCounts:
        """The figures of ``eventlake status`` (zeros before the first load)."""
        ...

    def source_commits(self) -> Mapping[str, frozenset[str]]:
        """Stream -> the batch-source commit ids the published raw tables hold
        (``raw._source_commits``; empty before the first source load). Cheap: the pipeline
        reads it on every run to see whether a source brought new rows since the models
        were last built."""
        ...

    def column_types(self) -> ColumnTypes:
        """Column types of the published models (for the metrics catalog)."""
        ...

    def reader(self, options: ReaderOptions | None = None) -> WarehouseReader:
        """A read-only connection to the published warehouse (opens nothing yet)."""
        ...

    def close(self) -> None:
        """Release what the warehouse holds (connections, a Spark session stays)."""
        ...


def failed_rows_sql(test_sql: str, rows: int) -> str:
    """The first ``rows`` rows a failed data test returns (its compiled SQL wrapped)."""
    return f"select * from (\n{test_sql}\n) as failed limit {int(rows)}"


def rows_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Rows as ``col=value, ...`` joined by ``; `` (how a failed test's rows are quoted)."""
    return "; ".join(
        ", ".join(f"{n}={v}" for n, v in zip(columns, row, strict=True)) for row in rows
    )
