"""The pipeline verbs through click: build, run, backfill, status, query."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import eventlake_tests_lakedata as lakedata  # loaded by conftest.py
import pytest
from click.testing import CliRunner

from eventlake.cli import cli
from eventlake.errors import QueryRefusedError

pytestmark = pytest.mark.integration

D1, D2, D3 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)


@pytest.fixture
def project(project_dir: Path, monkeypatch: pytest.MonkeyPatch, sql_builder) -> Path:
    """A project whose model build is the small SQL builder (dbt runs in test_end_to_end)."""
    import eventlake.warehouse.dbt as dbt

    monkeypatch.setattr(dbt, "build_models", sql_builder)
    (project_dir / "eventlake.toml").write_text("", encoding="utf-8")
    return project_dir


def invoke(project: Path, *args: str):
    return CliRunner().invoke(cli, ["-c", str(project / "eventlake.toml"), *args])


def test_run_prints_the_days_it_rebuilt(project, writer, sql_builder):
    writer.commit(lakedata.game_events(D1, 2) + lakedata.game_events(D2, 2))
    text = invoke(project, "run", "--no-land")
    assert text.exit_code == 0, text.output
    assert "days rebuilt: 2026-03-01, 2026-03-02" in text.output
    writer.commit(lakedata.game_events(D1, 1, tag="late-", received=D2))
    as_json = invoke(project, "run", "--no-land", "--json")
    data = json.loads(as_json.output)
    assert data["ok"] and data["changed_days"] == ["2026-03-01"]
    assert sql_builder.calls == [None, [D1]]


def test_run_rejects_a_bad_date(project):
    result = invoke(project, "run", "--date", "yesterday")
    assert result.exit_code == 2
    assert "not a date" in result.output


def test_build_full_refresh(project, writer, sql_builder):
    writer.commit(lakedata.game_events(D1, 2))
    invoke(project, "run", "--no-land")
    result = invoke(project, "build", "--full-refresh", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["full_refresh"] is True
    assert sql_builder.calls[-1] is None


def test_backfill_shows_progress_fails_then_resumes(project, writer, sql_builder):
    for day in (D1, D2, D3):
        writer.commit(lakedata.game_events(day, 1))
    invoke(project, "run", "--no-land")
    sql_builder.fail_on = D2
    failed = invoke(project, "backfill", "--start", "2026-03-01", "--end", "2026-03-03")
    assert failed.exit_code == 1
    message = str(failed.exception)
    assert "1 days done; FAILED on 2026-03-02: events_daily: test not_failing_day" in message
    assert "re-run to resume" in message
    sql_builder.fail_on = None
    resumed = invoke(project, "backfill", "--start", "2026-03-01", "--end", "2026-03-03")
    assert resumed.exit_code == 0, resumed.output
    assert "2 days done, 1 already done before (resumed)" in resumed.output
    assert "3/3" in resumed.output  # the progress bar reached the end


def test_status_text_and_json(project, writer):
    writer.commit(lakedata.game_events(D1, 2), lakedata.quarantine_rows(D1, 3))
    invoke(project, "run", "--no-land")
    text = invoke(project, "status")
    assert text.exit_code == 0, text.output
    assert "reconciliation" in text.output
    assert "ok landed 9 = modeled 9 + duplicates 0 + not yet loaded 0" in text.output
    assert "last run:" in text.output
    data = json.loads(invoke(project, "status", "--json").output)
    assert (data["landed"], data["quarantined"], data["modeled"]) == (9, 3, 9)
    assert data["received"] is None and data["notes"]


def test_query_outputs_table_csv_and_json(project, writer):
    writer.commit(lakedata.game_events(D1, 2))
    invoke(project, "run", "--no-land")
    sql = "SELECT day, events FROM metrics.events_daily"
    table = invoke(project, "query", sql)
    assert table.exit_code == 0, table.output
    assert table.output.splitlines()[0].split() == ["day", "events"]
    assert "(1 row)" in table.output
    assert invoke(project, "query", sql, "--csv").output == "day,events\n2026-03-01,9\n"
    assert json.loads(invoke(project, "query", sql, "--json").output) == [
        {"day": "2026-03-01", "events": 9}
    ]
    refused = invoke(project, "query", "DROP TABLE metrics.events_daily")
    assert refused.exit_code == 1 and isinstance(refused.exception, QueryRefusedError)
    assert invoke(project, "query", "SELECT count(*) FROM metrics.events_daily").exit_code == 0


def test_refused_query_is_one_line_on_stderr(project_dir: Path):
    (project_dir / "eventlake.toml").write_text("", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "eventlake", "query", "SELECT * FROM read_csv('/etc/passwd')"],
        cwd=project_dir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: table function read_csv() (reads files")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
