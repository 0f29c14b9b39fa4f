"""The same lake and dbt project built on Spark (local mode) give the same metrics as DuckDB.

Slow (a JVM, a Derby metastore and a dbt build on Spark): one build for the whole module, in
the test process's one Spark session and catalog (the ``spark_dir`` fixture).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import eventlake_tests_support as support
import pytest

from eventlake.pipeline.run import load_and_build

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def settings_config(settings: Any) -> Any:
    """The resolved warehouse section (what the Spark engine starts its session from)."""
    from eventlake.warehouse.factory import resolved_config

    return resolved_config(settings.warehouse, settings.base_dir)


@pytest.fixture(scope="module")
def spark_build(
    small_lake: Path,
    tmp_path_factory: pytest.TempPathFactory,
    so: SimpleNamespace,
    spark_dir: Path,
) -> tuple[Any, Any, Path, Any]:
    """One build of the small lake in the process's shared Spark catalog (emptied first;
    ``spark_dir``, tests/integration/conftest.py, stops the session at the end)."""
    from eventlake.warehouse.spark import spark_session

    project = tmp_path_factory.mktemp("spark-project")
    settings = so.project_settings(
        project, small_lake, backend="spark", spark_master="local[2]", spark_dir=str(spark_dir)
    )
    support.reset_spark(settings)
    counts = load_and_build(settings)
    return spark_session(settings_config(settings)), counts, spark_dir, settings


def _spark_metrics(spark: Any, so: SimpleNamespace, expected: dict[str, Any]) -> dict[str, Any]:
    """The metrics rows, columns in DuckDB's order (Spark stores a partition column last)."""
    out = {}
    for name in so.METRICS:
        table = spark.sql(f"SELECT * FROM metrics.{name}").toArrow()
        columns, _ = expected[name]
        if sorted(c.lower() for c in table.column_names) == sorted(columns):
            table = table.select(columns)
        rows = [tuple(r.values()) for r in table.to_pylist()]
        out[name] = so.normalise(table.column_names, rows)
    return out


def test_spark_metrics_equal_duckdb(
    spark_build: tuple[Any, Any, Path, Any],
    duckdb_expected: dict[str, Any],
    so: SimpleNamespace,
) -> None:
    spark, counts, _project, _settings = spark_build
    assert counts.commits_loaded == 7 and counts.models_built > 0
    got = _spark_metrics(spark, so, duckdb_expected)
    so.assert_same_metrics(duckdb_expected, got, "spark")


def test_spark_raw_layer_and_local_state(
    spark_build: tuple[Any, Any, Path, Any], so: SimpleNamespace
) -> None:
    spark, counts, spark_dir, settings = spark_build
    raw_rows = spark.sql("SELECT count(*) FROM raw.events").collect()[0][0]
    assert raw_rows == counts.raw_rows > 0
    assert spark.sql("SELECT count(*) FROM raw.quarantine").collect()[0][0] == 10
    loaded = spark.sql("SELECT count(*) FROM raw._loaded_commits").collect()[0][0]
    assert loaded == 7
    # the metastore and the table files live in warehouse.spark_dir, not the working directory
    assert (spark_dir / "metastore_db").is_dir()
    assert (spark_dir / "spark-warehouse").is_dir()
    assert not Path("metastore_db").exists() and not Path("spark-warehouse").exists()
    from eventlake.pipeline.status import collect_status

    report = collect_status(settings)
    assert report.loaded == raw_rows and report.not_yet_loaded == 0
    assert report.modeled is not None and report.modeled > 0
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.driver.host") == "127.0.0.1"
    assert conf.get("spark.ui.enabled") == "false"


def test_spark_raw_reload_is_idempotent(
    spark_build: tuple[Any, Any, Path, Any], small_lake: Path, so: SimpleNamespace
) -> None:
    """A second load loads nothing; replacing a day's partition keeps exactly its rows."""
    from eventlake.lake import open_lake
    from eventlake.warehouse import open_warehouse

    spark, _counts, _project, settings = spark_build
    day = so.DAY0 + dt.timedelta(days=1)  # the day with late events
    before = spark.sql("SELECT event_date, count(*) FROM raw.events GROUP BY 1").collect()
    with open_warehouse(settings).transaction() as tx:
        result = tx.load_raw(open_lake(str(small_lake)), reload_days=[day])
    assert result.commits_loaded == 0 and result.event_days == (day,)
    after = spark.sql("SELECT event_date, count(*) FROM raw.events GROUP BY 1").collect()
    assert sorted(map(tuple, after)) == sorted(map(tuple, before))
    seqs = spark.sql(
        f"SELECT max(load_seq) FROM raw._day_loads WHERE day = DATE '{day.isoformat()}'"
    ).collect()
    assert seqs[0][0] == 2  # the day was reloaded by the second load
