"""PostgreSQL's sandboxed reader with a login that is no superuser: what it may not set is
left out with a warning naming it, and every other protection still holds."""

from __future__ import annotations

import logging
import uuid

import psycopg
import pytest

from eventlake.config import WarehouseConfig
from eventlake.errors import QueryRefusedError, QueryTimeoutError
from eventlake.warehouse import open_warehouse, run_query, sandbox_options
from eventlake.warehouse.postgres import publish_generation

pytestmark = pytest.mark.integration


@pytest.fixture
def plain_login(postgres_url: str) -> str:
    """A database with one table, and the URL of a login with SELECT on it and no more."""
    db, role = f"wh_{uuid.uuid4().hex[:8]}", f"reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
        conn.execute(f"CREATE ROLE {role} LOGIN")
    url = postgres_url.rsplit("/", 1)[0] + "/" + db
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA metrics")
        conn.execute("CREATE TABLE metrics.t AS SELECT g AS n FROM generate_series(1, 5) g")
        publish_generation(conn)
        conn.execute(f"GRANT USAGE ON SCHEMA metrics, raw TO {role}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA metrics, raw TO {role}")
    host_part = url.split("@", 1)[1]
    return f"postgresql://{role}@{host_part}"


def test_a_plain_login_reads_with_the_limits_it_may_set(
    plain_login: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = WarehouseConfig(
        backend="postgres", url=plain_login, query_timeout=0.5, query_memory_mb=64
    )
    reader = open_warehouse(config).reader(sandbox_options(config))
    try:
        with caplog.at_level(logging.WARNING, logger="eventlake.warehouse"):
            assert run_query(reader, "SELECT sum(n) AS s FROM metrics.t").rows == [(15,)]
        warned = " ".join(r.getMessage() for r in caplog.records)
        assert "temp_file_limit" in warned and "role" in warned
        assert reader.execute("SELECT current_setting('work_mem')").rows == [("16MB",)]
        with pytest.raises(QueryTimeoutError, match=r"0\.5 s"):
            run_query(reader, "SELECT pg_sleep(5)")
        # no superuser: the server refuses what the guard would have refused anyway
        with pytest.raises(QueryRefusedError, match="permission denied"):
            reader.execute("SELECT pg_read_file('/etc/hostname')")
        with pytest.raises(QueryRefusedError, match="read"):
            reader.execute("CREATE TABLE metrics.x (a int)")
    finally:
        reader.close()
