"""`eventlake sources api run|status` through click's runner and as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import eventlake_tests_support as support
import pytest
from click.testing import CliRunner

from eventlake.cli import cli

S = support.api_support()
pytestmark = pytest.mark.integration


def test_run_and_status_print_json(project_dir: Path) -> None:
    with S.running_api(players=50, tournaments=4) as (_api, url):
        S.make_settings(project_dir, S.pinball_definition(url))
        toml = str(project_dir / "eventlake.toml")
        runner = CliRunner()
        run = runner.invoke(cli, ["-c", toml, "sources", "api", "run", "pinball", "--json"])
        assert run.exit_code == 0, run.output
        status = runner.invoke(cli, ["-c", toml, "sources", "api", "status", "pinball", "--json"])
        table = runner.invoke(cli, ["-c", toml, "sources", "api", "status", "pinball"])
        only = runner.invoke(
            cli, ["-c", toml, "sources", "api", "run", "pinball", "--resource", "results", "--json"]
        )
    # a resource runs with its parent/child group, and nothing else
    assert [r["name"] for r in json.loads(only.output)["resources"]] == ["tournaments", "results"]
    result = json.loads(run.output)
    assert result["ok"] and result["loaded"]["pinball__players"] == 50
    assert [r["name"] for r in result["resources"]] == ["players", "tournaments", "results"]
    state = json.loads(status.output)
    assert {r["name"]: r["lake_rows"] for r in state["resources"]}["players"] == 50
    assert table.exit_code == 0 and "players" in table.output


def test_a_failed_run_exits_1_with_one_line(project_dir: Path) -> None:
    fail = [{"path": "/offset/tournaments", "status": 403}]
    with S.running_api(players=20, tournaments=2, fail=fail) as (_api, url):
        S.make_settings(project_dir, S.pinball_definition(url))
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "from eventlake.cli import main; main()",
                "-c",
                str(project_dir / "eventlake.toml"),
                "sources",
                "api",
                "run",
                "pinball",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "HTTP 403" in errors[0] and "/offset/tournaments" in errors[0]
    assert "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["ok"] is False


def test_unknown_source_is_a_config_error(project_dir: Path) -> None:
    (project_dir / "eventlake.toml").write_text("")
    runner = CliRunner()
    res = runner.invoke(
        cli, ["-c", str(project_dir / "eventlake.toml"), "sources", "api", "status", "nope"]
    )
    assert res.exit_code != 0
    assert "no API source 'nope'" in str(res.exception)
