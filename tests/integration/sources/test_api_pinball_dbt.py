"""The pinball example end to end on DuckDB and PostgreSQL: API -> lake -> raw tables ->
`eventlake run` (the example's own seeds, models and data tests) -> metrics, checked against
an independent computation, and the same answers on both engines.

One pinball API serves both projects (deterministic data); each project is a copy of the
example (models, seeds, macros, dashboard) with its own lake and warehouse, and runs
exactly what a user runs: ``run_api_source`` (``eventlake sources api run pinball``), then
the pipeline's ``run`` (``eventlake run``), which builds the models after the source. The
summaries and the ranking are recomputed in ``pinball_truth.py`` from the raw tables and
the seed files, never from the model SQL.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator
from typing import Any

import eventlake_tests_support as support
import pytest

from eventlake import pipeline
from eventlake.config import Settings
from eventlake.sources.api import run_api_source

S = support.api_support()
T = support.load_helper(
    "eventlake_tests_pinball_truth",
    S.ROOT / "tests" / "integration" / "sources" / "pinball_truth.py",
)
pytestmark = pytest.mark.integration

ENGINES = ("duckdb", "postgres")
MODELS = (
    "marts.fct_players",
    "marts.fct_tournaments",
    "marts.fct_tournament_results",
    "marts.player_windows",
    "marts.player_careers",
    "metrics.geography_summary",
    "metrics.international_summary",
    "metrics.top_players_by_geography",
    "metrics.player_cohorts",
    "metrics.tournament_cohorts",
)


@pytest.fixture(scope="module")
def pinball(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[dict[str, Any]]:
    """Both projects extracted and built: {engine: (settings, run result)}, plus the API's
    truth."""
    out: dict[str, Any] = {}
    with S.running_api(players=300, tournaments=120) as (api, url):
        for engine in ENGINES:
            project = tmp_path_factory.mktemp(f"pinball-{engine}")
            warehouse = (
                {"path": "wh.duckdb"}
                if engine == "duckdb"
                else {"backend": "postgres", "url": support.new_postgres_database(postgres_url)}
            )
            settings = S.pinball_project(project, url, warehouse=warehouse)
            assert run_api_source(settings, "pinball").ok
            out[engine] = (settings, pipeline.run(settings, land=False))
        out["results"] = sum(len(v) for v in api.results.values())
        out["suppressed"] = sum(r["player_id"] is None for v in api.results.values() for r in v)
    yield out


def _query(settings: Settings) -> Any:
    return lambda sql: S.query(settings, sql)


@pytest.mark.parametrize("engine", ENGINES)
def test_eventlake_run_builds_the_pinball_project_after_its_source(
    pinball: dict[str, Any], engine: str
) -> None:
    settings, result = pinball[engine]
    assert result.ok and not result.skipped_build
    assert result.sources_changed == ("sources.pinball",)
    assert result.models_built >= len(MODELS) + 3  # and staging
    assert pinball["suppressed"] > 0  # the data has results without a player
    assert S.query(
        settings,
        "SELECT count(*), sum(CASE WHEN is_suppressed THEN 1 ELSE 0 END) "
        "FROM marts.fct_tournament_results",
    ) == [(pinball["results"], pinball["suppressed"])]
    # no event models in a project that tracks no events
    tables = {r[0] for r in S.query(settings, "SELECT table_name FROM information_schema.tables")}
    assert "stg_events" not in tables and "daily_active_users" not in tables
    # nothing new: the next run builds nothing
    again = pipeline.run(settings, land=False)
    assert again.ok and again.skipped_build and again.sources_changed == ()


def _truth(settings: Settings) -> Any:
    return T.Pinball.read(_query(settings), T.Geography.load(S.PINBALL / "seeds"))


def _months(truth: Any) -> list[int]:
    last = truth.last_month()
    return [last, last - 30]


@pytest.mark.parametrize("engine", ENGINES)
def test_geography_summary_matches_an_independent_count(
    pinball: dict[str, Any], engine: str
) -> None:
    settings, _ = pinball[engine]
    truth = _truth(settings)
    for month in _months(truth):
        day = T.month_start(month)
        got = {
            tuple(r[:4]): T.rounded(r[4:])
            for r in S.query(
                settings,
                "SELECT country, country_iso3, state, metro, players_48m, points_48m, "
                "tournaments_48m, entries_48m FROM metrics.geography_summary "
                f"WHERE month_start = DATE '{day}'",
            )
        }
        expected = {k: T.rounded(v) for k, v in truth.geography_summary(month).items()}
        assert got == expected, day
        assert any(k[3] is not None for k in got) and any(k[0] != "United States" for k in got)


@pytest.mark.parametrize("engine", ENGINES)
def test_international_summary_matches_an_independent_count(
    pinball: dict[str, Any], engine: str
) -> None:
    settings, _ = pinball[engine]
    truth = _truth(settings)
    for month in _months(truth):
        day = T.month_start(month)
        got = {
            r[0]: T.rounded(r[1:])
            for r in S.query(
                settings,
                "SELECT country, players_48m, points_48m, tournaments_48m, entries_48m, "
                f"country_rank FROM metrics.international_summary WHERE month_start = DATE '{day}'",
            )
        }
        expected = {k: T.rounded(v) for k, v in truth.international_summary(month).items()}
        assert got == expected and len(got) > 3, day


@pytest.mark.parametrize("engine", ENGINES)
def test_top_players_ranking_matches_an_independent_ranking(
    pinball: dict[str, Any], engine: str
) -> None:
    settings, _ = pinball[engine]
    truth = _truth(settings)
    columns = ("country", "state", "metro", "player", "events_48m", "points_48m",
               "rank_in_country", "rank_in_state", "rank_in_metro")  # fmt: skip
    for month in _months(truth):
        day = T.month_start(month)
        got = {
            int(r[0]): T.rounded(r[1:])
            for r in S.query(
                settings,
                f"SELECT player_id, {', '.join(columns)} FROM metrics.top_players_by_geography "
                f"WHERE month_start = DATE '{day}'",
            )
        }
        expected = {
            pid: T.rounded(row[c] for c in columns) for pid, row in truth.top_players(month).items()
        }
        assert got == expected, day
        # a metro's ranking: its players by points, 1 first
        chicago = sorted((v[8], -v[5]) for v in got.values() if v[2] and v[2].startswith("Chicago"))
        assert chicago and chicago[0][0] == 1 and chicago == sorted(chicago, key=lambda x: x[1])


@pytest.mark.parametrize("engine", ENGINES)
def test_cohorts_match_an_independent_count(pinball: dict[str, Any], engine: str) -> None:
    settings, _ = pinball[engine]
    truth = _truth(settings)
    years = dict(
        S.query(
            settings,
            "SELECT years_active, sum(players) FROM metrics.player_cohorts GROUP BY years_active",
        )
    )
    assert {int(k): int(v) for k, v in years.items()} == truth.players_by_years_active()
    formats = dict(
        S.query(
            settings, "SELECT format, sum(tournaments) FROM metrics.tournament_cohorts GROUP BY 1"
        )
    )
    assert {k: int(v) for k, v in formats.items()} == truth.tournaments_by_format(_query(settings))


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
