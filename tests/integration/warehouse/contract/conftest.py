"""Warehouse engines under test: every contract test runs once per entry of BACKENDS.

Adding an engine is one line in BACKENDS: its name -> a function that returns Settings of a
fresh project whose warehouse is an empty one of that engine (it may start a server for the
test). PostgreSQL gets a new database in the session's throwaway cluster; Spark shares the
process's one session and metastore (``spark_dir``), emptied first, and is marked slow.

Every project has a lake folder and two user models (``probe_daily``, ``probe_total``) in
its models folder, built with ``select`` so a test pays for two models, not the project.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import eventlake_tests_support as support
import pytest

from eventlake.config import Settings

lakedata = support.lakedata()

#: A day's events and how many are the poison event that fails probe_daily's data test.
PROBE_DAILY = """
{{ config(materialized='table', schema='probe') }}
select
    event_date,
    count(*) as events,
    sum(case when event = 'Poison' then 1 else 0 end) as poison
from {{ source('raw', 'events') }}
group by event_date
"""
PROBE_TOTAL = """
{{ config(materialized='table', schema='probe') }}
select sum(events) as events, count(*) as days from {{ ref('probe_daily') }}
"""
PROBE_YAML = """
version: 2
models:
  - name: probe_daily
    description: Events per day (contract-test model).
    columns:
      - name: poison
        description: Poison events of the day; the test fails when there is one.
        data_tests:
          - accepted_values:
              arguments:
                values: [0]
                quote: false
  - name: probe_total
    description: Downstream of probe_daily (kept when its test fails).
"""
#: The selection that builds the probe models and runs their test.
PROBE_SELECT = ["probe_daily", "probe_total"]


def _project(tmp_path: Path, **warehouse: object) -> Settings:
    models = tmp_path / "models"
    models.mkdir(parents=True, exist_ok=True)
    (models / "probe_daily.sql").write_text(PROBE_DAILY, encoding="utf-8")
    (models / "probe_total.sql").write_text(PROBE_TOTAL, encoding="utf-8")
    (models / "probe.yml").write_text(PROBE_YAML, encoding="utf-8")
    return Settings(
        base_dir=tmp_path,
        lake={"path": str(tmp_path / "lake")},
        warehouse={"threads": 1, **warehouse},
        models={"user_models_dir": str(models)},
    )


def _duckdb(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    return _project(tmp_path, backend="duckdb")


def _postgres(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    import psycopg

    url: str = request.getfixturevalue("postgres_url")  # tests/integration/conftest.py
    name = f"wh_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return _project(tmp_path, backend="postgres", url=url.rsplit("/", 1)[0] + "/" + name)


def _spark(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    spark_dir: Path = request.getfixturevalue("spark_dir")  # one per test process
    settings = _project(
        tmp_path, backend="spark", spark_master="local[2]", spark_dir=str(spark_dir)
    )
    support.reset_spark(settings)
    return settings


BACKENDS: dict[str, Callable[[Path, pytest.FixtureRequest], Settings]] = {
    "duckdb": _duckdb,
    "postgres": _postgres,
    "spark": _spark,
}
#: Marks per engine (Spark: a JVM and dbt-spark builds, tens of seconds each).
MARKS = {"spark": [pytest.mark.slow]}


@pytest.fixture(params=[pytest.param(name, marks=MARKS.get(name, [])) for name in BACKENDS])
def wh_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings of a project with an empty warehouse of each engine in turn."""
    return BACKENDS[request.param](tmp_path, request)
