"""The pipeline verbs through click: build, run, backfill, status, query."""

from __future__ import annotations

import datetime as dt
import json
import re
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


@pytest.mark.parametrize(
    ("sql", "start"),
    [
        ("SELECT " + "+".join(["1"] * 5000), "error: query does not parse"),
        ("SELECT " + "+".join(["1"] * 999), "error: query failed"),  # the binder's limit
        ("PRAGMA database_list", "error: PRAGMA database_list refused"),
        ("SELECT path FROM duckdb_databases()", "error: table function duckdb_databases()"),
    ],
    ids=["nested-5000", "nested-999", "database_list", "duckdb_databases"],
)
def test_deep_or_path_revealing_queries_are_one_line(project, writer, sql: str, start: str):
    writer.commit(lakedata.game_events(D1, 1))
    invoke(project, "run", "--no-land")
    proc = subprocess.run(
        [sys.executable, "-m", "eventlake", "query", sql],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith(start), proc.stderr[:500]
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert str(project) not in proc.stderr and str(project) not in proc.stdout


def test_query_nested_400_deep_answers(project, writer):
    writer.commit(lakedata.game_events(D1, 1))
    invoke(project, "run", "--no-land")
    out = invoke(project, "query", "SELECT " + "+".join(["1"] * 401) + " AS n", "--csv")
    assert out.exit_code == 0, out.output
    assert out.output == "n\n401\n"


def test_show_tables_lists_every_schema(project, writer):
    writer.commit(lakedata.game_events(D1, 1))
    invoke(project, "run", "--no-land")
    rows = json.loads(invoke(project, "query", "show tables", "--json").output)
    assert {"schema": "metrics", "name": "events_daily", "type": "table"} in rows
    assert {"schema": "raw", "name": "events", "type": "table"} in rows
    assert all(r["schema"] != "main" or r["name"] for r in rows)


def test_query_json_prints_decimals_as_numbers_like_the_api(project, writer):
    from eventlake.serve.data import encode_json

    writer.commit(lakedata.game_events(D1, 1))
    invoke(project, "run", "--no-land")
    sql = (
        "SELECT 4.99::DECIMAL(10, 6) AS price, 12345678901234567890.5::DECIMAL(38, 2) AS big, "
        "DATE '2026-03-01' AS day, 'x' AS s, NULL AS nothing, 'NaN'::DOUBLE AS nan"
    )
    out = invoke(project, "query", sql, "--json")
    assert out.exit_code == 0, out.output
    assert '"price": 4.990000' in out.output and '"4.990000"' not in out.output
    rows = json.loads(out.output)
    assert rows == [
        {
            "price": 4.99,
            "big": 12345678901234567890.5,
            "day": "2026-03-01",
            "s": "x",
            "nothing": None,
            "nan": None,
        }
    ]
    api = invoke(project, "query", sql, "--json")
    assert json.loads(encode_json(rows)) == json.loads(api.output)


def test_run_calls_its_stages_in_order(project, writer, sql_builder):
    from eventlake.config import load_config
    from eventlake.pipeline import backfill, build, run

    settings = load_config(project / "eventlake.toml")
    writer.commit(lakedata.game_events(D1, 1))
    stages: list[str] = []
    run(settings, build_models=sql_builder, on_stage=stages.append)
    assert stages == ["land", "load", "build"]
    stages.clear()
    run(settings, build_models=sql_builder, on_stage=stages.append)
    assert stages == ["land", "load"], "nothing new: the build is skipped"
    stages.clear()
    build(settings, build_models=sql_builder, on_stage=stages.append)
    assert stages == ["load", "build"]
    stages.clear()
    backfill(settings, D1, D2, build_models=sql_builder, on_stage=stages.append)
    assert stages == ["load", "build", "load", "build"]


def test_stage_progress_draws_on_a_terminal_only():
    import io

    from rich.console import Console

    from eventlake.cli.progress import StageProgress

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    with StageProgress(console=console) as on_stage:
        for stage in ("land", "load", "build"):
            on_stage(stage)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    lines = [line.strip() for line in plain.splitlines() if line.strip().startswith("done")]
    assert [line.rsplit(" (", 1)[0] for line in lines] == [
        "done landing what waits on the bus",
        "done loading new lake files into the raw layer",
        "done building the models and running their tests (dbt)",
    ]
    piped = io.StringIO()
    with StageProgress(console=Console(file=piped, force_terminal=False)) as on_stage:
        on_stage("land")
    assert piped.getvalue() == ""
    with StageProgress(enabled=False, console=console) as on_stage:  # --json
        on_stage("land")


def test_run_on_a_terminal_shows_each_stage(project_dir: Path):
    """The real `eventlake run` (dbt included) under a pseudo-terminal: a line per stage."""
    import os
    import pty

    (project_dir / "eventlake.toml").write_text("", encoding="utf-8")
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "eventlake", "run"],
            cwd=project_dir,
            stdout=subprocess.PIPE,
            stderr=follower,
            env={**os.environ, "COLUMNS": "100"},
        )
        os.close(follower)
        screen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        out, _ = proc.communicate(timeout=300)
    finally:
        os.close(leader)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode("utf-8", "replace"))
    assert proc.returncode == 0, text[-2000:]
    for label in (
        "done landing what waits on the bus",
        "done loading new lake files into the raw layer",
        "done building the models and running their tests (dbt)",
    ):
        assert label in text, text[-2000:]
    assert out.decode().startswith("run ") and "ok" in out.decode()
