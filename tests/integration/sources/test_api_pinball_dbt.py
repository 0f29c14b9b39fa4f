"""The pinball example end to end on DuckDB and PostgreSQL: API -> lake -> raw tables -> dbt
models and data tests, and the same answers on both engines.

One pinball API serves both projects (deterministic data); each project has its own lake
and warehouse, extracts with ``run_api_source`` and builds ``examples/pinball/dbt`` with
``examples/pinball/build_models.py``. The independent checks count from the API's own
records, not from the models.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator
from typing import Any

import eventlake_tests_support as support
import pytest

from eventlake.config import Settings
from eventlake.sources.api import run_api_source

S = support.api_support()
BUILD = support.load_helper("pinball_build_models", S.PINBALL / "build_models.py")
pytestmark = pytest.mark.integration

ENGINES = ("duckdb", "postgres")
MODELS = (
    "marts.fct_players",
    "marts.fct_tournaments",
    "marts.fct_tournament_results",
    "metrics.metrics_geography_summary",
)


@pytest.fixture(scope="module")
def pinball(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[dict[str, Any]]:
    """Both projects extracted and built: {engine: (settings, nodes)}, plus the API's truth."""
    out: dict[str, Any] = {}
    with S.running_api(players=300, tournaments=60) as (api, url):
        for engine in ENGINES:
            project = tmp_path_factory.mktemp(f"pinball-{engine}")
            warehouse = (
                {"path": "wh.duckdb"}
                if engine == "duckdb"
                else {"backend": "postgres", "url": support.new_postgres_database(postgres_url)}
            )
            settings = S.make_settings(project, S.pinball_definition(url), warehouse=warehouse)
            assert run_api_source(settings, "pinball").ok
            out[engine] = (settings, BUILD.build(settings, work_dir=project / "dbt"))
        out["results"] = sum(len(v) for v in api.results.values())
        out["suppressed"] = sum(r["player_id"] is None for v in api.results.values() for r in v)
    yield out


@pytest.mark.parametrize("engine", ENGINES)
def test_pinball_project_builds_and_its_data_tests_pass(
    pinball: dict[str, Any], engine: str
) -> None:
    settings, nodes = pinball[engine]
    assert {m.split(".")[1] for m in MODELS} <= set(nodes)
    assert any(n.startswith("unique_fct_tournament_results_result_key") for n in nodes)
    assert pinball["suppressed"] > 0  # the data has results without a player
    assert S.query(
        settings,
        "SELECT count(*), count(*) FILTER (WHERE is_suppressed) FROM marts.fct_tournament_results",
    ) == [(pinball["results"], pinball["suppressed"])]
    # the rolling window: a month's 48-month figure counts every tournament of the 48 months
    last = S.query(settings, "SELECT max(month_start) FROM metrics.metrics_geography_summary")[0][0]
    expected = S.query(
        settings,
        "SELECT region, count(*) FROM marts.fct_tournaments "
        f"WHERE event_month > DATE '{last}' - INTERVAL '48 months' GROUP BY region",
    )
    got = dict(
        S.query(
            settings,
            "SELECT region, tournaments_48m FROM metrics.metrics_geography_summary "
            f"WHERE month_start = DATE '{last}'",
        )
    )
    assert expected and all(got[region] == n for region, n in expected)


def _normal(value: Any) -> Any:
    """One spelling per value across engines: dates as dates, numbers as rounded floats."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, decimal.Decimal | float):
        return round(float(value), 6)
    if isinstance(value, bool) or value is None or isinstance(value, int | str | dt.date):
        return value
    return str(value)


def _rows(settings: Settings, relation: str) -> list[tuple[Any, ...]]:
    rows = [tuple(_normal(v) for v in r) for r in S.query(settings, f"SELECT * FROM {relation}")]
    return sorted(rows, key=repr)


@pytest.mark.parametrize("relation", MODELS)
def test_pinball_answers_are_the_same_on_duckdb_and_postgres(
    pinball: dict[str, Any], relation: str
) -> None:
    duck, pg = (pinball[e][0] for e in ENGINES)
    expected = _rows(duck, relation)
    assert expected  # a model with rows, not two empty tables
    assert _rows(pg, relation) == expected


def _columns(settings: Settings, relation: str) -> list[str]:
    from eventlake.warehouse import open_warehouse

    reader = open_warehouse(settings).reader()
    try:
        return reader.execute(f"SELECT * FROM {relation}", limit=0).columns
    finally:
        reader.close()


@pytest.mark.parametrize("table", ["pinball__players", "pinball__tournaments", "pinball__results"])
def test_pinball_raw_tables_are_the_same_on_duckdb_and_postgres(
    pinball: dict[str, Any], table: str
) -> None:
    """One row per key on both, the same values (less each run's own commit id and time)."""
    duck, pg = (pinball[e][0] for e in ENGINES)
    columns = _columns(duck, f"raw.{table}")
    assert sorted(_columns(pg, f"raw.{table}")) == sorted(columns)
    own = {"_eventlake_commit_id", "_eventlake_extracted_at"}
    listed = ", ".join(f'"{c}"' for c in columns if c not in own)
    expected = _rows(duck, f"(SELECT {listed} FROM raw.{table}) AS t")
    assert len(expected) == len(set(expected))
    assert _rows(pg, f"(SELECT {listed} FROM raw.{table}) AS t") == expected
