"""``open_warehouse``: the one place that reads ``warehouse.backend``.

It returns the configured engine's :class:`~eventlake.warehouse.base.Warehouse`
(``warehouse/duckdb.py``, ``postgres.py`` or ``spark.py``, each imported only when asked
for); every stage then talks to the protocol. Opening connects to nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from eventlake.config import Settings, WarehouseConfig
from eventlake.errors import ConfigError
from eventlake.warehouse.base import Warehouse

__all__ = ["open_warehouse", "resolved_config"]


def resolved_config(config: WarehouseConfig, base_dir: Path) -> WarehouseConfig:
    """``config`` with its paths made absolute against ``base_dir``."""

    def resolve(path: Path) -> Path:
        p = Path(path).expanduser()
        # lexically, not through symlinks: the DuckDB warehouse's name is a symlink
        return p if p.is_absolute() else Path(os.path.abspath(Path(base_dir) / p))

    return config.model_copy(
        update={
            "path": resolve(config.path),
            "spark_dir": resolve(config.spark_dir),
            "state_dir": resolve(config.state_dir),
        }
    )


def open_warehouse(source: Settings | WarehouseConfig) -> Warehouse:
    """The warehouse of ``settings.warehouse`` (or of a bare section, whose relative paths
    resolve against the current folder).

    With the whole settings, the DuckDB reader may also read the local lake's
    ``sources/`` folder (views of batch sources point there).

    Raises:
        ConfigError: an unknown backend, or one that misses its settings (no
            ``warehouse.url`` for PostgreSQL).
    """
    read_dirs: list[Path] = []
    if isinstance(source, Settings):
        config = resolved_config(source.warehouse, source.base_dir)
        uri = source.lake_uri()
        if "://" not in uri:
            from eventlake.lake import SOURCES_DIR

            read_dirs.append(Path(uri) / SOURCES_DIR)
    else:
        config = resolved_config(source, Path.cwd())
    backend = config.backend
    if backend == "duckdb":
        from eventlake.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(config, read_dirs=read_dirs, read_timeout=config.read_timeout)
    if backend == "postgres":
        from eventlake.warehouse.postgres import PostgresWarehouse

        return PostgresWarehouse(config, read_timeout=config.read_timeout)
    if backend == "spark":
        from eventlake.warehouse.spark import SparkWarehouse

        return SparkWarehouse(config, read_timeout=config.read_timeout)
    raise ConfigError(
        f"unknown warehouse.backend {backend!r} (expected 'duckdb', 'postgres' or 'spark')"
    )
