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
- **reader** (:class:`PostgresReader`): a psycopg connection pool whose sessions start with
  ``default_transaction_read_only = on`` and a ``statement_timeout``; every statement runs
  in a ``READ ONLY`` transaction through the extended protocol (one statement, no
  ``COMMIT; ...`` smuggling), so a write fails in the server;
- the raw layer (``_postgres_raw.py``) streams lake files with ``COPY FROM STDIN``.

``psycopg`` and ``psycopg_pool`` are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from eventlake.config import WarehouseConfig
from eventlake.errors import ConfigError, QueryRefusedError, WarehouseError
from eventlake.lake import Lake
from eventlake.warehouse.base import (
    ColumnTypes,
    ReadResult,
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


def qmark_to_pyformat(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (and ``%`` doubled), outside quotes/comments."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # '' or "" inside
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i : end + 1].replace("%", "%%"))
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif ch == "?":
            out.append("%s")
            i += 1
        elif ch == "%":
            out.append("%%")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _require(module: str) -> None:
    """Raise a WarehouseError naming the extra to install when ``module`` is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise WarehouseError(
            f"warehouse.backend = 'postgres' needs {module}: pip install 'eventlake[postgres]'"
        )


def _connect(url: str, *, autocommit: bool = True) -> Any:
    _require("psycopg")
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

    def reader(self) -> PostgresReader:
        return PostgresReader(self.url, timeout=self.read_timeout)

    def close(self) -> None:
        """Nothing is held between calls."""


def _bump_generation(conn: Any) -> None:
    """A new readers' version: the tables may have changed (a failed run changes some)."""
    import psycopg

    try:
        conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS raw._generation "
            "(seq BIGINT PRIMARY KEY, published_at TIMESTAMPTZ NOT NULL)"
        )
        conn.execute(
            "INSERT INTO raw._generation SELECT coalesce(max(seq), 0) + 1, now() "
            "FROM raw._generation"
        )
        conn.execute(
            "DELETE FROM raw._generation WHERE seq < (SELECT max(seq) - 1 FROM raw._generation)"
        )
    except psycopg.Error:
        pass  # the connection broke: the server released the lock with it


class PostgresReader:
    """Read-only statements through a small psycopg connection pool; thread-safe."""

    engine = "postgres"

    def __init__(self, url: str, *, timeout: float = 30.0, max_size: int = 4) -> None:
        _require("psycopg_pool")
        from psycopg_pool import ConnectionPool

        self.url = url
        self.timeout = timeout
        options = f"-c default_transaction_read_only=on -c statement_timeout={int(timeout * 1000)}"

        def configure(conn: Any) -> None:
            conn.read_only = True  # every transaction starts BEGIN READ ONLY

        def reset(conn: Any) -> None:
            conn.execute("RESET ALL")  # back to the session's read-only options
            conn.commit()

        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, max_size),
            kwargs={"options": options},
            configure=configure,
            reset=reset,
            open=False,
            name="eventlake-reader",
        )
        self._open_lock = threading.Lock()
        self._opened = False

    def _open(self) -> Any:
        import psycopg_pool

        with self._open_lock:
            if not self._opened:
                try:
                    self._pool.open(wait=True, timeout=max(5.0, self.timeout))
                except psycopg_pool.PoolTimeout as exc:
                    raise WarehouseError(
                        f"cannot connect to the PostgreSQL warehouse for reading: {exc}"
                    ) from exc
                self._opened = True
        return self._pool

    def version(self) -> str:
        import psycopg

        try:
            with self._open().connection() as conn:
                row = conn.execute("SELECT max(seq) FROM raw._generation").fetchone()
        except psycopg.errors.UndefinedTable:
            return "0"
        except psycopg.Error as exc:
            raise WarehouseError(f"cannot read the PostgreSQL warehouse: {exc}") from exc
        return str(row[0] if row and row[0] is not None else 0)

    def execute(
        self, sql: str, params: Sequence[Any] = (), *, limit: int | None = None
    ) -> ReadResult:
        import psycopg

        try:
            with self._open().connection() as conn, conn.cursor(binary=True) as cur:
                # binary results force the extended protocol: exactly one statement
                cur.execute(qmark_to_pyformat(sql), list(params))
                desc = cur.description or []
                columns = [d.name for d in desc]
                types = [_type_name(conn, d.type_code) for d in desc]
                rows = cur.fetchall() if limit is None else cur.fetchmany(limit + 1)
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            raise QueryRefusedError(
                f"the PostgreSQL warehouse is read here: {str(exc).strip().splitlines()[0]}"
            ) from exc
        except psycopg.errors.QueryCanceled as exc:
            raise WarehouseError(
                f"query cancelled by the {self.timeout:g} s statement timeout"
            ) from exc
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise WarehouseError(f"query failed on PostgreSQL: {first}") from exc
        truncated = limit is not None and len(rows) > limit
        rows = rows[:limit] if truncated else rows
        return ReadResult(columns, types, [tuple(r) for r in rows], truncated)

    def close(self) -> None:
        with self._open_lock:
            if self._opened:
                self._pool.close()
                self._opened = False


def _type_name(conn: Any, oid: int) -> str:
    info = conn.adapters.types.get(oid)
    return str(info.name) if info is not None else str(oid)
