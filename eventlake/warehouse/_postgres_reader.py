"""PostgreSQL's read side: pooled, read-only sessions, and the sandbox for users' SQL.

Private: the public names are re-exported by ``warehouse/postgres.py``.

Every statement runs in its own ``READ ONLY`` transaction that is rolled back when the
rows are read, on a session that starts with ``default_transaction_read_only = on``, a
``statement_timeout`` and ``TimeZone = UTC``. Rolling back undoes every setting the
statement may have changed (``set_config`` included), so no statement can loosen the
next one's limits. Statements go through the extended protocol (binary results), which
carries exactly one statement: no ``COMMIT; ...`` smuggling.

With a memory limit the transaction also gets ``work_mem`` and ``temp_file_limit``; in the
sandbox (SQL typed by users) it switches to the ``pg_read_all_data`` role, which may read
every table and nothing else (no server files, no ``COPY ... TO`` a file, no settings that
show paths), and session advisory locks, which a rollback keeps, are released after every
statement. What the login may not set is left out with a warning naming it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from eventlake.errors import (
    QueryError,
    QueryMemoryError,
    QueryRefusedError,
    QueryTimeoutError,
    SchemaMismatchError,
    WarehouseError,
)
from eventlake.warehouse.base import NO_VERSION, ReaderOptions, ReadResult

__all__ = ["PostgresReader", "error_from_psycopg", "qmark_to_pyformat", "require"]

log = logging.getLogger("eventlake.warehouse")

#: The predefined role (PostgreSQL 14+) a sandboxed session switches to when it may.
SANDBOX_ROLE = "pg_read_all_data"

# SQLSTATEs of a statement that does not fit the warehouse's tables.
_MISMATCH = {"42P01", "42703", "3F000", "42883", "42804"}


def require(module: str) -> None:
    """Raise a WarehouseError naming the extra to install when ``module`` is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise WarehouseError(
            f"warehouse.backend = 'postgres' needs {module}: pip install 'eventlake[postgres]'"
        )


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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def error_from_psycopg(
    exc: Exception, *, timeout: float, memory_mb: int | None = None
) -> WarehouseError:
    """The neutral error (``eventlake.errors``) for a psycopg exception of a read."""
    import psycopg
    import psycopg_pool

    first = _first_line(exc)
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return WarehouseError(f"cannot connect to the PostgreSQL warehouse: {first}")
    state = getattr(exc, "sqlstate", None) or ""
    if state == "25006":  # read_only_sql_transaction
        return QueryRefusedError(f"the PostgreSQL warehouse is read here: {first}")
    if state == "42501":  # insufficient_privilege
        return QueryRefusedError(f"refused: the reader may not do that: {first}")
    if state == "57014":  # query_canceled
        return QueryTimeoutError(f"query cancelled after the {timeout:g} s statement timeout")
    if state in ("53100", "53200", "53400"):  # disk full, out of memory, temp_file_limit
        limit = f" of {memory_mb} MB" if memory_mb else ""
        return QueryMemoryError(f"query needs more than the memory limit{limit}: {first}")
    if state in _MISMATCH:
        return SchemaMismatchError(f"query does not match the warehouse: {first}")
    if (
        not state
        or state.startswith(("08", "57P", "53"))
        or isinstance(exc, psycopg.InterfaceError)
    ):
        return WarehouseError(f"cannot read the PostgreSQL warehouse: {first}")
    return QueryError(f"query failed on PostgreSQL: {first}")


def _type_name(conn: Any, oid: int) -> str:
    info = conn.adapters.types.get(oid)
    return str(info.name) if info is not None else str(oid)


