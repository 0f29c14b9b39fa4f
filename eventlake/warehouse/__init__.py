"""The warehouse stage: one protocol over DuckDB, PostgreSQL and Spark.

- :mod:`eventlake.warehouse.base`: the :class:`Warehouse` protocol (write transactions,
  raw-layer loads, the dbt target, status counts, column types, read-only readers) and its
  typed results; :func:`open_warehouse` (:mod:`eventlake.warehouse.factory`) is the only
  place that reads ``warehouse.backend``;
- one module per engine, everything specific to it inside: :mod:`eventlake.warehouse.duckdb`
  (the embedded default: copy-on-write publishing, a sandboxed ``DuckDBReader``),
  :mod:`eventlake.warehouse.postgres`, :mod:`eventlake.warehouse.spark` (and their private
  helpers ``_<engine>_*.py``: raw loaders, readers);
- :mod:`eventlake.warehouse.raw`: the lake's committed files loaded incrementally into
  ``raw.events`` / ``raw.quarantine``, replacing every day that got new rows (engine-neutral;
  each engine implements its small :class:`~eventlake.warehouse.raw.RawBackend`);
- :mod:`eventlake.warehouse.source_tables`: what a batch source (CSV, REST) asks a write
  transaction to load into ``raw.<table>`` (:class:`AppendCommits`, :class:`LatestByKey`),
  through :meth:`WriteTransaction.load_source`;
- :mod:`eventlake.warehouse.dbt`: the dbt build of staging, marts and metrics
  (``build_models``) on any engine's :class:`DbtTarget`;
- :mod:`eventlake.warehouse.query`: the read-only query guard (``check_read_only``) and
  ``run_query`` on the engine's sandboxed reader (``sandbox_options``), shared by
  ``eventlake query`` and ``POST /api/query``;
- :mod:`eventlake.warehouse.sample`: a synthetic warehouse shaped like the metrics models
  (tests and the serve benchmark), copied to PostgreSQL or Spark on demand.

Importing this package imports neither duckdb, psycopg, pyspark nor dbt.
"""

from __future__ import annotations

from eventlake.warehouse.base import (
    NO_VERSION,
    ColumnTypes,
    DbtTarget,
    ReaderOptions,
    ReadResult,
    Warehouse,
    WarehouseCounts,
    WarehouseReader,
    WriteTransaction,
)
from eventlake.warehouse.factory import open_warehouse
from eventlake.warehouse.query import QueryResult, check_read_only, run_query, sandbox_options
from eventlake.warehouse.raw import (
    RAW_TABLES,
    RawBackend,
    RawLoadResult,
    RawTable,
    load_raw,
    pending_commits,
)
from eventlake.warehouse.source_tables import (
    AppendCommits,
    LatestByKey,
    SourceFile,
    SourceLoad,
    SourceLoadResult,
)

__all__ = [
    "NO_VERSION",
    "RAW_TABLES",
    "AppendCommits",
    "LatestByKey",
    "SourceFile",
    "SourceLoad",
    "SourceLoadResult",
    "ColumnTypes",
    "DbtTarget",
    "QueryResult",
    "RawBackend",
    "RawLoadResult",
    "RawTable",
    "ReadResult",
    "ReaderOptions",
    "Warehouse",
    "WarehouseCounts",
    "WarehouseReader",
    "WriteTransaction",
    "check_read_only",
    "load_raw",
    "open_warehouse",
    "pending_commits",
    "run_query",
    "sandbox_options",
]
