"""The PostgreSQL warehouse (``warehouse.backend = "postgres"``, ``warehouse.url``).

Tables are changed in place, in the database of ``warehouse.url`` (a password from the URL
or ``PGPASSWORD``, as libpq reads it):

- **write transaction**: a dedicated connection holds a session advisory lock for the whole
  run (one writer at a time; a second waits up to ``lock_timeout`` seconds and then fails
  naming the lock). The raw load is one PostgreSQL transaction, committed before dbt builds
  on it with dbt-postgres' own connections (each model is swapped in atomically by dbt).
  The raw layer's bookkeeping is written only when the whole run succeeded, so after a
  failed run the raw tables hold its rows, the models dbt finished before the failure are
  rebuilt, the failed model or test and everything downstream keep their previous rows,
  and the next run loads the same lake commits again and rebuilds their days. Every
  transaction, failed or not, bumps ``raw._generation`` (the readers' version). A load of a
  batch source's commits (``_postgres_sources.py``) is one PostgreSQL transaction of its
  own, rows and bookkeeping together: committed when it returns, nothing left if it fails;
- **reader** (:class:`PostgresReader`, ``_postgres_reader.py``): a psycopg connection pool
  whose sessions start with ``default_transaction_read_only = on`` and a
  ``statement_timeout``; every statement runs in its own ``READ ONLY`` transaction, rolled
  back after, through the extended protocol (one statement, no ``COMMIT; ...``
  smuggling), so a write fails in the server and no setting outlives its statement; the
  sandbox for users' SQL adds memory limits and drops to the ``pg_read_all_data`` role;
- the raw layer (``_postgres_raw.py``) streams lake files with ``COPY FROM STDIN``.

``psycopg`` and ``psycopg_pool`` are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from eventlake.config import WarehouseConfig
from eventlake.errors import ConfigError, WarehouseError
from eventlake.lake import Lake
from eventlake.warehouse._postgres_reader import PostgresReader, qmark_to_pyformat, require
from eventlake.warehouse.base import (
    ColumnTypes,
    ReaderOptions,
    WarehouseCounts,
    failed_rows_sql,
    rows_text,
)
from eventlake.warehouse.raw import COUNT_QUERIES, RawLoadResult, counts_from_rows, load_raw
from eventlake.warehouse.source_tables import SourceLoad, SourceLoadResult

__all__ = [
    "PostgresDbtTarget",
    "PostgresReader",
    "PostgresTransaction",
    "PostgresWarehouse",
    "postgres_params",
    "publish_generation",
    "qmark_to_pyformat",
]

#: Advisory lock key held by a write transaction (a fixed 64-bit number unique to eventlake).
WRITE_LOCK_KEY = 0x6576_656E_746C_616B  # "eventlak"

#: Schemas that hold no models (dbt's default schema is ``public``).
_NOT_MODELS = "('raw', 'public', 'information_schema', 'pg_catalog', 'pg_toast')"


def postgres_params(url: str | None) -> dict[str, Any]:
    """host, port, user, password, dbname of a ``postgresql://`` URL (password may be empty).

    Raises:
        ConfigError: no URL, or not a PostgreSQL URL.
    """
    if not url:
        raise ConfigError(
            "warehouse.backend = 'postgres' needs warehouse.url "
            "(postgresql://user@host:port/db; set EVENTLAKE_WAREHOUSE__URL)"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"warehouse.url must start with postgresql://, got {parts.scheme!r}")
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": unquote(parts.username or os.environ.get("PGUSER", "postgres")),
        "password": unquote(parts.password or os.environ.get("PGPASSWORD", "")),
        "dbname": unquote(parts.path.lstrip("/")) or "postgres",
    }


def _connect(url: str, *, autocommit: bool = True) -> Any:
    require("psycopg")
    import psycopg

    try:
        return psycopg.connect(url, autocommit=autocommit)
    except psycopg.Error as exc:
        raise WarehouseError(f"cannot connect to the PostgreSQL warehouse: {exc}") from exc


def _column_types(url: str) -> ColumnTypes:
    import psycopg

    out: ColumnTypes = {}
    try:
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "select table_schema, table_name, column_name, data_type "
                "from information_schema.columns "
                "where table_schema in ('staging', 'marts', 'metrics') "
                "order by table_schema, table_name, ordinal_position"
            ).fetchall()
    except psycopg.Error as exc:
        raise WarehouseError(f"cannot read the PostgreSQL warehouse's columns: {exc}") from exc
    for schema, table, column, dtype in rows:
        out.setdefault((str(schema), str(table)), {})[str(column)] = str(dtype).lower()
    return out


def _models_built(conn: Any) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        f"AND table_schema NOT IN {_NOT_MODELS} AND table_schema NOT LIKE 'pg\\_%'"
    ).fetchone()
    return bool(row and row[0])


class PostgresDbtTarget:
    """dbt-postgres building in the warehouse database."""

    name = "postgres"

    def __init__(self, url: str, threads: int) -> None:
        self.url = url
        self.threads = max(1, threads)

    def profile_output(self) -> dict[str, Any]:
        return {"type": "postgres", "schema": "public", "threads": self.threads} | (
            postgres_params(self.url)
        )

    def before_build(self) -> None:
        """Nothing to prepare: dbt-postgres connects itself."""

    def failure_samples(self, tests: Mapping[str, str], rows: int) -> dict[str, str]:
        import psycopg

        out: dict[str, str] = {}
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                for unique_id, sql in tests.items():
                    try:
                        cur = conn.execute(failed_rows_sql(sql, rows))
                        names = [d.name for d in cur.description or []]
                        out[unique_id] = rows_text(names, cur.fetchall())
                    except psycopg.Error:
                        continue
        except psycopg.Error:
            return out
        return out

    def column_types(self) -> ColumnTypes:
        return _column_types(self.url)

    def after_build(self) -> None:
        """dbt-postgres closes its connections itself."""


class PostgresTransaction:
    """The changes of one run, on the connection that holds the write lock."""

    def __init__(self, conn: Any, url: str, threads: int) -> None:
        self.conn = conn
        self.url = url
        self.threads = threads
        self._loads: list[Any] = []

    def models_built(self) -> bool:
        return _models_built(self.conn)

    def load_raw(self, lake: Lake, *, reload_days: Iterable[dt.date] = ()) -> RawLoadResult:
        from eventlake.warehouse._postgres_raw import PostgresRawBackend

        backend = PostgresRawBackend(self.conn)
        result = load_raw(backend, lake, reload_days=reload_days)
        self._loads.append(backend)
        return result

    def load_source(self, lake: Lake, load: SourceLoad) -> SourceLoadResult:
        from eventlake.warehouse._postgres_sources import load_source

        return load_source(self.conn, lake, load)

    def dbt_target(self) -> PostgresDbtTarget:
        return PostgresDbtTarget(self.url, self.threads)

    def publish(self) -> None:
        """The run succeeded: record what its loads brought."""
        for backend in self._loads:
            backend.write_bookkeeping()


class PostgresWarehouse:
    """The database of ``config.url``."""

    engine = "postgres"

    def __init__(
        self,
        config: WarehouseConfig,
        *,
        read_timeout: float = 30.0,
        lock_timeout: float = 600.0,
    ) -> None:
        postgres_params(config.url)  # ConfigError now when missing or malformed
        assert config.url is not None
        self.url: str = config.url
        self.threads = max(1, config.threads)
        self.read_timeout = read_timeout
        self.lock_timeout = lock_timeout

    @contextlib.contextmanager
    def transaction(self) -> Iterator[PostgresTransaction]:
        import psycopg

        conn = _connect(self.url)
        try:
            try:
                conn.execute(f"SET lock_timeout = {int(self.lock_timeout * 1000)}")
                conn.execute("SELECT pg_advisory_lock(%s)", [WRITE_LOCK_KEY])
            except psycopg.errors.LockNotAvailable:
                raise WarehouseError(
                    f"the PostgreSQL warehouse is locked by another writer for over "
                    f"{self.lock_timeout:.0f} s (advisory lock {WRITE_LOCK_KEY})"
                ) from None
            except psycopg.Error as exc:
                raise WarehouseError(f"cannot lock the PostgreSQL warehouse: {exc}") from exc
            tx = PostgresTransaction(conn, self.url, self.threads)
            try:
                yield tx
                tx.publish()
            finally:
                _bump_generation(conn)
                with contextlib.suppress(psycopg.Error):  # a broken connection unlocked it
                    conn.execute("SELECT pg_advisory_unlock(%s)", [WRITE_LOCK_KEY])
        finally:
            conn.close()

    def models_built(self) -> bool:
        import psycopg

        try:
            with _connect(self.url) as conn:
                return _models_built(conn)
        except psycopg.Error as exc:
            raise WarehouseError(f"cannot read the PostgreSQL warehouse: {exc}") from exc

    def counts(self) -> WarehouseCounts:
        import psycopg

        results: dict[str, list[tuple[Any, ...]]] = {}
        try:
            with _connect(self.url) as conn:
                for key, sql in COUNT_QUERIES.items():
                    try:
                        results[key] = list(conn.execute(sql).fetchall())
                    except psycopg.errors.UndefinedTable:
                        continue
        except psycopg.Error as exc:
            raise WarehouseError(f"cannot read the PostgreSQL warehouse: {exc}") from exc
        return counts_from_rows(results)

    def source_commits(self) -> Mapping[str, frozenset[str]]:
        import psycopg

        from eventlake.warehouse.source_tables import (
            SOURCE_COMMITS_QUERY,
            source_commits_from_rows,
        )

        try:
            with _connect(self.url) as conn:
                try:
                    return source_commits_from_rows(conn.execute(SOURCE_COMMITS_QUERY).fetchall())
                except psycopg.errors.UndefinedTable:
                    return {}
        except psycopg.Error as exc:
            raise WarehouseError(f"cannot read the PostgreSQL warehouse: {exc}") from exc

    def column_types(self) -> ColumnTypes:
        return _column_types(self.url)

    def reader(self, options: ReaderOptions | None = None) -> PostgresReader:
        return PostgresReader(self.url, timeout=self.read_timeout, options=options)

    def close(self) -> None:
        """Nothing is held between calls."""


def publish_generation(conn: Any) -> None:
    """A new readers' version (``raw._generation``): the tables may have changed (a failed
    run changes some). ``conn`` is in autocommit mode.

    Raises:
        psycopg.Error: the connection broke.
    """
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS raw._generation "
        "(seq BIGINT PRIMARY KEY, published_at TIMESTAMPTZ NOT NULL)"
    )
    conn.execute(
        "INSERT INTO raw._generation SELECT coalesce(max(seq), 0) + 1, now() FROM raw._generation"
    )
    conn.execute(
        "DELETE FROM raw._generation WHERE seq < (SELECT max(seq) - 1 FROM raw._generation)"
    )


def _bump_generation(conn: Any) -> None:
    """:func:`publish_generation` at the end of a write transaction."""
    import psycopg

    try:
        publish_generation(conn)
    except psycopg.Error:
        pass  # the connection broke: the server released the lock with it