class PostgresReader:
    """Read-only statements through a small psycopg connection pool; thread-safe."""

    engine = "postgres"

    def __init__(
        self, url: str, *, timeout: float = 30.0, options: ReaderOptions | None = None
    ) -> None:
        require("psycopg_pool")
        from psycopg_pool import ConnectionPool

        self.url = url
        self.options = options or ReaderOptions()
        self.timeout = self.options.timeout if self.options.timeout is not None else timeout
        startup = (
            "-c default_transaction_read_only=on "
            f"-c statement_timeout={max(1, int(self.timeout * 1000))} -c TimeZone=UTC"
        )

        def configure(conn: Any) -> None:
            conn.read_only = True  # every transaction starts BEGIN READ ONLY

        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, self.options.connections),
            kwargs={"options": startup, "application_name": "eventlake-reader"},
            configure=configure,
            open=False,
            timeout=10.0,
            name="eventlake-reader",
        )
        self._lock = threading.Lock()
        self._opened = False
        self._limits_sql: str | None = None  # set_config of each statement's transaction

    def _open(self) -> Any:
        with self._lock:
            if not self._opened:
                self._pool.open(wait=False)
                self._opened = True
        return self._pool

    def _limits(self, conn: Any) -> str:
        """``SELECT set_config(...)`` of every limit the login may set ('' if none).

        Probed once per reader, each setting in a transaction of its own: a login that may
        not set ``temp_file_limit`` (a superuser setting) or switch to the sandbox role
        still gets the other limits, and a warning says what is missing.
        """
        if self._limits_sql is not None:
            return self._limits_sql
        wanted: list[tuple[str, str]] = []
        memory = self.options.memory_mb
        if memory:
            wanted.append(("work_mem", f"{max(64, memory * 1024 // 4)}kB"))
            wanted.append(("temp_file_limit", f"{memory * 1024}kB"))
        if self.options.sandbox:
            wanted.append(("role", SANDBOX_ROLE))
        allowed: list[tuple[str, str]] = []
        for name, value in wanted:
            try:
                conn.execute("SELECT set_config(%s, %s, true)", [name, value])
                allowed.append((name, value))
            except Exception as exc:  # psycopg.Error: permission denied, no such role
                log.warning(
                    "eventlake's read-only PostgreSQL sessions cannot set %s = %s (%s); "
                    "without it: %s",
                    name,
                    value,
                    _first_line(exc),
                    "give the login a read-only role instead (docs/scale-out.md)"
                    if name == "role"
                    else "ask the DBA to ALTER ROLE ... SET temp_file_limit",
                )
            finally:
                conn.rollback()
        calls = ", ".join(f"set_config('{n}', '{v}', true)" for n, v in allowed)
        self._limits_sql = f"SELECT {calls}" if calls else ""
        return self._limits_sql

    def version(self) -> str:
        import psycopg

        try:
            with self._open().connection() as conn:
                try:
                    row = conn.execute("SELECT max(seq) FROM raw._generation").fetchone()
                except psycopg.errors.UndefinedTable:
                    return NO_VERSION
                finally:
                    conn.rollback()
        except Exception as exc:  # psycopg.Error, psycopg_pool.PoolTimeout
            raise error_from_psycopg(exc, timeout=self.timeout) from exc
        return str(row[0]) if row and row[0] is not None else NO_VERSION

    def execute(
        self, sql: str, params: Sequence[Any] = (), *, limit: int | None = None
    ) -> ReadResult:
        import psycopg
        import psycopg_pool

        try:
            with self._open().connection() as conn:
                try:
                    limits = self._limits(conn)
                    with conn.cursor(binary=True) as cur:
                        if limits:
                            cur.execute(limits)
                        # binary results force the extended protocol: exactly one statement
                        cur.execute(qmark_to_pyformat(sql), list(params))
                        desc = cur.description
                        if desc is None:
                            raise QueryRefusedError(
                                f"{cur.statusmessage or 'the statement'} returned no rows: "
                                "the reader runs one query (its effect was rolled back)"
                            )
                        columns = [d.name for d in desc]
                        types = [_type_name(conn, d.type_code) for d in desc]
                        rows = cur.fetchall() if limit is None else cur.fetchmany(limit + 1)
                finally:
                    self._end(conn)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise error_from_psycopg(
                exc, timeout=self.timeout, memory_mb=self.options.memory_mb
            ) from exc
        truncated = limit is not None and len(rows) > limit
        rows = rows[:limit] if truncated else rows
        return ReadResult(columns, types, [tuple(r) for r in rows], truncated)

    def _end(self, conn: Any) -> None:
        """Roll the statement's transaction back (and with it every setting it changed);
        in the sandbox, also drop the session advisory locks a rollback keeps."""
        import psycopg

        try:
            conn.rollback()
            if self.options.sandbox:
                conn.execute("SELECT pg_advisory_unlock_all()")
                conn.rollback()
        except psycopg.Error:
            pass  # a broken connection: the pool discards it

    def close(self) -> None:
        with self._lock:
            if self._opened:
                self._pool.close()
                self._opened = False
