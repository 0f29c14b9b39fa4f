"""The warehouse stage: DuckDB over the lake (raw layer), dbt models, the read-only SQL surface.

- :mod:`eventlake.warehouse.duck`: copy-on-write publishing (``write_transaction``) and
  read-only connections that follow publishes (``ReadOnlyWarehouse``);
- :mod:`eventlake.warehouse.raw`: the lake's committed files loaded incrementally into
  ``raw.events`` / ``raw.quarantine``, replacing every day that got new rows (backend seam
  :class:`RawBackend`; DuckDB in :mod:`eventlake.warehouse.raw_duckdb`);
- :mod:`eventlake.warehouse.dbt`: the dbt build of staging, marts and metrics (``build_models``);
- :mod:`eventlake.warehouse.query`: the read-only query guard (``check_read_only``) and
  ``run_query``, shared by ``eventlake query`` and ``POST /api/query``.

Importing this package imports neither duckdb nor dbt.
"""

from __future__ import annotations

from eventlake.warehouse.duck import ReadOnlyWarehouse, connect_read_only, write_transaction
from eventlake.warehouse.query import QueryResult, check_read_only, connect_sandboxed, run_query
from eventlake.warehouse.raw import (
    RAW_TABLES,
    RawBackend,
    RawLoadResult,
    RawTable,
    load_raw,
    open_raw_backend,
    pending_commits,
)

__all__ = [
    "RAW_TABLES",
    "QueryResult",
    "RawBackend",
    "RawLoadResult",
    "RawTable",
    "ReadOnlyWarehouse",
    "check_read_only",
    "connect_read_only",
    "connect_sandboxed",
    "load_raw",
    "open_raw_backend",
    "pending_commits",
    "run_query",
    "write_transaction",
]
