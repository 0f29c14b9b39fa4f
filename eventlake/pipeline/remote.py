"""Load and build on a warehouse server (``warehouse.backend = "postgres"`` or ``"spark"``).

The DuckDB warehouse is a file published copy-on-write (:mod:`eventlake.pipeline.run`). A
server warehouse is changed in place: the raw load is one transaction on PostgreSQL (and
records its bookkeeping last on Spark, see :mod:`eventlake.warehouse.raw_spark`), then dbt
builds the changed days in the same database. A failed build leaves the raw layer loaded
and the previous model tables in place; the next run rebuilds the same days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from eventlake.errors import WarehouseError

__all__ = [
    "empty_warehouse_counts",
    "load_and_build_remote",
    "models_built_remote",
    "remote_warehouse_counts",
]


def models_built_remote(settings: Any) -> bool:
    """Whether the server warehouse already holds built models (the metrics schema)."""
    backend = settings.warehouse.backend
    if backend == "postgres":
        import psycopg

        from eventlake.warehouse.adapters import postgres_params

        postgres_params(settings.warehouse.url)  # ConfigError when missing or malformed
        try:
            with psycopg.connect(settings.warehouse.url) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'metrics'"
                ).fetchone()
        except psycopg.Error as exc:
            raise WarehouseError(f"cannot connect to the PostgreSQL warehouse: {exc}") from exc
        return bool(row and row[0])
    from eventlake.warehouse.spark_session import spark_session

    spark = spark_session(settings)
    return bool(spark.catalog.databaseExists("metrics") and spark.catalog.listTables("metrics"))


def load_and_build_remote(
    settings: Any,
    *,
    reload_days: Iterable[dt.date] = (),
    full_refresh: bool = False,
    select: Sequence[str] | None = None,
    build_models: Callable[..., Any],
    skip_if_unchanged: bool = True,
    build_counts: Callable[[Any], tuple[int, int]],
    on_stage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """What :func:`eventlake.pipeline.run.load_and_build` does, on a server warehouse."""
    from eventlake.lake import open_lake
    from eventlake.pipeline.run import load_raw_then_build

    lake = open_lake(settings.lake_uri(), settings.lake.storage_options)
    return load_raw_then_build(
        settings,
        lake,
        None,
        built_before=models_built_remote(settings),
        reload_days=reload_days,
        full_refresh=full_refresh,
        select=select,
        build_models=build_models,
        skip_if_unchanged=skip_if_unchanged,
        build_counts=build_counts,
        on_stage=on_stage,
    )


def empty_warehouse_counts() -> dict[str, Any]:
    """The warehouse figures of ``eventlake status`` before anything is read (any backend)."""
    return {
        "loaded_commits": {},
        "lake_events": 0,
        "lake_quarantine": 0,
        "raw_events": 0,
        "distinct_events": 0,
        "modeled": None,
        "newest": None,
    }


def remote_warehouse_counts(settings: Any) -> dict[str, Any]:
    """What ``eventlake status`` reads from the warehouse, from PostgreSQL or Spark."""
    out = empty_warehouse_counts()
    queries = {
        "loaded": "SELECT stream, commit_id FROM raw._loaded_commits",
        "files": "SELECT raw_table, sum(rows) FROM raw._lake_files GROUP BY raw_table",
        "raw": "SELECT count(*), count(DISTINCT message_id), max(received_at) FROM raw.events",
        "modeled": "SELECT count(*) FROM staging.stg_events",
    }
    results: dict[str, list[tuple[Any, ...]]] = {}
    if settings.warehouse.backend == "postgres":
        import psycopg

        try:
            with psycopg.connect(settings.warehouse.url, autocommit=True) as conn:
                for key, sql in queries.items():
                    try:
                        results[key] = list(conn.execute(sql).fetchall())
                    except psycopg.errors.UndefinedTable:
                        continue
        except psycopg.Error as exc:
            raise WarehouseError(f"cannot read the PostgreSQL warehouse: {exc}") from exc
    else:
        from eventlake.warehouse.spark_session import spark_session

        spark = spark_session(settings)
        for key, sql in queries.items():
            try:
                results[key] = [tuple(r) for r in spark.sql(sql).collect()]
            except Exception:  # AnalysisException: the table does not exist yet
                continue
    loaded: dict[str, set[str]] = {}
    for stream, cid in results.get("loaded", []):
        loaded.setdefault(str(stream), set()).add(str(cid))
    out["loaded_commits"] = loaded
    for table, rows in results.get("files", []):
        out[f"lake_{table}"] = int(rows or 0)
    if results.get("raw"):
        total, distinct, newest = results["raw"][0]
        if isinstance(newest, dt.datetime) and newest.tzinfo is None:
            newest = newest.astimezone(dt.UTC)  # pyspark hands out naive local times
        out["raw_events"], out["distinct_events"], out["newest"] = int(total), int(distinct), newest
    if results.get("modeled"):
        out["modeled"] = int(results["modeled"][0][0])
    return out
