"""The process-wide SparkSession of the Spark warehouse; private to ``spark.py``.

One session per process, created with the settings' master URL and kept for later loads
and builds: dbt-spark's ``session`` method calls ``SparkSession.builder.getOrCreate()``,
which returns this session, so the raw load and the dbt build share one catalog.

Safe defaults for local mode: the driver binds 127.0.0.1, the web UI is off, the Derby
metastore (``metastore_db/``) and the table files (``spark-warehouse/``) live under
``warehouse.spark_dir`` instead of the working directory, few shuffle partitions, UTC
session time zone (days of timestamps must not depend on the machine), ANSI mode off (as
dbt-spark sets it), dynamic partition overwrite (the raw layer and the incremental models
replace the day partitions they write and no other). ``warehouse.spark_conf`` adds or
overrides any Spark setting but that last one.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from eventlake.config import WarehouseConfig
from eventlake.errors import ConfigError, WarehouseError

__all__ = ["spark_conf", "spark_session", "stop_spark_session"]

_LOCK = threading.Lock()
_SESSION: list[Any] = []


def spark_conf(config: WarehouseConfig) -> dict[str, str]:
    """Every Spark setting eventlake starts its session with (also the dbt profile's).

    ``config.spark_dir`` is absolute (``open_warehouse`` resolves it).
    """
    base = Path(config.spark_dir)
    metastore = base / "metastore_db"
    conf = {
        "spark.master": config.spark_master,
        "spark.app.name": "eventlake",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",
        "spark.sql.warehouse.dir": str(base / "spark-warehouse"),
        "spark.sql.catalogImplementation": "hive",
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={metastore};create=true"
        ),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={base}",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.legacy.createHiveTableByDefault": "false",
        # Python workers run this interpreter (with eventlake's packages), not the PATH's.
        "spark.pyspark.python": sys.executable,
    }
    conf.update({str(k): str(v) for k, v in config.spark_conf.items()})
    mode = conf["spark.sql.sources.partitionOverwriteMode"]
    if mode.lower() != "dynamic":
        raise ConfigError(
            f"warehouse.spark_conf sets spark.sql.sources.partitionOverwriteMode = {mode!r}: "
            "eventlake replaces single day partitions of the raw and model tables, which a "
            "static overwrite would empty of every other day; remove that setting"
        )
    return conf


def spark_session(config: WarehouseConfig) -> Any:
    """The process's SparkSession, started from ``config`` on first use.

    Raises:
        WarehouseError: pyspark is missing or the session cannot start (no Java...).
    """
    with _LOCK:
        if _SESSION:
            return _SESSION[0]
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise WarehouseError(
                "warehouse.backend = 'spark' needs pyspark: pip install 'eventlake[spark]'"
            ) from exc
        conf = spark_conf(config)
        Path(config.spark_dir).mkdir(parents=True, exist_ok=True)
        builder = SparkSession.builder.enableHiveSupport()
        for key, value in conf.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # py4j / JVM start-up errors have no common base class
            raise WarehouseError(f"cannot start Spark ({conf['spark.master']}): {exc}") from exc
        session.sparkContext.setLogLevel("ERROR")
        _SESSION.append(session)
        return session


def stop_spark_session() -> None:
    """Stop the process's session (tests; a long-lived process keeps it)."""
    with _LOCK:
        while _SESSION:
            _SESSION.pop().stop()
