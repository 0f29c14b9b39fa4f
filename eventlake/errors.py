"""The one exception hierarchy of eventlake.

Every failure a user can cause or fix is an ``EventlakeError``; the CLI turns it into one
clear line and a non-zero exit, so a traceback always means a bug. Retryable failures
(the caller may try the same thing again later) and terminal ones are different types.

::

    EventlakeError
    ├── ConfigError              bad or missing eventlake.toml / environment override
    ├── SpecError                an event breaks the envelope or the tracking plan
    │   └── TrackingPlanError    the tracking plan file itself is invalid
    ├── BusError                 the durable log failed
    │   ├── BusFullError         (retryable) back-pressure: the bus cannot accept now
    │   ├── AppendTooLargeError  (terminal) one append bigger than the bus ever accepts
    │   └── BusCorruptError      a segment / record fails its checksum beyond the tail
    ├── LakeError                the Parquet lake (layout, commit records, filesystem)
    │   └── CommitConflictError  another writer already committed this commit id
    ├── LandError                landing a micro-batch failed
    ├── WarehouseError           warehouse connection or load failed
    │   ├── WarehouseMissingError  nothing published yet (run `eventlake build`)
    │   ├── QueryRefusedError    a query is not read-only or reaches outside the warehouse
    │   ├── QueryError           a read-only statement failed (the statement's fault)
    │   │   ├── SchemaMismatchError  it names a table, column or type the warehouse lacks
    │   │   ├── QueryTimeoutError    it ran past the statement timeout
    │   │   └── QueryMemoryError     it ran past the memory limit
    │   └── ModelBuildError      a dbt model or data test failed (names them)
    ├── SourceError              a pull source failed
    │   ├── SourceRetryError     (retryable) 429 / 5xx / timeout
    │   └── SourceFileError      a dropped file is invalid (file, line, column)
    ├── ServeError               the data API or dashboard cannot start or answer
    └── PortInUseError           a server cannot bind its port
"""

from __future__ import annotations

__all__ = [
    "AppendTooLargeError",
    "BusCorruptError",
    "BusError",
    "BusFullError",
    "CommitConflictError",
    "ConfigError",
    "EventlakeError",
    "LakeError",
    "LandError",
    "ModelBuildError",
    "PortInUseError",
    "QueryError",
    "QueryMemoryError",
    "QueryRefusedError",
    "QueryTimeoutError",
    "RetryableError",
    "SchemaMismatchError",
    "ServeError",
    "SourceError",
    "SourceFileError",
    "SourceRetryError",
    "SpecError",
    "TrackingPlanError",
    "WarehouseError",
    "WarehouseMissingError",
]


class EventlakeError(Exception):
    """Base of every error a user can cause or fix; the message says what to do."""


class RetryableError(EventlakeError):
    """Mixin-style marker: the same operation may succeed if tried again later."""


class ConfigError(EventlakeError):
    """The configuration file or an environment override is invalid."""


class SpecError(EventlakeError):
    """An event breaks the Segment envelope or the tracking plan."""


class TrackingPlanError(SpecError):
    """The tracking plan YAML itself is invalid (file and location in the message)."""


class BusError(EventlakeError):
    """The durable log failed."""


class BusFullError(BusError, RetryableError):
    """Back-pressure: the bus cannot accept records now; retry after a pause."""


class AppendTooLargeError(BusError):
    """One append holds more bytes than the bus accepts in one go, even when idle.

    Terminal: the same records will never fit; split them (the collector answers 413).
    """


class BusCorruptError(BusError):
    """A record fails its integrity check somewhere other than a torn tail."""


class LakeError(EventlakeError):
    """The Parquet lake's layout, commit records or filesystem failed."""


class CommitConflictError(LakeError):
    """Another writer already committed this commit id: drop this attempt, do not retry it."""


class LandError(EventlakeError):
    """Landing a micro-batch from the bus into the lake failed."""


class WarehouseError(EventlakeError):
    """The warehouse cannot be opened, loaded or queried."""


class WarehouseMissingError(WarehouseError):
    """Nothing is published yet (no DuckDB file, no Spark publish, no PostgreSQL build):
    run ``eventlake build``. The data API answers 503."""


class QueryRefusedError(WarehouseError):
    """A query was refused: it is not one read-only SELECT, or it reaches outside the
    warehouse (a file, a setting, a privilege the reader dropped)."""


class QueryError(WarehouseError):
    """A read-only statement failed on the warehouse for a reason of its own (a syntax or
    type error, a division by zero...), not because the warehouse is unreachable. Readers
    raise it, or one of its subclasses, on every engine; the message is the engine's."""


class SchemaMismatchError(QueryError):
    """The statement names a table, column or function, or compares a type, that the
    warehouse does not have: the metrics catalog (or the query) and the built models are
    out of step. The data API answers 503 with a hint to rebuild."""


class QueryTimeoutError(QueryError):
    """The statement ran past its time limit and was cancelled."""


class QueryMemoryError(QueryError):
    """The statement needed more memory (or temporary disk) than the reader allows."""


class ModelBuildError(WarehouseError):
    """A dbt model or data test failed; the message names the model and the test."""


class SourceError(EventlakeError):
    """A pull source (CSV drop folder, REST API) failed."""


class SourceRetryError(SourceError, RetryableError):
    """A transient source failure (429, 5xx, timeout); retried with backoff."""


class SourceFileError(SourceError):
    """A dropped file is invalid; the message names the file, line and column."""


class ServeError(EventlakeError):
    """The data API or dashboard cannot start or answer."""


class PortInUseError(EventlakeError):
    """A server cannot bind its host:port because something else holds it."""
