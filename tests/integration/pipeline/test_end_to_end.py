"""End to end with the real dbt project: late events rebuild their day only, equal a full build.

Lake (written like the lander does) -> `eventlake run` -> raw layer -> dbt build -> metrics,
through the CLI. Then a failing user test fails the run, names model and test, and leaves
the published warehouse served.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import eventlake_tests_lakedata as lakedata  # loaded by conftest.py
import pytest
from click.testing import CliRunner

from eventlake.cli import cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

D1, D2, D3 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)


def _invoke(project: Path, *args: str):
    result = CliRunner().invoke(cli, ["-c", str(project / "eventlake.toml"), *args])
    return result


def _metrics(db: Path) -> dict[str, list[tuple]]:
    """Every metrics table, rows sorted, floats rounded (sums may differ in the last bit)."""
    with duckdb.connect(str(db), read_only=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'metrics' ORDER BY 1"
            ).fetchall()
        ]
        out = {}
        for name in names:
            rows = conn.execute(f'SELECT * FROM metrics."{name}" ORDER BY ALL').fetchall()
            out[name] = [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows]
    return out


def _query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def project(project_dir: Path) -> Path:
    (project_dir / "eventlake.toml").write_text("[warehouse]\nthreads = 2\n", encoding="utf-8")
    return project_dir


def test_late_events_end_to_end_through_the_cli(project: Path, settings) -> None:
    writer = lakedata.LakeWriter(__import__("eventlake.lake").lake.open_lake(settings.lake_uri()))
    db = settings.resolve(settings.warehouse.path)
    # Each day its own players: the models' int_changed_days also rebuilds the later days of
    # a player seen on a changed day (their first-seen day might have moved), so disjoint
    # players make "day 1 and nothing else" the exact expectation.
    for i, day in enumerate((D1, D2, D3)):
        writer.commit(lakedata.game_events(day, 4, first_user=100 * i))
    first = _invoke(project, "run", "--no-land", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["changed_days"] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    before = _metrics(db)
    assert {"events_daily", "daily_active_users", "revenue_daily"} <= set(before)
    other_days = "SELECT * FROM marts.fct_events WHERE event_date > DATE '2026-03-01' ORDER BY ALL"
    other_days_rows = _query(db, other_days)

    # Late events: three more players on day 1 (one buys), arriving on day 3.
    writer.commit(
        lakedata.game_events(D1, 3, tag="late-", received=D3, purchase_price=10.0, first_user=6)
    )
    late = _invoke(project, "run", "--no-land", "--json")
    assert late.exit_code == 0, late.output
    result = json.loads(late.output)
    assert result["changed_days"] == ["2026-03-01"] and result["commits_loaded"] == 1
    # The days every incremental model deleted and re-inserted: day 1 only.
    assert _query(db, "SELECT day FROM staging.int_changed_days") == [(D1,)]
    assert _query(db, other_days) == other_days_rows
    after = _metrics(db)
    assert after["events_daily"] != before["events_daily"]
    assert after["revenue_daily"] != before["revenue_daily"]
    day1 = "SELECT sum(revenue) FROM metrics.revenue_daily WHERE activity_date = DATE '2026-03-01'"
    assert float(_query(db, day1)[0][0]) == pytest.approx(2 * 4.99 + 10.0)
    for name in ("events_daily", "revenue_daily"):
        later = [r for r in after[name] if r[0] != D1]
        assert later == [r for r in before[name] if r[0] != D1], name

    # The incremental result equals a full rebuild from scratch.
    shutil.copyfile(db, db.with_name("incremental.duckdb"))
    full = _invoke(project, "build", "--full-refresh", "--json")
    assert full.exit_code == 0, full.output
    assert _metrics(db) == _metrics(db.with_name("incremental.duckdb"))

    status = _invoke(project, "status", "--json")
    assert status.exit_code == 0, status.output
    report = json.loads(status.output)
    assert report["landed"] == report["modeled"] + report["duplicates"] == 18 + 17 + 17 + 13
    assert report["reconciliation"][1]["ok"] is True

    query = _invoke(project, "query", "SELECT count(*) AS n FROM marts.fct_events", "--csv")
    assert query.exit_code == 0 and query.output == "n\n65\n"


def test_failing_user_test_fails_the_run_and_keeps_the_warehouse(project: Path, settings) -> None:
    writer = lakedata.LakeWriter(__import__("eventlake.lake").lake.open_lake(settings.lake_uri()))
    db = settings.resolve(settings.warehouse.path)
    writer.commit(lakedata.game_events(D1, 2))
    assert _invoke(project, "run", "--no-land").exit_code == 0
    published = _metrics(db)

    models = project / "models"
    models.mkdir()
    (models / "purchases_checked.sql").write_text(
        "select purchase_id, price from {{ ref('fct_purchases') }}\n", encoding="utf-8"
    )
    (models / "purchases_checked.yml").write_text(
        "version: 2\nmodels:\n  - name: purchases_checked\n    columns:\n"
        "      - name: price\n        data_tests:\n"
        "          - accepted_values:\n              arguments:\n"
        "                values: [1]\n                quote: false\n",
        encoding="utf-8",
    )
    writer.commit(lakedata.game_events(D2, 2))
    failed = _invoke(project, "run", "--no-land")
    assert failed.exit_code == 1
    message = str(failed.exception)
    assert "purchases_checked" in message and "accepted_values" in message
    assert _metrics(db) == published
    assert _query(db, "SELECT DISTINCT event_date FROM raw.events") == [(D1,)]
