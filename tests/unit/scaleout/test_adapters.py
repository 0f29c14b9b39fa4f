"""dbt profiles and Spark settings of the engines, from eventlake settings (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from eventlake.config import Settings
from eventlake.errors import ConfigError
from eventlake.warehouse import open_warehouse
from eventlake.warehouse.postgres import PostgresTransaction, postgres_params
from eventlake.warehouse.spark import SparkDbtTarget, SparkWarehouse, spark_conf


def test_postgres_params_from_url() -> None:
    got = postgres_params("postgresql://ana:s%40cret@db.internal:6543/analytics")
    assert got == {
        "host": "db.internal",
        "port": 6543,
        "user": "ana",
        "password": "s@cret",
        "dbname": "analytics",
    }


def test_postgres_password_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "from-env")
    got = postgres_params("postgresql://ana@127.0.0.1/db")
    assert got["password"] == "from-env" and got["port"] == 5432


@pytest.mark.parametrize("url", [None, "", "mysql://x@y/z"])
def test_postgres_bad_url_is_a_config_error(url: str | None) -> None:
    with pytest.raises(ConfigError, match="warehouse.url"):
        postgres_params(url)


def test_postgres_profile_output(tmp_path: Path) -> None:
    settings = Settings(
        base_dir=tmp_path,
        warehouse={"backend": "postgres", "url": "postgresql://u@h:1/d", "threads": 3},
    )
    warehouse = open_warehouse(settings)  # connects to nothing
    assert warehouse.engine == "postgres"
    with_target = PostgresTransaction(None, "postgresql://u@h:1/d", settings.warehouse.threads)
    out = with_target.dbt_target().profile_output()
    assert out["type"] == "postgres" and out["threads"] == 3 and out["schema"] == "public"
    assert (out["host"], out["port"], out["dbname"]) == ("h", 1, "d")
    yaml.safe_dump(out)  # serialisable as a profile


def test_spark_conf_keeps_state_in_the_project_and_binds_loopback(tmp_path: Path) -> None:
    settings = Settings(
        base_dir=tmp_path,
        warehouse={
            "backend": "spark",
            "spark_master": "local[1]",
            "spark_conf": {"spark.sql.shuffle.partitions": "8", "spark.executor.memory": "2g"},
        },
    )
    warehouse = open_warehouse(settings)  # starts no session
    assert isinstance(warehouse, SparkWarehouse)
    conf = spark_conf(warehouse.config)
    spark_dir = tmp_path / "data" / "spark"
    assert conf["spark.master"] == "local[1]"
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.sql.warehouse.dir"] == str(spark_dir / "spark-warehouse")
    assert str(spark_dir / "metastore_db") in conf["spark.hadoop.javax.jdo.option.ConnectionURL"]
    assert conf["spark.sql.session.timeZone"] == "UTC"
    # user settings win
    assert conf["spark.sql.shuffle.partitions"] == "8"
    assert conf["spark.executor.memory"] == "2g"
    out = SparkDbtTarget(warehouse.config).profile_output()
    assert out["method"] == "session" and out["server_side_parameters"] == conf


def test_spark_conf_keeps_dynamic_partition_overwrite(tmp_path: Path) -> None:
    """Day replacement relies on it: a static overwrite would empty every other day."""
    settings = Settings(base_dir=tmp_path, warehouse={"backend": "spark"})
    conf = spark_conf(open_warehouse(settings).config)
    assert conf["spark.sql.sources.partitionOverwriteMode"] == "dynamic"
    settings = Settings(
        base_dir=tmp_path,
        warehouse={
            "backend": "spark",
            "spark_conf": {"spark.sql.sources.partitionOverwriteMode": "STATIC"},
        },
    )
    with pytest.raises(ConfigError, match="partitionOverwriteMode = 'STATIC'"):
        spark_conf(open_warehouse(settings).config)
