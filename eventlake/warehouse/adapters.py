"""dbt profiles and column types for the PostgreSQL and Spark warehouses.

``build_models`` (:mod:`eventlake.warehouse.dbt`) writes a DuckDB profile for the default
warehouse; for ``warehouse.backend = "postgres"`` or ``"spark"`` it calls
:func:`write_adapter_profile` instead, which generates ``<models.dbt_dir>/profiles.yml`` from
the settings (the PostgreSQL URL's parts; Spark's ``session`` method with the settings of
:mod:`eventlake.warehouse.spark_session`), and :func:`adapter_column_types` for the metrics
catalog. The dbt project itself is the same on every engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from eventlake.errors import ConfigError, WarehouseError

__all__ = ["adapter_column_types", "adapter_output", "postgres_params", "write_adapter_profile"]

PROFILE_NAME = "eventlake"


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
    import os

    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": unquote(parts.username or os.environ.get("PGUSER", "postgres")),
        "password": unquote(parts.password or os.environ.get("PGPASSWORD", "")),
        "dbname": unquote(parts.path.lstrip("/")) or "postgres",
    }


def adapter_output(settings: Any) -> dict[str, Any]:
    """The dbt profile output of the configured non-DuckDB warehouse."""
    backend = settings.warehouse.backend
    threads = max(1, settings.warehouse.threads)
    if backend == "postgres":
        return {"type": "postgres", "schema": "public", "threads": threads} | postgres_params(
            settings.warehouse.url
        )
    if backend == "spark":
        from eventlake.warehouse.spark_session import spark_conf

        return {
            "type": "spark",
            "method": "session",
            "host": "local",
            "schema": "default",
            # The session method runs in this process: one thread (dbt-spark's advice).
            "threads": 1,
            "server_side_parameters": spark_conf(settings),
        }
    raise WarehouseError(f"no dbt profile for warehouse backend {backend!r}")


def write_adapter_profile(settings: Any) -> Path:
    """Write ``<dbt_dir>/profiles.yml`` for the configured warehouse; return its folder."""
    backend = settings.warehouse.backend
    if backend == "spark":
        from eventlake.warehouse.spark_session import spark_session

        spark_session(settings)  # start it with our settings before dbt's getOrCreate
    dbt_dir = Path(settings.resolve(settings.models.dbt_dir))
    profile = {PROFILE_NAME: {"target": backend, "outputs": {backend: adapter_output(settings)}}}
    text = yaml.safe_dump(profile, sort_keys=True)
    path = dbt_dir / "profiles.yml"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        dbt_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return dbt_dir


def adapter_column_types(settings: Any) -> dict[tuple[str, str], dict[str, str]]:
    """{(schema, table): {column: type}} of the built models, for the metrics catalog."""
    backend = settings.warehouse.backend
    out: dict[tuple[str, str], dict[str, str]] = {}
    if backend == "postgres":
        import psycopg

        try:
            with psycopg.connect(settings.warehouse.url) as conn:
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
    if backend == "spark":
        from eventlake.warehouse.spark_session import spark_session

        spark = spark_session(settings)
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
    raise WarehouseError(f"no column types for warehouse backend {backend!r}")
