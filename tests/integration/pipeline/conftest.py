"""Fixtures of the pipeline tests: a project, its lake, and a small SQL model builder.

``sql_builder`` is a real model build (SQL on the warehouse working copy, with a data test)
with the same signature as ``eventlake.warehouse.dbt.build_models`` (it builds where the
DuckDB target's profile points: the transaction's working copy); it lets the
orchestration tests (late days, failures, backfill resume) run in a second instead of a dbt
build. The dbt project itself is exercised end to end in ``test_end_to_end.py``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import eventlake_tests_support as support
import pytest

from eventlake.config import Settings
from eventlake.errors import ModelBuildError
from eventlake.lake import Lake
from eventlake.warehouse.base import DbtTarget
from eventlake.warehouse.dbt import BuildResult
from eventlake.warehouse.dbt_project import DbtConfig

lakedata = support.lakedata()


@pytest.fixture
def writer(lake: Lake) -> Any:
    return lakedata.LakeWriter(lake)


@dataclass
class SqlBuilder:
    """``metrics.events_daily`` rebuilt for the changed days; fails on demand like a dbt test."""

    fail_on: dt.date | None = None
    calls: list[list[dt.date] | None] = field(default_factory=list)
    new_offsets: list[Any] = field(default_factory=list)

    def __call__(
        self,
        config: DbtConfig,
        target: DbtTarget,
        *,
        changed_days: list[dt.date] | None = None,
        full_refresh: bool = False,
        select: str | None = None,
        sources: Any = None,
        new_offsets: Any = None,
    ) -> BuildResult:
        self.calls.append(None if changed_days is None else list(changed_days))
        self.new_offsets.append(new_offsets)
        db_path = Path(target.profile_output()["path"])
        conn = duckdb.connect(str(db_path))
        try:
            conn.execute("CREATE SCHEMA IF NOT EXISTS metrics")
            conn.execute("CREATE SCHEMA IF NOT EXISTS staging")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS metrics.events_daily "
                "(day DATE, events BIGINT, users BIGINT, build_seq BIGINT)"
            )
            seq = conn.execute("SELECT coalesce(max(build_seq), 0) + 1 FROM metrics.events_daily")
            build_seq = seq.fetchall()[0][0]
            if changed_days is None:
                conn.execute("DELETE FROM metrics.events_daily")
                where, params = "", []
            else:
                where, params = "WHERE event_date IN (SELECT unnest(?::DATE[]))", [changed_days]
                conn.execute(
                    "DELETE FROM metrics.events_daily WHERE day IN (SELECT unnest(?::DATE[]))",
                    [changed_days],
                )
            conn.execute(
                f"INSERT INTO metrics.events_daily SELECT event_date, count(DISTINCT message_id), "
                f"count(DISTINCT user_id), {build_seq} FROM raw.events {where} GROUP BY 1",
                params,
            )
            conn.execute(
                "CREATE OR REPLACE TABLE staging.stg_events AS "
                "SELECT DISTINCT ON (message_id) * FROM raw.events ORDER BY message_id"
            )
            if self.fail_on is not None and (changed_days is None or self.fail_on in changed_days):
                raise ModelBuildError(
                    f"events_daily: test not_failing_day failed for {self.fail_on}"
                )
        finally:
            conn.close()
        return BuildResult(models_built=["events_daily"], tests_passed=1)


@pytest.fixture
def sql_builder() -> SqlBuilder:
    return SqlBuilder()


def read(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the published warehouse."""
    with duckdb.connect(str(settings.resolve(settings.warehouse.path)), read_only=True) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def read_wh(settings: Settings) -> Any:
    return lambda sql: read(settings, sql)
