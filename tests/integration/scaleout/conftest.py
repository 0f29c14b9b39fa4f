"""Fixtures of the scale-out tests: one small lake, built into DuckDB, PostgreSQL and Spark.

The lake is written with ``tests/unit/warehouse/lakedata.py`` (the lander's commit layout):
five days of a small game, a late batch (events of day 1 committed with day 4's), a batch
re-sent (duplicate message ids) and quarantined events. Every engine builds the same dbt
project from it; :func:`metrics_rows` reads each metrics model back in a normalised form.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import eventlake_tests_support as support
import pytest

import eventlake
from eventlake.config import Settings
from eventlake.lake import open_lake

METRICS_DIR = Path(eventlake.__file__).parent / "models" / "models" / "metrics"
#: Every metrics model of the shipped project.
METRICS = sorted(p.stem for p in METRICS_DIR.glob("*.sql"))
DAY0 = dt.date(2026, 3, 2)


lakedata = support.lakedata()


def guild_joins(events: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """A ``Guild Joined`` event after every other user's level, on another host provider."""
    out = []
    for row in events:
        if (
            row["event"] == "Level Completed"
            and int(str(row["user_id"]).split("-")[1]) % 2 == n % 2
        ):
            guild = f"g{len(out) % 3}"
            props = {"guild_id": guild, "guild_name": f"Guild {guild}"}
            out.append(
                dict(
                    row,
                    message_id=f"guild-{row['message_id']}",
                    event="Guild Joined",
                    properties=json.dumps(props),
                    timestamp=row["timestamp"] + dt.timedelta(seconds=5),
                    host="comcast.net",
                )
            )
    return out


def small_lake_commits() -> list[tuple[list[dict[str, object]], list[dict[str, object]]]]:
    """The small game lake's seven commits: (events, quarantined rows) in commit order."""
    commits: list[tuple[list[dict[str, object]], list[dict[str, object]]]] = []
    for n in range(5):
        day = DAY0 + dt.timedelta(days=n)
        events = lakedata.game_events(day, 6 + n, first_user=n, purchase_price=1.25 + n)
        events += guild_joins(events, n)
        commits.append((events, lakedata.quarantine_rows(day, 2, tag=f"d{n}")))
    # late events: day 1 again (new users), received on day 4
    late = lakedata.game_events(
        DAY0 + dt.timedelta(days=1),
        3,
        tag="late-",
        first_user=20,
        received=DAY0 + dt.timedelta(days=4),
    )
    commits.append((late, []))
    # a re-sent batch: the same message ids as day 2's commit
    resent = lakedata.game_events(DAY0 + dt.timedelta(days=2), 4, first_user=2, purchase_price=3.25)
    commits.append((resent, []))
    return commits


def write_small_lake(root: Path) -> None:
    """Commit the small game lake at ``root``."""
    writer = lakedata.LakeWriter(open_lake(str(root)))
    for events, quarantine in small_lake_commits():
        writer.commit(events, quarantine or None)


@pytest.fixture(scope="session")
def small_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scaleout-lake")
    write_small_lake(root)
    return root


def project_settings(project: Path, lake: Path, **warehouse: Any) -> Settings:
    """Settings of a throwaway project on ``lake`` with the default tracking plan."""
    settings: Settings = support.project_settings(project, lake, **warehouse)
    return settings


def _norm(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float | decimal.Decimal):
        return round(float(value), 6)
    return str(value)


def normalise(columns: list[str], rows: list[tuple[Any, ...]]) -> tuple[list[str], list[Any]]:
    """Lower-case column names, comparable values, rows sorted."""
    out = [tuple(_norm(v) for v in r) for r in rows]
    return [c.lower() for c in columns], sorted(out, key=repr)


def duckdb_metrics(db: Path) -> dict[str, tuple[list[str], list[Any]]]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        out = {}
        for name in METRICS:
            cur = con.execute(f"SELECT * FROM metrics.{name}")
            cols = [d[0] for d in cur.description]
            out[name] = normalise(cols, cur.fetchall())
        return out
    finally:
        con.close()


def postgres_metrics(url: str) -> dict[str, tuple[list[str], list[Any]]]:
    import psycopg

    out = {}
    with psycopg.connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        for name in METRICS:
            cur = conn.execute(f"SELECT * FROM metrics.{name}")
            cols = [d.name for d in cur.description or []]
            out[name] = normalise(cols, cur.fetchall())
    return out


def assert_same_metrics(
    expected: dict[str, tuple[list[str], list[Any]]],
    got: dict[str, tuple[list[str], list[Any]]],
    engine: str,
) -> None:
    assert set(got) == set(expected) == set(METRICS)
    for name in METRICS:
        cols_e, rows_e = expected[name]
        cols_g, rows_g = got[name]
        assert cols_g == cols_e, f"{engine}: metrics.{name} columns differ"
        assert rows_e, f"metrics.{name} is empty on DuckDB: the lake does not exercise it"
        assert rows_g == rows_e, f"{engine}: metrics.{name} rows differ"


@pytest.fixture(scope="session")
def duckdb_project(small_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The settings of the default DuckDB warehouse built from the small lake."""
    from eventlake.pipeline.run import load_and_build

    settings = project_settings(tmp_path_factory.mktemp("duck-project"), small_lake)
    load_and_build(settings)
    return settings


@pytest.fixture(scope="session")
def duckdb_expected(duckdb_project: Settings) -> dict[str, tuple[list[str], list[Any]]]:
    """The metrics rows of the default DuckDB warehouse built from the small lake."""
    return duckdb_metrics(duckdb_project.resolve(duckdb_project.warehouse.path))


MetricsReader = Callable[[Any], dict[str, tuple[list[str], list[Any]]]]


@pytest.fixture(scope="session")
def so() -> SimpleNamespace:
    """This conftest's helpers (tests are imported by path, not as a package)."""
    return SimpleNamespace(
        project_settings=project_settings,
        small_lake_commits=small_lake_commits,
        open_lake=open_lake,
        postgres_metrics=postgres_metrics,
        duckdb_metrics=duckdb_metrics,
        assert_same_metrics=assert_same_metrics,
        normalise=normalise,
        lakedata=lakedata,
        METRICS=METRICS,
        DAY0=DAY0,
    )
