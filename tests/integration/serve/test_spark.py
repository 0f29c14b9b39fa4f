"""The data API on a Spark warehouse (DuckDB over the Parquet tables Spark wrote), answer for
answer against DuckDB on the same data.

The sample warehouse's ``metrics.*`` tables are written as Spark Parquet tables by the
process's SparkSession and published (``published.json``), as a Spark build does; the
server reads them with no Spark session of its own.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import eventlake_tests_support as support
import httpx
import pytest

from eventlake.warehouse.factory import resolved_config
from eventlake.warehouse.sample import copy_sample_to_spark

serving = sys.modules["eventlake_tests_serving"]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def both(sample_project: Path, spark_dir: Path) -> Iterator[tuple[str, str]]:
    """(DuckDB server URL, Spark server URL) over the same sample data."""
    duck = serving.make_settings(sample_project, cache_entries=0)
    spark = serving.make_settings(
        sample_project,
        warehouse={"backend": "spark", "spark_master": "local[2]", "spark_dir": str(spark_dir)},
        cache_entries=0,
    )
    support.reset_spark(spark)
    copy_sample_to_spark(
        duck.resolve(duck.warehouse.path), resolved_config(spark.warehouse, spark.base_dir)
    )
    with serving.serving(duck) as duck_url, serving.serving(spark) as spark_url:
        yield duck_url, spark_url


@pytest.mark.parametrize(
    ("path", "items"), serving.ENGINE_REQUESTS, ids=[f"{p}?{i}" for p, i in serving.ENGINE_REQUESTS]
)
def test_every_answer_equals_duckdbs(
    both: tuple[str, str], path: str, items: list[tuple[str, str]]
) -> None:
    duck_url, spark_url = both
    duck = httpx.get(duck_url + path, params=items, timeout=30)
    spark = httpx.get(spark_url + path, params=items, timeout=30)
    assert duck.status_code == spark.status_code == 200, (duck.text[:300], spark.text[:300])
    assert serving.same_answer(duck, spark), (duck.text[:500], spark.text[:500])


def test_catalog_and_health(both: tuple[str, str]) -> None:
    duck_url, spark_url = both
    assert (
        httpx.get(f"{spark_url}/api/metrics").json() == httpx.get(f"{duck_url}/api/metrics").json()
    )
    assert httpx.get(f"{spark_url}/healthz").json()["warehouse"] is True
