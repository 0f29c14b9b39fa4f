"""The pull sources: batch data that lands in the lake directly, then loads into the warehouse.

- :mod:`eventlake.sources.csv`: CSV drop folders (a watched folder and a YAML schema);
- :mod:`eventlake.sources.api`: REST APIs (declarative, paginated, incremental, resumable).

Both write only to the lake (Parquet under ``<lake>/sources/<name>/`` and commit records in
stream ``sources.<name>``), then load their commits into ``raw.<table>`` through the
configured warehouse's write transaction
(:meth:`~eventlake.warehouse.base.WriteTransaction.load_source`), on any engine.
"""

from __future__ import annotations

from eventlake.sources.api import (
    ApiRunResult,
    ApiSource,
    ApiSourceStatus,
    api_source_status,
    open_api_source,
    run_api_source,
)
from eventlake.sources.csv import (
    CsvFileOutcome,
    CsvIngestResult,
    CsvSchema,
    CsvSource,
    load_schema,
    open_csv_source,
)
from eventlake.sources.tables import source_tables

__all__ = [
    "ApiRunResult",
    "ApiSource",
    "ApiSourceStatus",
    "CsvFileOutcome",
    "CsvIngestResult",
    "CsvSchema",
    "CsvSource",
    "api_source_status",
    "load_schema",
    "open_api_source",
    "open_csv_source",
    "run_api_source",
    "source_tables",
]
