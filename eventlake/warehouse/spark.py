"""The Spark warehouse (``warehouse.backend = "spark"``, ``warehouse.spark_master``).

Tables are Parquet tables of the Spark catalog, changed in place by one SparkSession per
process (``_spark_session.py``), which dbt-spark's ``session`` method shares:

- **write transaction**: Spark has no transactions and no lock, so eventlake holds an
  exclusive lock file in ``warehouse.spark_dir`` (one writer per machine; the local Derby
  metastore admits one process anyway). The raw layer replaces day partitions
  (``INSERT OVERWRITE``); its bookkeeping is written only when the whole run succeeded.
  After a failed run the raw partitions hold its rows, models that dbt finished before the
  failure are rebuilt (dbt-spark drops and recreates a Parquet table, so a model whose own
  SQL failed may be missing), the models downstream of the failure keep their previous
  rows, and the next run loads the same lake commits again and rebuilds their days. Batch
  sources' tables are loaded by idempotent overwrites (``_spark_sources.py``);
- **publish**: every transaction, failed or not (the tables changed in place either way),
  ends by writing ``<spark_dir>/published.json``: a new generation and, for every table of
  the catalog, its columns and the exact Parquet files Spark reads for it
  (``DataFrame.inputFiles``);
- **reader** (:class:`SparkParquetReader`): DuckDB over the files of the last publish, so
  ``query`` and ``serve`` need no Spark session (which takes seconds to start and runs one
  job at a time). Views, which have no files, are not readable there. While a build
  rewrites a table its old files disappear: a query on it fails naming the file, and a
  reader opened meanwhile leaves that table out, until the transaction ends.

``pyspark`` and ``duckdb`` are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from eventlake.config import WarehouseConfig
from eventlake.errors import WarehouseError, WarehouseMissingError
from eventlake.fsutil import flock_exclusive, write_atomic
from eventlake.lake import Lake
from eventlake.warehouse._duckdb_reader import DuckDBReader
from eventlake.warehouse.base import (
    NO_VERSION,
    ColumnTypes,
    ReaderOptions,
    ReadResult,
    WarehouseCounts,
    failed_rows_sql,
    rows_text,
)
from eventlake.warehouse.raw import COUNT_QUERIES, RawLoadResult, counts_from_rows, load_raw
from eventlake.warehouse.source_tables import SourceLoad, SourceLoadResult

__all__ = [
    "PUBLISHED_FILE",
    "SparkDbtTarget",
    "SparkParquetReader",
    "SparkTransaction",
    "SparkWarehouse",
    "spark_conf",
    "spark_session",
    "stop_spark_session",
]

#: The manifest of the last successful write transaction, in ``warehouse.spark_dir``.
PUBLISHED_FILE = "published.json"
#: Databases that hold no models (Spark's default and the raw layer).
_NOT_MODELS = frozenset({"raw", "default"})


def spark_conf(config: WarehouseConfig) -> dict[str, str]:
    """Every Spark setting eventlake starts its session with (also the dbt profile's)."""
    from eventlake.warehouse._spark_session import spark_conf as conf

    return conf(config)


def spark_session(config: WarehouseConfig) -> Any:
    """The process's SparkSession, started from ``config`` on first use."""
    from eventlake.warehouse._spark_session import spark_session as session

    return session(config)


def stop_spark_session() -> None:
    """Stop the process's session (tests; a long-lived process keeps it)."""
    from eventlake.warehouse._spark_session import stop_spark_session as stop

    stop()


def _rows(spark: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in spark.sql(sql).collect()]


def _models_built(spark: Any) -> bool:
    for db in spark.catalog.listDatabases():
        if db.name in _NOT_MODELS:
            continue
        if any(t.tableType != "VIEW" for t in spark.catalog.listTables(db.name)):
            return True
    return False


class SparkDbtTarget:
    """dbt-spark's ``session`` method, in this process's SparkSession."""

    name = "spark"

    def __init__(self, config: WarehouseConfig) -> None:
        self.config = config

    def profile_output(self) -> dict[str, Any]:
        return {
            "type": "spark",
            "method": "session",
            "host": "local",
            "schema": "default",
            # The session method runs in this process: one thread (dbt-spark's advice).
            "threads": 1,
            "server_side_parameters": spark_conf(self.config),
        }

    def before_build(self) -> None:
        spark_session(self.config)  # start it with our settings before dbt's getOrCreate

    def failure_samples(self, tests: Mapping[str, str], rows: int) -> dict[str, str]:
        spark = spark_session(self.config)
        out: dict[str, str] = {}
        for unique_id, sql in tests.items():
            try:
                df = spark.sql(failed_rows_sql(sql, rows))
                out[unique_id] = rows_text(df.columns, [tuple(r) for r in df.collect()])
            except Exception:  # pyspark's AnalysisException & py4j errors
                continue
        return out

    def column_types(self) -> ColumnTypes:
        spark = spark_session(self.config)
        out: ColumnTypes = {}
        for schema in ("metrics",):
            if not spark.catalog.databaseExists(schema):
                continue
            for table in spark.catalog.listTables(schema):
                if table.isTemporary:  # dbt-spark's `<model>__dbt_tmp` views of this session
                    continue
                cols = spark.catalog.listColumns(f"{schema}.{table.name}")
                out[(schema, str(table.name))] = {
                    str(c.name): str(c.dataType).lower() for c in cols
                }
        return out

    def after_build(self) -> None:
        """The session stays for the next run."""


class SparkTransaction:
    """The changes of one run, in the process's SparkSession."""

    def __init__(self, config: WarehouseConfig) -> None:
        self.config = config
        self._loads: list[Any] = []

    def models_built(self) -> bool:
        return _models_built(spark_session(self.config))

    def load_raw(self, lake: Lake, *, reload_days: Iterable[dt.date] = ()) -> RawLoadResult:
        from eventlake.warehouse._spark_raw import SparkRawBackend

        backend = SparkRawBackend(spark_session(self.config))
        result = load_raw(backend, lake, reload_days=reload_days)
        self._loads.append(backend)
        return result

    def load_source(self, lake: Lake, load: SourceLoad) -> SourceLoadResult:
        from eventlake.warehouse._spark_sources import load_source

        return load_source(spark_session(self.config), lake, load)

    def dbt_target(self) -> SparkDbtTarget:
        return SparkDbtTarget(self.config)

    def publish(self) -> None:
        """The run succeeded: record what its loads brought."""
        for backend in self._loads:
            backend.write_bookkeeping()


class SparkWarehouse:
    """The Spark catalog of ``config.spark_master`` (metastore in ``config.spark_dir``)."""

    engine = "spark"

    def __init__(
        self,
        config: WarehouseConfig,
        *,
        read_timeout: float = 30.0,
        lock_timeout: float = 600.0,
    ) -> None:
        self.config = config
        self.spark_dir = Path(config.spark_dir)
        self.read_timeout = read_timeout
        self.lock_timeout = lock_timeout

    @contextlib.contextmanager
    def transaction(self) -> Iterator[SparkTransaction]:
        self.spark_dir.mkdir(parents=True, exist_ok=True)
        with open(self.spark_dir / ".write.lock", "a+") as lock:
            if not flock_exclusive(lock.fileno(), self.lock_timeout):
                raise WarehouseError(
                    f"the Spark warehouse {self.spark_dir} is locked by another writer "
                    f"for over {self.lock_timeout:.0f} s"
                )
            try:
                tx = SparkTransaction(self.config)
                try:
                    yield tx
                    tx.publish()
                finally:
                    # the tables changed in place either way: readers must see their files
                    write_published(spark_session(self.config), self.spark_dir)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def models_built(self) -> bool:
        return _models_built(spark_session(self.config))

    def counts(self) -> WarehouseCounts:
        spark = spark_session(self.config)
        results: dict[str, list[tuple[Any, ...]]] = {}
        for key, sql in COUNT_QUERIES.items():
            table = sql.split(" FROM ", 1)[1].split()[0]
            if not spark.catalog.tableExists(table):
                continue  # not loaded or built yet
            results[key] = _rows(spark, sql)
        return counts_from_rows(results)

    def source_commits(self) -> Mapping[str, frozenset[str]]:
        from eventlake.warehouse.source_tables import (
            SOURCE_COMMITS_QUERY,
            SOURCE_COMMITS_TABLE,
            source_commits_from_rows,
        )

        spark = spark_session(self.config)
        if not spark.catalog.tableExists(f"raw.{SOURCE_COMMITS_TABLE}"):
            return {}
        return source_commits_from_rows(_rows(spark, SOURCE_COMMITS_QUERY))

    def column_types(self) -> ColumnTypes:
        return SparkDbtTarget(self.config).column_types()

    def reader(self, options: ReaderOptions | None = None) -> SparkParquetReader:
        return SparkParquetReader(
            self.spark_dir / PUBLISHED_FILE, timeout=self.read_timeout, options=options
        )

    def close(self) -> None:
        """The process's session stays (dbt and the next run use it)."""


def _local_path(uri: str) -> str | None:
    """The local path of a ``file:`` URI or plain path (None for another filesystem)."""
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        return unquote(parts.path)
    return None


def write_published(spark: Any, spark_dir: Path) -> dict[str, Any]:
    """Write ``<spark_dir>/published.json``: a new generation, each table's columns and
    Parquet files; return it."""
    tables: dict[str, Any] = {}
    for db in spark.catalog.listDatabases():
        for table in spark.catalog.listTables(db.name):
            if table.tableType == "VIEW" or table.isTemporary:
                continue
            name = f"{db.name}.{table.name}"
            columns = spark.catalog.listColumns(name)
            tables[name] = {
                "columns": [[str(c.name), str(c.dataType)] for c in columns],
                "partitioned_by": [str(c.name) for c in columns if c.isPartition],
                "files": sorted(spark.table(name).inputFiles()),
            }
    manifest = {
        "generation": uuid.uuid4().hex,
        "published_at": dt.datetime.now(dt.UTC).isoformat(),
        "tables": tables,
    }
    spark_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(spark_dir / PUBLISHED_FILE, json.dumps(manifest, indent=1).encode())
    return manifest


_SIMPLE_TYPES = {
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
    "timestamp_ntz": "TIMESTAMP",
    "binary": "BLOB",
}


def _duckdb_type(spark_type: str) -> str:
    t = spark_type.strip().lower()
    if t in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[t]
    m = re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", t)
    if m:
        return f"DECIMAL({m.group(1)},{m.group(2)})"
    return "VARCHAR"  # arrays, maps, structs: not in eventlake's models


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SparkParquetReader:
    """Read-only statements with DuckDB on the Parquet files of the last Spark publish.

    Each generation becomes a small DuckDB file of views (``schema.table`` over the exact
    files of the manifest, columns cast to their Spark types), read by a
    :class:`~eventlake.warehouse.duckdb.DuckDBReader` (a private, sandboxed instance that
    may read only the tables' folders). The manifest is re-read only when the file changes
    (a publish replaces it). Thread-safe.
    """

    engine = "spark"

    def __init__(
        self, manifest: Path, *, timeout: float = 30.0, options: ReaderOptions | None = None
    ) -> None:
        self.manifest = Path(manifest)
        self.timeout = timeout
        self.options = options
        self._lock = threading.Lock()
        self._dir = Path(tempfile.mkdtemp(prefix="eventlake-spark-reader-"))
        self._generation: str | None = None
        self._reader: DuckDBReader | None = None
        self._seen: tuple[tuple[int, int, int] | None, dict[str, Any] | None] = (None, None)

    def _read_manifest(self) -> dict[str, Any] | None:
        """The manifest (None before the first publish), parsed again only when it changed."""
        try:
            st = os.stat(self.manifest)
        except FileNotFoundError:
            return None
        ident = (st.st_ino, st.st_mtime_ns, st.st_size)
        seen_ident, seen = self._seen
        if seen is not None and ident == seen_ident:
            return seen
        try:
            data: dict[str, Any] = json.loads(self.manifest.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise WarehouseError(f"cannot read {self.manifest}: {exc}") from exc
        self._seen = (ident, data)
        return data

    def version(self) -> str:
        manifest = self._read_manifest()
        return NO_VERSION if manifest is None else str(manifest.get("generation", NO_VERSION))

    def _current(self) -> DuckDBReader:
        manifest = self._read_manifest()
        if manifest is None:
            raise WarehouseMissingError(
                f"no published Spark build to read ({self.manifest} is missing): run "
                "`eventlake build` first"
            )
        generation = str(manifest.get("generation"))
        with self._lock:
            if self._reader is not None and generation == self._generation:
                return self._reader
            path, dirs = self._views_file(manifest, generation)
            if self._reader is not None:
                self._reader.close()
            self._reader = DuckDBReader(
                path, read_dirs=dirs, timeout=self.timeout, options=self.options
            )
            self._generation = generation
            for old in self._dir.glob("*.duckdb"):
                if old != path:
                    old.unlink(missing_ok=True)
            return self._reader

    def _views_file(self, manifest: Mapping[str, Any], generation: str) -> tuple[Path, list[Path]]:
        import duckdb

        path = self._dir / f"{generation}.duckdb"
        dirs: set[Path] = set()
        path.unlink(missing_ok=True)
        con = duckdb.connect(str(path))
        try:
            for name, spec in sorted(manifest.get("tables", {}).items()):
                schema, _, table = name.partition(".")
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)}")
                relation = f"{_ident(schema)}.{_ident(table)}"
                columns = [(str(c), str(t)) for c, t in spec.get("columns", [])]
                files = []
                for uri in spec.get("files", []):
                    local = _local_path(str(uri))
                    if local is None:
                        raise WarehouseError(
                            f"the Spark table {name} is stored at {uri}, which the DuckDB "
                            "reader cannot open (only local files): point "
                            "spark.sql.warehouse.dir at a local or mounted folder"
                        )
                    files.append(local)
                    dirs.add(Path(local).parent)
                select = ", ".join(
                    f"CAST({_ident(c)} AS {_duckdb_type(t)}) AS {_ident(c)}" for c, t in columns
                )
                if files:
                    hive = "true" if spec.get("partitioned_by") else "false"
                    try:
                        con.execute(
                            f"CREATE VIEW {relation} AS SELECT {select} FROM read_parquet("
                            f"{_sql_list(files)}, hive_partitioning = {hive}, "
                            "union_by_name = true)"
                        )
                    except duckdb.IOException:
                        continue  # a build is rewriting it: back with the next publish
                else:
                    cols = ", ".join(f"{_ident(c)} {_duckdb_type(t)}" for c, t in columns)
                    con.execute(f"CREATE TABLE {relation} ({cols})")
        finally:
            con.close()
        return path, sorted(_top_dirs(dirs))

    def execute(
        self, sql: str, params: Sequence[Any] = (), *, limit: int | None = None
    ) -> ReadResult:
        result: ReadResult = self._current().execute(sql, params, limit=limit)
        return result

    def close(self) -> None:
        import shutil

        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            shutil.rmtree(self._dir, ignore_errors=True)


def _sql_list(paths: Sequence[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _top_dirs(dirs: Iterable[Path]) -> set[Path]:
    """The folders of ``dirs`` that are not inside another one of them."""
    ordered = sorted(set(dirs), key=lambda p: len(p.parts))
    out: set[Path] = set()
    for d in ordered:
        if not any(d.is_relative_to(top) for top in out):
            out.add(d)
    return out
